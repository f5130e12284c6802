"""The skill tagger: trained only on the training split, shipped fresh, deterministic, measured."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rehearsal.evaluate import evaluate
from rehearsal.exemplars import all_exemplars, fingerprint, is_test, split
from rehearsal.tagger import (
    LINE_ENCODER_PATH,
    WEIGHTS_PATH,
    SkillTagger,
    TaggerModel,
    describe,
    expected_fingerprint,
    line_encoder_digest,
    load_candidate,
    load_tagger,
    sentences,
)
from rehearsal.taxonomy import LABELS, PITFALLS
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


def test_shipped_model_is_the_tuned_one_and_matches_the_training_split_and_encoder() -> None:
    model = TaggerModel.load(WEIGHTS_PATH)
    assert model.kind == "tuned" and LINE_ENCODER_PATH.is_file()
    assert model.fingerprint == f"{fingerprint(split(all_exemplars())[0])}-tuned-e{line_encoder_digest()}", (
        "run `make finetune`"
    )
    assert model.weights.shape == (len(LABELS), 3 * 384 + 1)


def test_stale_tuned_model_falls_back_to_the_full_model(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    import rehearsal.tagger as tagger_module

    stale = TaggerModel.load(WEIGHTS_PATH)
    stale.fingerprint = "exemplars-changed-since"
    stale.save(tmp_path / "tagger.npz")
    full = TaggerModel(np.zeros((len(LABELS), 10), dtype=np.float32), np.full(len(LABELS), 0.5), "x", "full")
    monkeypatch.setattr(tagger_module, "train_default", lambda encoder: full)
    fallback = load_tagger(path=tmp_path / "tagger.npz")
    assert fallback.model is full and fallback.line_encoder is None
    assert describe(fallback) == (
        "tagger: logistic regressions over the untuned embeddings, trained in memory (the shipped model was not "
        "used: tagger.npz was made for other exemplars or another tagger-encoder.onnx (retrain with `make finetune`))"
    )
    assert describe(load_tagger(path=tmp_path / "missing.npz")).endswith(
        "(the shipped model was not used: missing.npz is missing)"
    )
    # a full model shipped on purpose (`rehearse train-tagger --full`) was read from disk, not trained
    assert describe(SkillTagger(fallback.encoder, full)) == (
        "tagger: logistic regressions over the untuned embeddings (tagger.npz)"
    )
    with pytest.raises(ValueError, match="line encoder"):
        SkillTagger(fallback.encoder, stale)


def test_a_fingerprint_names_its_kind() -> None:
    assert expected_fingerprint("tuned") != expected_fingerprint("full")
    assert expected_fingerprint("tuned").endswith(line_encoder_digest())


def test_a_model_can_be_stamped_for_an_encoder_file_not_yet_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The retraining tool saves the head before it moves the new encoder into place."""
    written = tmp_path / "tagger-encoder.new.onnx"
    written.write_bytes(LINE_ENCODER_PATH.read_bytes() + b"other weights")
    stamp = expected_fingerprint("tuned", encoder=written)
    assert stamp != expected_fingerprint("tuned")
    assert stamp.endswith(line_encoder_digest(written))


def test_a_model_is_stamped_with_the_lines_it_was_trained_on() -> None:
    train_split = split(all_exemplars())[0]
    assert expected_fingerprint("tuned", train_split) == expected_fingerprint("tuned")
    read_before_a_file_was_added = train_split[:-30]
    assert expected_fingerprint("tuned", read_before_a_file_was_added) != expected_fingerprint("tuned")
    assert expected_fingerprint("full", read_before_a_file_was_added) != expected_fingerprint("full")


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


# Listening moves that are no pitfall: minimal encouragers, genuine surprise, curious questions.
# Written for this test, not taken from the exemplars or the fresh sets.
PLAIN_LISTENING = [
    ("I've had the worst week at work, honestly.", "Mm-hmm."),
    ("My sister called me out of the blue last night.", "Oh? Go on."),
    ("I finally handed in my notice today.", "Wow. How did that feel?"),
    ("We've booked the flights for March.", "Cool, where are you flying from?"),
    ("Honestly I'd rate my motivation a five out of ten.", "What makes it a five rather than a two?"),
    ("The baby isn't sleeping more than two hours at a time.", "Oh no. That sounds exhausting."),
    ("I went to the grave on Sunday for the first time.", "Right. What was that like?"),
    ("He said he'd think about the chores rota.", "Okay. And then what happened?"),
    ("I've started running in the mornings.", "Nice! How far are you going?"),
    ("Mum keeps asking when we're visiting.", "Uh-huh."),
    ("I told my manager I can't do weekends any more.", "Yeah? What did she say?"),
    ("The funeral is on Thursday.", "I see. Are you going with anyone?"),
]


def test_plain_listening_moves_are_not_called_pitfalls(tagger: SkillTagger) -> None:
    tagged = [(text, set(tagger.tag(text, context).labels) & set(PITFALLS)) for context, text in PLAIN_LISTENING]
    flagged = [(text, sorted(pitfalls)) for text, pitfalls in tagged if pitfalls]
    # telling someone who said "Mm-hmm" that they stonewalled is feedback that teaches the wrong thing
    assert len(flagged) <= 1, flagged


def test_own_test_split_macro_f1_floor(tagger: SkillTagger) -> None:
    _, test = split(all_exemplars())
    scores = evaluate(tagger, test)
    macro = sum(s.f1 for s in scores) / len(scores)
    # a regression floor below the measured 0.849 (the target is 0.85)
    assert macro >= 0.83, f"macro-F1 on the held-out split fell to {macro:.3f}"


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


class CountingEncoder:
    """Wraps the real encoder and records every text it is asked to encode."""

    def __init__(self, inner: object):
        self.inner, self.seen = inner, []  # type: ignore[var-annotated]

    def encode(self, texts: list[str], batch_size: int = 32, with_max: bool = False):  # type: ignore[no-untyped-def]
        self.seen.extend(texts)
        return self.inner.encode(texts, batch_size, with_max)  # type: ignore[attr-defined]


def test_a_remembered_context_is_not_encoded_again(tagger: SkillTagger) -> None:
    contexts, lines = CountingEncoder(tagger.encoder), CountingEncoder(tagger.line_encoder)
    fresh = SkillTagger(contexts, tagger.model, lines)  # type: ignore[arg-type]
    context = "I need you to cover Saturday, there's nobody else."
    fresh.remember(context)
    assert contexts.seen == [context]
    line = "I can't do Saturday, but I can stay late on Friday."
    cached = fresh.tag(line, context)
    assert contexts.seen == [context], "tagging encoded the context a second time"
    assert lines.seen == [line], "the line goes through the tuned encoder only"
    assert cached == tagger.tag(line, context), "a cached context changes nothing but speed"


def test_the_context_memory_is_bounded(tagger: SkillTagger) -> None:
    fresh = SkillTagger(tagger.encoder, tagger.model, tagger.line_encoder)
    for i in range(SkillTagger.CONTEXTS_KEPT + 10):
        fresh.remember(f"line number {i}")
    assert len(fresh._contexts) == SkillTagger.CONTEXTS_KEPT
    assert "line number 0" not in fresh._contexts and f"line number {SkillTagger.CONTEXTS_KEPT + 9}" in fresh._contexts


@pytest.mark.parametrize(
    ("text", "wh_question", "closed_question"),
    [
        ("Okay. So, what happened after that?", 1.0, 0.0),
        ("Mm. Right. And how did your mum take it?", 1.0, 0.0),
        ("Mm. Did you sleep okay?", 0.0, 1.0),
        ("What a day.", 0.0, 0.0),
    ],
)
def test_question_shape_is_read_past_spoken_fillers(text: str, wh_question: float, closed_question: float) -> None:
    from rehearsal.tagger import shape_features

    features = shape_features(text, "context")
    cues = len(LABELS)
    assert features[cues + 1] == wh_question  # a what/how question, anywhere in the line
    assert features[cues + 2] == closed_question  # a yes/no question


def test_a_batch_tags_each_line_as_it_would_alone(tagger: SkillTagger) -> None:
    lines = [
        ("You never help.", "I hear you. It's been a lot. Could you take Sundays?"),
        ("Why are you late again?", "Traffic was awful. Not my fault. Anyway, whatever."),
        ("", "Hi."),
    ]
    batch = tagger.tag_batch([t for _, t in lines], [c for c, _ in lines])
    assert batch == [tagger.tag(t, c) for c, t in lines]
    assert all(span in t for tagging, (_, t) in zip(batch, lines, strict=True) for span in tagging.evidence.values())


def test_eval_on_an_external_set_prints_scores_and_the_pitfall_share(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from rehearsal.cli import main

    rows = [
        {
            "id": "a1",
            "context": "I drink most nights.",
            "text": "What do you like about it?",
            "labels": ["open_question"],
        },
        {
            "id": "a2",
            "context": "I'm not sure I want to stop.",
            "text": "So part of you wants to stop, and part of you doesn't.",
            "labels": ["reflection"],
        },
        {"id": "a3", "context": "Why are you always on at me?", "text": "Whatever.", "labels": []},
    ]
    (tmp_path / "annomi_dev.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["eval", "--external", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "AnnoMI (dev), measure only — 3 lines" in out
    share = out[out.index("pitfall labels given") :]
    assert share.splitlines()[0].endswith("— 3 lines")
    assert "stonewalling         1  0.333" in share and "any pitfall          1  0.333" in share
    assert "ESConv (dev+test): " in out and "not found, skipped" in out


def test_a_candidate_model_is_measured_from_its_own_files_and_named_as_a_candidate(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from rehearsal.cli import main

    candidate = TaggerModel.load(WEIGHTS_PATH)
    candidate.thresholds = np.full(len(LABELS), 1.01, dtype=np.float32)  # a head that never says anything
    candidate.fingerprint = "not the shipped encoder"  # as a trial's run stamps it
    candidate.save(tmp_path / "head.npz")
    loaded = load_candidate(tmp_path / "head.npz", LINE_ENCODER_PATH)
    line, context = "You never listen to me, you just do whatever you want.", "I booked the trip."
    assert load_tagger().tag(line, context).labels and loaded.tag(line, context).labels == []
    assert describe(loaded) == (
        "tagger: a candidate, not the shipped model (fine-tuned line encoder and linear layer: "
        f"{LINE_ENCODER_PATH}, {tmp_path / 'head.npz'})"
    )
    # the shipped files under another name load as they are, and are named too
    TaggerModel.load(WEIGHTS_PATH).save(tmp_path / "copy.npz")
    assert describe(load_tagger(path=tmp_path / "copy.npz")).endswith(f"{LINE_ENCODER_PATH}, {tmp_path / 'copy.npz'})")
    full = TaggerModel(np.zeros((len(LABELS), 10), dtype=np.float32), np.full(len(LABELS), 0.5), "x", "full")
    full.save(tmp_path / "full.npz")
    with pytest.raises(ValueError, match=r"full\.npz is a full model: it reads no tuned line encoder"):
        load_candidate(tmp_path / "full.npz", LINE_ENCODER_PATH)
    # what cannot be measured says why, and measures nothing
    assert main(["eval", "--encoder", str(LINE_ENCODER_PATH)]) == 2
    assert "--encoder needs --weights" in capsys.readouterr().err
    assert main(["eval", "--weights", str(tmp_path / "head.npz")]) == 2
    assert "head.npz is a tuned model: name the line encoder it was trained with" in capsys.readouterr().err
    assert main(["eval", "--weights", str(tmp_path / "missing.npz"), "--encoder", str(LINE_ENCODER_PATH)]) == 2
    assert "cannot load the candidate tagger" in capsys.readouterr().err
    assert main(["eval", "--weights", str(tmp_path / "head.npz"), "--encoder", str(tmp_path / "none.onnx")]) == 2
    assert "none.onnx is missing" in capsys.readouterr().err
