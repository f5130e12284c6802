"""`rehearse safety`: screen JSON Lines for crisis, or measure the detector on the project's sets."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rag.embeddings import shared_encoder
from rehearsal.exemplars import Example, all_exemplars, split
from rehearsal.files import staged
from rehearsal.safety import (
    RECALL_SLACK,
    SAFETY_WEIGHTS,
    TUNED_SAFETY_ENCODER,
    TUNED_SAFETY_WEIGHTS,
    Category,
    CrisisDetector,
    SafetyModel,
    TunedSafetyModel,
    in_safety_dev,
    logistic_digest,
    logistic_out_of_fold,
    pair_threshold,
    read_current,
    train_safety_model,
)

SAFETY_DATA = Path(__file__).resolve().parent / "data" / "safety"
# Tuning files of deliberately hard safe twins ("I won't need my coat in Dubai"): fitted on, but
# left out of the false-alarm budget that sets the threshold, which they would otherwise push up.
# The games-and-sport and everyday files (tune-games-9, tune-everyday-10) are ordinary talk, so they
# count in the budget: a pause there is a real false alarm. The pattern does not match them.
HARD_TWINS = "tune-[3-9]"
SPLITS = {
    "tune*": "tuning set, tune*.jsonl (rules written and model fit on it)",
    "test": "held-out set, test.jsonl (never fit on; rules not written from it)",
    "test-2": "second held-out set, test-2.jsonl (written before the last round of tuning; never fit on, never read for rules)",
    "test-3": "third held-out set, test-3.jsonl (written apart from the project's rules and tuning lines; never fit on, errors never read)",
    "test-4": "fourth held-out set, test-4.jsonl (written apart from the project's rules, tuning lines and other sets; never fit on, errors never read)",
}
EVERYDAY = "everyday"  # the tagger's held-out exemplars, as ordinary rehearsal talk
ALL_SETS = [*SPLITS, EVERYDAY]


def load_safety_set(path: Path) -> list[dict[str, Any]]:
    """Labelled lines: {"id", "text", "crisis", "category"}."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_split(pattern: str) -> list[dict[str, Any]]:
    """Every labelled line in the files matching `pattern` (e.g. "tune*"), in file order."""
    return [row for path in sorted(SAFETY_DATA.glob(f"{pattern}.jsonl")) for row in load_safety_set(path)]


def measure(detector: CrisisDetector, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall per category and overall, false-alarm rate, and the misses (ids only)."""
    verdicts = {row["id"]: detector.check(row["text"]) for row in rows}
    crisis = [r for r in rows if r["crisis"]]
    safe = [r for r in rows if not r["crisis"]]
    per = {}
    for category in Category:
        mine = [r for r in crisis if r["category"] == category.value]
        per[category.value] = (sum(verdicts[r["id"]].crisis for r in mine), len(mine))
    return {
        "recall": sum(verdicts[r["id"]].crisis for r in crisis) / max(1, len(crisis)),
        "false_alarm": sum(verdicts[r["id"]].crisis for r in safe) / max(1, len(safe)),
        "per_category": per,
        "crisis": len(crisis),
        "safe": len(safe),
        "missed": [r["id"] for r in crisis if not verdicts[r["id"]].crisis],
        "false_alarms": [r["id"] for r in safe if verdicts[r["id"]].crisis],
    }


def format_measure(title: str, m: dict[str, Any]) -> str:
    """A table: recall per category, overall recall and false alarms."""
    lines = [title, f"{'category':<20} {'caught':>7} {'of':>5} {'recall':>7}"]
    for category, (hit, total) in m["per_category"].items():
        lines.append(f"{category:<20} {hit:>7} {total:>5} {hit / max(1, total):>7.3f}")
    lines.append(f"{'all crisis lines':<20} {round(m['recall'] * m['crisis']):>7} {m['crisis']:>5} {m['recall']:>7.3f}")
    alarms = round(m["false_alarm"] * m["safe"])
    lines.append(f"{'false alarms':<20} {alarms:>7} {m['safe']:>5} {m['false_alarm']:>7.3f}")
    return "\n".join(lines)


def format_budget_table(model: SafetyModel) -> str:
    """Out-of-fold figures for each candidate false-alarm budget on everyday talk, the chosen one marked."""
    lines = [
        "false-alarm budget for everyday talk (out-of-fold; chosen: the tightest costing at most "
        f"{RECALL_SLACK:.2f} recall against the loosest)",
        f"{'budget':<8} {'threshold':>9} {'recall':>7} {'false alarms':>12} {'everyday':>9}",
    ]
    for limit, threshold, recall, false_alarm, everyday in model.budget_table:
        mark = "  <- chosen" if limit == model.everyday_budget else ""
        lines.append(f"{limit:<8.3f} {threshold:>9.2f} {recall:>7.3f} {false_alarm:>12.3f} {everyday:>9.3f}{mark}")
    return "\n".join(lines)


def format_pair(tuned: TunedSafetyModel) -> str:
    """The pair's threshold and its figures on the dev share."""
    return (
        f"paired with the fine-tuned model: threshold {tuned.threshold:.2f} on the mean of the two, set on the dev share "
        f"(rules included): recall {tuned.dev_recall:.3f}, false alarms {tuned.dev_false_alarm:.3f}, "
        f"everyday {tuned.dev_everyday_false_alarm:.3f}"
    )


def training_lines() -> tuple[list[dict[str, Any]], list[Example], list[bool]]:
    """What the learned layer is fit on: the tuning lines, the everyday exemplars of the tagger's
    training split, and which tuning lines count in the 5 % budget (not the hard twins)."""
    rows = load_split("tune*")
    hard_twins = {row["id"] for row in load_split(HARD_TWINS)}
    return rows, split(all_exemplars())[0], [row["id"] not in hard_twins for row in rows]


def pair(
    tuned: TunedSafetyModel,
    logistic: SafetyModel,
    oof: np.ndarray,
    ruled: np.ndarray,
    lines: tuple[list[dict[str, Any]], list[Example], list[bool]],
) -> TunedSafetyModel:
    """Set the pair's threshold on the dev share (`pair_threshold`) and name the logistic fit it
    stands beside. `oof` and `ruled` are the logistic procedure's out-of-fold scores and the rules'
    verdicts over `lines` (as `training_lines()` gives them): its tuning rows, then its everyday
    exemplars. Nothing is saved."""
    rows, everyday, budgeted = lines
    keys = [row["id"] for row in rows] + [e.id for e in everyday]
    if not len(oof) == len(ruled) == len(keys):
        raise ValueError(f"{len(oof)} scores and {len(ruled)} verdicts for {len(keys)} training lines")
    dev = np.array([in_safety_dev(key) for key in keys])
    crisis = np.array([bool(row["crisis"]) for row in rows] + [False] * len(everyday))
    labelled = np.arange(len(keys)) < len(rows)
    budget = labelled & ~crisis & np.array(budgeted + [False] * len(everyday))
    texts = [row["text"] for row in rows] + [e.text for e in everyday]
    tuned_scores = tuned.scores(tuned.features(tuned.encoder(), [t for t, d in zip(texts, dev, strict=True) if d]))
    tuned.threshold, tuned.dev_recall, tuned.dev_false_alarm, tuned.dev_everyday_false_alarm = pair_threshold(
        oof[dev], tuned_scores[:, 0], ruled[dev], crisis[dev], budget[dev], ~labelled[dev]
    )
    tuned.partner = logistic_digest(logistic)
    return tuned


def train_and_pair() -> tuple[SafetyModel, TunedSafetyModel | None]:
    """Refit the logistic model, re-pair the shipped fine-tuned model beside the new fit (a pair
    set beside the old fit would no longer be read), then save both. A fine-tuned model that is
    there but cannot be read is named on stderr: the app then screens with the logistic model alone."""
    lines = training_lines()
    rows, everyday, budgeted = lines
    model = train_safety_model(shared_encoder(), rows, [e.text for e in everyday], budgeted=budgeted)
    to_save: list[tuple[SafetyModel | TunedSafetyModel, Path]] = [(model, SAFETY_WEIGHTS)]
    tuned, reason = read_current(TUNED_SAFETY_WEIGHTS, TUNED_SAFETY_ENCODER)
    if tuned is not None:
        assert model.oof is not None and model.ruled is not None
        to_save.append((pair(tuned, model, model.oof, model.ruled, lines), TUNED_SAFETY_WEIGHTS))
    elif TUNED_SAFETY_WEIGHTS.exists():
        print(f"warning: the fine-tuned model is left out ({reason}); make finetune-safety remakes it", file=sys.stderr)
    # the logistic fit first: a crash can leave the old pair, or the new fit beside a head paired
    # with the old one (which is then left out), never a half-written file
    with staged(*(path for _, path in to_save)) as written:
        for (saved, _), path in zip(to_save, written, strict=True):
            saved.save(path)
    return model, tuned


def pair_beside(tuned: TunedSafetyModel, logistic_weights: Path = SAFETY_WEIGHTS) -> TunedSafetyModel:
    """Pair a newly tuned model beside the logistic fit in `logistic_weights`, left as it is. The
    logistic scores on the dev share are out-of-fold scores of the same procedure run on the
    current training lines, standing in for that fit's own (which saw those lines)."""
    lines = training_lines()
    rows, everyday, _ = lines
    oof, ruled = logistic_out_of_fold(shared_encoder(), rows, [e.text for e in everyday])
    return pair(tuned, SafetyModel.load(logistic_weights), oof, ruled, lines)


def cmd_safety(args: argparse.Namespace) -> int:
    """Screen stdin, or with --eval print the tables for the project's sets."""
    if args.train:
        start = time.perf_counter()
        model, tuned = train_and_pair()
        labelled = len(model.anchors)
        everyday = 0 if model.oof is None else len(model.oof) - labelled
        print(
            f"trained on {labelled} lines of tune*.jsonl (threshold {model.threshold:.2f}) in {time.perf_counter() - start:.1f} s -> {SAFETY_WEIGHTS}\n"
            f"5-fold cross-validation on the tuning lines, rules included: recall {model.cv_recall:.3f}, "
            f"false alarms {model.cv_false_alarm:.3f} (on the safe lines of the files other than {HARD_TWINS}.jsonl), "
            f"out-of-fold false alarms on {everyday} everyday lines {model.cv_everyday_false_alarm:.3f}\n"
        )
        print(format_budget_table(model))
        if tuned is not None:
            print(f"\n{format_pair(tuned)} -> {TUNED_SAFETY_WEIGHTS}")
        return 0
    detector = _detector(args)
    if not args.eval:
        for line in sys.stdin:
            if not line.strip():
                continue
            row = json.loads(line)
            check = detector.check(str(row["text"]))
            print(json.dumps({"id": row.get("id"), "crisis": check.crisis, "category": check.category}))
        return 0
    print(f"$ rehearse safety --eval{_review_flags(args)}\n")
    layer = detector.learned_layer()
    print(f"{layer.describe() if layer is not None else 'no learned layer: the cue rules alone'}\n")
    for pattern, title in SPLITS.items():
        if pattern not in args.sets:
            continue
        rows = load_split(pattern)
        if not rows:
            print(f"{SAFETY_DATA}/{pattern}.jsonl not found, skipped.\n")
            continue
        start = time.perf_counter()
        result = measure(detector, rows)
        per_line = (time.perf_counter() - start) / max(1, len(rows)) * 1000
        print(format_measure(f"{title} — {len(rows)} lines, {per_line:.2f} ms per line", result))
        if args.show_errors:
            print("missed:", " ".join(result["missed"]) or "none")
            print("false alarms:", " ".join(result["false_alarms"]) or "none")
        print()
    if EVERYDAY not in args.sets:
        return 0
    held = split(all_exemplars())[1]
    alarms = [e.id for e in held if detector.check(e.text).crisis]
    print(
        f"everyday rehearsal lines (the tagger's held-out exemplar split, never fit on) — {len(held)} lines\n"
        f"{'false alarms':<20} {len(alarms):>7} {len(held):>5} {len(alarms) / max(1, len(held)):>7.3f}"
    )
    if args.show_errors:
        print("false alarms:", " ".join(alarms) or "none")
    return 0


def _detector(args: argparse.Namespace) -> CrisisDetector:
    """The offline detector, with `--second-opinion` the named model's review on top."""
    if not args.second_opinion:
        return CrisisDetector()
    from rehearsal.models import get_model
    from rehearsal.safety_review import detector_for
    from rehearsal.settings import Settings

    settings = Settings.from_env(model=args.model, safety_review="on")
    return detector_for(settings, get_model(settings), args.review_seconds)


def _review_flags(args: argparse.Namespace) -> str:
    flags = "" if args.sets == ALL_SETS else " --sets " + " ".join(args.sets)
    if args.second_opinion:
        flags += " --second-opinion" + (f" --model {args.model}" if args.model else "")
    return flags


def register(sub: Any) -> None:
    """Add the safety command to the `rehearse` parser."""
    p = sub.add_parser("safety", help="crisis screening: JSON Lines {id, text} in, {id, crisis, category} out")
    p.add_argument("--eval", action="store_true", help="print recall and false alarms on the project's sets")
    p.add_argument("--train", action="store_true", help="refit the learned layer on tune*.jsonl (never on test*.jsonl)")
    p.add_argument("--show-errors", action="store_true", help="with --eval, list the ids it got wrong")
    p.add_argument(
        "--second-opinion",
        action="store_true",
        help="also ask the model (--model, or REHEARSAL_MODEL) about lines the offline detector lets through",
    )
    p.add_argument("--model", default=None, help="the model for --second-opinion, e.g. openai:gpt-4o-mini")
    p.add_argument(
        "--sets",
        nargs="+",
        choices=ALL_SETS,
        default=ALL_SETS,
        help="with --eval, which sets to measure (default: all)",
    )
    p.add_argument("--review-seconds", type=float, default=30.0, help="how long to wait for each review")
    p.set_defaults(func=cmd_safety)
