"""Measuring the skill tagger: per-label precision, recall and F1, printed as tables.

Sets: the project's own fixed test split (never fit on); the fresh set, lines hand-labelled after the
tagger was trained (`rehearsal/data/tagger-fresh.jsonl`, never fit or tuned on); and, when
`../shared/eval/` exists, the external human-annotated AnnoMI and ESConv sets, only for the labels
they carry (measure only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rehearsal.exemplars import Example, load_examples
from rehearsal.tagger import SkillTagger
from rehearsal.taxonomy import LABELS, PITFALLS

EXTERNAL_SETS = {
    "annomi_dev.jsonl": ("AnnoMI (dev)", ("reflection", "open_question")),
    "esconv_devtest.jsonl": ("ESConv (dev+test)", ("reflection", "validation")),
}
FRESH_TITLE = "Fresh lines (written after the tagger was trained, never fit or tuned on)"
# Hand-labelled sets the tagger is measured on and never trained, tuned or chosen on, by file name.
FRESH_SETS = {
    "tagger-fresh.jsonl": FRESH_TITLE,
    "tagger-fresh-2.jsonl": "Second fresh set (written apart from the exemplars and the tagger, never fit or tuned on)",
    "tagger-fresh-3.jsonl": "Third fresh set (written apart from the exemplars and the tagger, never fit or tuned on)",
    "tagger-fresh-4.jsonl": "Fourth fresh set (written apart from the exemplars, the tagger and the other sets, never fit or tuned on)",
    "tagger-fresh-5.jsonl": "Fifth fresh set: short replies, warm or withdrawn (written apart from everything else, never fit or tuned on)",
    "tagger-fresh-6.jsonl": "Sixth fresh set: every label, subtle pitfalls (written apart from everything else, never fit or tuned on)",
    "tagger-fresh-7.jsonl": "Seventh fresh set: every label, many lines doing two things at once (written from the taxonomy alone, apart from everything else, never fit or tuned on)",
}


@dataclass(frozen=True)
class Score:
    """Counts and figures for one label on one set."""

    label: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """tp / (tp + fp); 0 when nothing was predicted."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """tp / (tp + fn); 0 when the label never occurs."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else 0.0

    @property
    def support(self) -> int:
        """How many lines carry the label."""
        return self.tp + self.fn


def score(gold: list[frozenset[str]], predicted: list[frozenset[str]], labels: Iterable[str]) -> list[Score]:
    """Per-label counts over aligned gold and predicted label sets."""
    rows = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, predicted, strict=True) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, predicted, strict=True) if label in g and label not in p)
        rows.append(Score(label, tp, fp, fn))
    return rows


def predict(tagger: SkillTagger, examples: list[Example]) -> list[frozenset[str]]:
    """The tagger's labels for every example."""
    taggings = tagger.tag_batch([e.text for e in examples], [e.context for e in examples])
    return [frozenset(t.labels) for t in taggings]


def evaluate(tagger: SkillTagger, examples: list[Example], labels: Iterable[str] = LABELS) -> list[Score]:
    """Tag every example and score the chosen labels."""
    return score([e.labels for e in examples], predict(tagger, examples), labels)


def format_pitfall_share(predicted: list[frozenset[str]]) -> str:
    """How many lines got a pitfall label, per pitfall. Unscored: for sets of helpers' turns
    (counsellors, supporters), where blaming, criticising or stonewalling is rare, so a high
    share is mostly the tagger misreading listening moves such as "Mm-hmm" or "Okay"."""
    lines = [f"pitfall labels given (no gold labels; helpers' turns rarely hold a pitfall) — {len(predicted)} lines"]
    for label in PITFALLS:
        count = sum(label in p for p in predicted)
        lines.append(f"{label:<15} {count:>6} {count / max(1, len(predicted)):>6.3f}")
    pitfalls = set(PITFALLS)
    count = sum(bool(p & pitfalls) for p in predicted)
    lines.append(f"{'any pitfall':<15} {count:>6} {count / max(1, len(predicted)):>6.3f}")
    return "\n".join(lines)


def format_false_pitfalls(gold: list[frozenset[str]], predicted: list[frozenset[str]]) -> str:
    """How many lines free of pitfalls in the gold labels were given one: the error a user feels
    most, told they blamed or stonewalled when they did not."""
    pitfalls = set(PITFALLS)
    clean = [p for g, p in zip(gold, predicted, strict=True) if not g & pitfalls]
    flagged = sum(bool(p & pitfalls) for p in clean)
    return (
        f"{'pitfall given to a line with none':<40} {flagged:>4} of {len(clean):<4} {flagged / max(1, len(clean)):.3f}"
    )


def format_scores(title: str, rows: list[Score], lines: int) -> str:
    """A plain-text table with a macro-F1 row."""
    out = [f"{title} — {lines} lines", f"{'label':16} {'prec':>6} {'recall':>6} {'F1':>6} {'support':>7}"]
    out += [f"{r.label:16} {r.precision:6.3f} {r.recall:6.3f} {r.f1:6.3f} {r.support:7d}" for r in rows]
    macro = sum(r.f1 for r in rows) / len(rows) if rows else 0.0
    out.append(f"{'macro-F1':16} {'':6} {'':6} {macro:6.3f}")
    return "\n".join(out)


def fresh_path(name: str = "tagger-fresh.jsonl") -> Path:
    """A fresh set's file; they sit outside `data/exemplars/` so no training run can pick them up."""
    return Path(str(resources.files("rehearsal").joinpath(f"data/{name}")))


def load_fresh(path: Path | None = None) -> list[Example]:
    """Read the fresh set; like the exemplars, an unknown label or a missing field is an error."""
    return load_examples(path or fresh_path())


def load_external(path: Path) -> list[Example]:
    """Read an external set; labels outside our eleven (e.g. closed_question) are dropped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            labels = frozenset(label for label in row.get("labels", []) if label in LABELS)
            rows.append(Example(str(row["id"]), str(row.get("context", "")), str(row["text"]), labels))
    return rows


def find_eval_dir(start: Path) -> Path | None:
    """`shared/eval/` beside the checkout (../shared/eval), if present."""
    for candidate in (start.parent / "shared" / "eval", start / "shared" / "eval"):
        if candidate.is_dir():
            return candidate
    return None
