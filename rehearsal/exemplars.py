"""The project's own labelled utterances: the only data the skill tagger learns from.

Files: `rehearsal/data/exemplars/*.jsonl`, one `{"id", "context", "text", "labels"}` per line.
The test split is fixed by a hash of each id, so it never changes as files grow and the tagger
is never fit on it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rehearsal.taxonomy import LABELS

TEST_SHARE = 0.25


@dataclass(frozen=True)
class Example:
    """One labelled utterance with the other person's previous line."""

    id: str
    context: str
    text: str
    labels: frozenset[str]


def exemplar_dir() -> Path:
    """The folder holding the exemplar files."""
    return Path(str(resources.files("rehearsal").joinpath("data/exemplars")))


def load_examples(path: Path, *, known_labels: tuple[str, ...] = LABELS) -> list[Example]:
    """Read one JSON Lines file; a line with an unknown label or missing field is an error."""
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        labels = frozenset(row.get("labels", []))
        unknown = labels - set(known_labels)
        if unknown:
            raise ValueError(f"{path}:{number}: unknown labels {sorted(unknown)}")
        examples.append(Example(str(row["id"]), str(row.get("context", "")), str(row["text"]), labels))
    return examples


def all_exemplars() -> list[Example]:
    """Every exemplar the project ships, sorted by id."""
    rows = [ex for path in sorted(exemplar_dir().glob("*.jsonl")) for ex in load_examples(path)]
    return sorted(rows, key=lambda ex: ex.id)


def hash_fraction(key: str) -> float:
    """A fixed number in [0, 1) for `key`, from its sha256: how the project draws fixed shares
    (the test split, dev shares) that never change as files grow."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32


def is_test(example_id: str) -> bool:
    """True for the fixed test split (about a quarter of ids, chosen by hash)."""
    return hash_fraction(example_id) < TEST_SHARE


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, test) by the fixed hash split."""
    train = [ex for ex in examples if not is_test(ex.id)]
    test = [ex for ex in examples if is_test(ex.id)]
    return train, test


def fingerprint(examples: list[Example]) -> str:
    """A hash of the training data, stored with trained weights to spot stale ones."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, ex.context, ex.text, sorted(ex.labels)]).encode())
    return digest.hexdigest()[:16]
