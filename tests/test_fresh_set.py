"""The fresh tagger set: hand-labelled lines written after the tagger was trained, measured only."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from rehearsal.evaluate import FRESH_TITLE, load_fresh
from rehearsal.exemplars import all_exemplars
from rehearsal.taxonomy import LABELS
from tests.conftest import ROOT

MIN_PER_LABEL = 18
MIN_UNLABELLED = 25


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def test_fresh_set_loads_with_known_labels_only() -> None:
    fresh = load_fresh()
    assert len(fresh) >= 220
    assert all(ex.text.strip() and ex.context.strip() for ex in fresh)


def test_fresh_set_covers_every_label_and_plain_lines() -> None:
    fresh = load_fresh()
    counts = Counter(label for ex in fresh for label in ex.labels)
    thin = {label: counts[label] for label in LABELS if counts[label] < MIN_PER_LABEL}
    assert not thin, f"labels with fewer than {MIN_PER_LABEL} lines: {thin}"
    assert sum(1 for ex in fresh if not ex.labels) >= MIN_UNLABELLED


def test_fresh_ids_are_unique() -> None:
    ids = [ex.id for ex in load_fresh()]
    assert len(ids) == len(set(ids))


def test_no_fresh_text_repeats_an_exemplar() -> None:
    # The set only measures something if the tagger never saw these lines in training.
    seen = {_normalise(ex.text) for ex in all_exemplars()}
    repeats = [ex.id for ex in load_fresh() if _normalise(ex.text) in seen]
    assert not repeats


def test_eval_prints_the_fresh_table_after_the_test_split() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rehearsal.cli", "eval", "--no-external"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    header = f"{FRESH_TITLE} — {len(load_fresh())} lines"
    assert header in result.stdout
    assert result.stdout.index("Own test split") < result.stdout.index(header)
    assert "AnnoMI" not in result.stdout
