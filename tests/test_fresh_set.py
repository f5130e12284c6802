"""The fresh tagger sets: hand-labelled lines the tagger is never trained or tuned on, measured only."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest

from rehearsal.evaluate import FRESH_SETS, FRESH_TITLE, format_false_pitfalls, fresh_path, load_fresh
from rehearsal.exemplars import all_exemplars
from rehearsal.taxonomy import LABELS
from tests.conftest import ROOT

MIN_UNLABELLED = 25
# (lines, lines per label) a set must hold at least; the fifth measures one kind of line (short
# replies, warm or withdrawn), so it is smaller and thinner per label
MIN_SIZE = (220, 18)
SIZES = {"tagger-fresh-5.jsonl": (170, 10)}


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


SETS = pytest.mark.parametrize("name", list(FRESH_SETS))


@SETS
def test_fresh_set_loads_with_known_labels_only(name: str) -> None:
    fresh = load_fresh(fresh_path(name))
    assert len(fresh) >= SIZES.get(name, MIN_SIZE)[0]
    assert all(ex.text.strip() and ex.context.strip() for ex in fresh)


@SETS
def test_fresh_set_covers_every_label_and_plain_lines(name: str) -> None:
    fresh = load_fresh(fresh_path(name))
    counts = Counter(label for ex in fresh for label in ex.labels)
    least = SIZES.get(name, MIN_SIZE)[1]
    thin = {label: counts[label] for label in LABELS if counts[label] < least}
    assert not thin, f"labels with fewer than {least} lines: {thin}"
    assert sum(1 for ex in fresh if not ex.labels) >= MIN_UNLABELLED


def test_fresh_ids_are_unique_across_the_sets() -> None:
    ids = [ex.id for name in FRESH_SETS for ex in load_fresh(fresh_path(name))]
    assert len(ids) == len(set(ids))


@SETS
def test_no_fresh_text_repeats_an_exemplar(name: str) -> None:
    # The set only measures something if the tagger never saw these lines in training.
    seen = {_normalise(ex.text) for ex in all_exemplars()}
    repeats = [ex.id for ex in load_fresh(fresh_path(name)) if _normalise(ex.text) in seen]
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
    # the tables say which model made them: a stale shipped model falls back to a weaker stand-in
    assert "\ntagger: fine-tuned line encoder (tagger-encoder.onnx) and linear layer\n" in result.stdout
    header = f"{FRESH_TITLE} — {len(load_fresh())} lines"
    assert header in result.stdout
    assert result.stdout.index("Own test split") < result.stdout.index(header)
    positions = [result.stdout.index(header)]
    for name in list(FRESH_SETS)[1:]:
        later = f"{FRESH_SETS[name]} — {len(load_fresh(fresh_path(name)))} lines"
        positions.append(result.stdout.index(later))
    assert positions == sorted(positions)
    # every labelled table says how often a line free of pitfalls was given one
    assert result.stdout.count("pitfall given to a line with none") == 1 + len(FRESH_SETS)
    assert "AnnoMI" not in result.stdout


def test_false_pitfalls_count_only_lines_whose_gold_has_none() -> None:
    gold = [frozenset(), frozenset({"reflection"}), frozenset({"blame"}), frozenset()]
    predicted = [frozenset({"stonewalling"}), frozenset({"reflection"}), frozenset({"criticism"}), frozenset()]
    # line 3 holds a pitfall in the gold labels, so its (wrong) pitfall is not counted here
    assert format_false_pitfalls(gold, predicted).split()[-4:] == ["1", "of", "3", "0.333"]
