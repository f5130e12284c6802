"""The skill tagger: trained only on the training split, shipped fresh, deterministic, measured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rehearsal.evaluate import evaluate
from rehearsal.exemplars import all_exemplars, fingerprint, is_test, split
from rehearsal.tagger import FEATURE_VERSION, WEIGHTS_PATH, SkillTagger, TaggerModel, load_tagger, sentences
from rehearsal.taxonomy import LABELS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def tagger() -> SkillTagger:
    return load_tagger()


def test_split_is_fixed_and_disjoint() -> None:
    train, test = split(all_exemplars())
    assert not {e.id for e in train} & {e.id for e in test}
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.35
    assert all(is_test(e.id) for e in test)


def test_exemplars_cover_every_label_forty_times() -> None:
    examples = all_exemplars()
    for label in LABELS:
        assert sum(label in e.labels for e in examples) >= 40, label
    assert sum(not e.labels for e in examples) >= 40, "unlabelled small talk"


def test_shipped_weights_match_the_training_split() -> None:
    model = TaggerModel.load(WEIGHTS_PATH)
    expected = f"{fingerprint(split(all_exemplars())[0])}-f{FEATURE_VERSION}"
    assert model.fingerprint == expected, "run `rehearse train-tagger`"
    assert model.weights.shape[0] == len(LABELS)


def test_tagging_is_deterministic_with_evidence_spans(tagger: SkillTagger) -> None:
    line = "I can see why you're upset. Could we agree I do Sundays and you do Wednesdays?"
    first, second = tagger.tag(line, "You never help."), tagger.tag(line, "You never help.")
    assert first == second
    assert {"validation", "request"} <= set(first.labels)
    assert all(span in line for span in first.evidence.values())


@pytest.mark.parametrize(
    ("context", "text", "label"),
    [
        ("Nobody asks me how my day was.", "You feel overlooked at the end of the day.", "reflection"),
        ("I'm fed up with this job.", "What's been wearing you down most?", "open_question"),
        ("Just lend me the car again.", "I'm not lending the car this month.", "boundary"),
        ("Why are you so quiet?", "You always forget.", "blame"),
        ("Can we talk about it?", "Whatever.", "stonewalling"),
    ],
)
def test_taxonomy_examples(tagger: SkillTagger, context: str, text: str, label: str) -> None:
    assert label in tagger.tag(text, context).labels


def test_own_test_split_macro_f1_floor(tagger: SkillTagger) -> None:
    _, test = split(all_exemplars())
    scores = evaluate(tagger, test)
    macro = sum(s.f1 for s in scores) / len(scores)
    # a regression floor below the measured 0.736 (the target of 0.85 is not reached yet)
    assert macro >= 0.70, f"macro-F1 on the held-out split fell to {macro:.3f}"


def test_sentences() -> None:
    assert sentences("No. I won't. Okay?") == ["No.", "I won't.", "Okay?"]
    assert sentences("just words") == ["just words"]


def test_tag_command_reads_and_writes_json_lines() -> None:
    rows = [
        {"id": "a", "context": "You never call.", "text": "You feel I've drifted away."},
        {"id": "b", "text": "Fine."},
    ]
    out = subprocess.run(
        [sys.executable, "-m", "rehearsal.cli", "tag"],
        input="\n".join(json.dumps(r) for r in rows),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in results] == ["a", "b"]
    assert set(results[0]) == {"id", "labels", "evidence"}
    assert set(results[0]["evidence"]) == set(results[0]["labels"])
