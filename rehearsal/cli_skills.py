"""`rehearse` commands for the feedback engine: tag, eval, train-tagger, index, search."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rehearsal.evaluate import (
    EXTERNAL_SETS,
    FRESH_SETS,
    find_eval_dir,
    format_false_pitfalls,
    format_pitfall_share,
    format_scores,
    fresh_path,
    load_external,
    load_fresh,
    predict,
    score,
)
from rehearsal.exemplars import Example, all_exemplars, split
from rehearsal.files import staged
from rehearsal.settings import PROJECT_ROOT, Settings
from rehearsal.tagger import WEIGHTS_PATH, SkillTagger, describe, load_candidate, load_tagger, train_default
from rehearsal.taxonomy import LABELS


def cmd_tag(args: argparse.Namespace) -> int:
    """JSON Lines in ({"id", "context", "text"}), JSON Lines out ({"id", "labels", "evidence"})."""
    tagger = load_tagger()
    rows = [json.loads(line) for line in sys.stdin if line.strip()]
    for start in range(0, len(rows), 64):
        batch = rows[start : start + 64]
        taggings = tagger.tag_batch([str(r["text"]) for r in batch], [str(r.get("context", "")) for r in batch])
        for row, tagging in zip(batch, taggings, strict=True):
            print(json.dumps({"id": row.get("id"), "labels": tagging.labels, "evidence": tagging.evidence}))
    return 0


def scored_table(title: str, tagger: SkillTagger, examples: list[Example]) -> str:
    """The per-label table of a labelled set, and how often a line free of pitfalls was given one."""
    gold, predicted = [e.labels for e in examples], predict(tagger, examples)
    return f"{format_scores(title, score(gold, predicted, LABELS), len(examples))}\n{format_false_pitfalls(gold, predicted)}"


def cmd_eval(args: argparse.Namespace) -> int:
    """Per-label tables on the own test split, the fresh set and, when present, the external sets."""
    if args.encoder and not args.weights:
        print("rehearse eval: --encoder needs --weights (the head trained with that encoder)", file=sys.stderr)
        return 2
    try:
        tagger = (
            load_candidate(Path(args.weights), Path(args.encoder) if args.encoder else None)
            if args.weights
            else load_tagger()
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # RuntimeError: an encoder that will not load
        print(f"rehearse eval: cannot load the candidate tagger: {exc}", file=sys.stderr)
        return 2
    _, test = split(all_exemplars())
    flags = f" --external {args.external}" if args.external else ""
    flags += " --no-external" if args.no_external else ""
    flags += f" --weights {args.weights}" if args.weights else ""
    flags += f" --encoder {args.encoder}" if args.encoder else ""
    print(f"$ rehearse eval{flags}\n")
    print(f"{describe(tagger)}\n")
    print(scored_table("Own test split (never fit on)", tagger, test))
    for name, title in FRESH_SETS.items():  # shipped with the package: a missing one is an error
        print()
        print(scored_table(title, tagger, load_fresh(fresh_path(name))))
    if args.no_external:
        return 0
    eval_dir = Path(args.external) if args.external else find_eval_dir(PROJECT_ROOT)
    if eval_dir is None:
        print("\nExternal sets: ../shared/eval/ not found, skipped.")
        return 0
    for file, (title, labels) in EXTERNAL_SETS.items():
        path = eval_dir / file
        if not path.exists():
            print(f"\n{title}: {path} not found, skipped.")
            continue
        examples = load_external(path)
        predicted = predict(tagger, examples)
        print()
        print(
            format_scores(
                f"{title}, measure only", score([e.labels for e in examples], predicted, labels), len(examples)
            )
        )
        print(format_pitfall_share(predicted))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Retrain the full (no tuned encoder) tagger on the training split; with --full, ship it."""
    from rag.embeddings import shared_encoder

    if not args.full:
        print(
            "The shipped tagger reads lines with its tuned encoder; retrain both with `make finetune` "
            "(needs PyTorch, installed into its own venv).\n"
            "`rehearse train-tagger --full` instead ships the model without a tuned encoder (lower F1, no PyTorch)."
        )
        return 2
    start = time.perf_counter()
    model = train_default(shared_encoder())
    with staged(WEIGHTS_PATH) as (written,):  # the shipped file is replaced whole or not at all
        model.save(written)
    print(f"trained on the training split in {time.perf_counter() - start:.1f} s -> {WEIGHTS_PATH}")
    return 0


def _retriever(settings: Settings) -> Any:
    from rag.retriever import ChromaRetriever

    return ChromaRetriever(settings.index_dir, settings.chroma_url)


def cmd_index(args: argparse.Namespace) -> int:
    """Build the card index (always, with --force; otherwise only when missing or stale)."""
    settings = Settings.from_env(data_dir=args.data_dir)
    retriever = _retriever(settings)
    if args.force and retriever.build_seconds is None:
        retriever.rebuild()
    state = f"built in {retriever.build_seconds:.2f} s" if retriever.build_seconds is not None else "up to date"
    print(f"{len(retriever.cards)} cards, {retriever.collection.count()} chunks: {state}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """Show the best card chunks for a query, with scores."""
    settings = Settings.from_env(data_dir=args.data_dir)
    for hit in _retriever(settings).search(args.query, label=args.label, k=args.k):
        first = hit.text.splitlines()[1] if "\n" in hit.text else hit.text
        print(f"{hit.score:.3f}  {hit.card_id:32} {hit.section:14} {first[:90]}")
    return 0


def register(sub: Any) -> None:
    """Add these commands to the `rehearse` parser."""
    p = sub.add_parser("tag", help="label JSON Lines from stdin with the eleven skills and pitfalls")
    p.set_defaults(func=cmd_tag)
    p = sub.add_parser("eval", help="precision/recall/F1 of the tagger, as tables")
    p.add_argument("--external", help="folder with annomi_dev.jsonl / esconv_devtest.jsonl (default ../shared/eval)")
    p.add_argument("--no-external", action="store_true", help="skip the external sets (own split and fresh set only)")
    p.add_argument("--weights", help="measure this tagger model (.npz) instead of the shipped one (a trial's)")
    p.add_argument("--encoder", help="the tuned line encoder (.onnx) that --weights was trained with")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("train-tagger", help="retrain the tagger on the project's exemplars")
    p.add_argument("--full", action="store_true", help="ship the model that needs no tuned encoder")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("index", help="build the knowledge-card index if missing or stale")
    p.add_argument("--force", action="store_true", help="rebuild even when up to date")
    p.set_defaults(func=cmd_index)
    p = sub.add_parser("search", help="search the knowledge cards")
    p.add_argument("query")
    p.add_argument("--label", choices=LABELS)
    p.add_argument("-k", type=int, default=5)
    p.set_defaults(func=cmd_search)
