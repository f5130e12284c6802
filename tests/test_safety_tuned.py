"""The fine-tuned crisis layer: its file round-trips, a stale one is refused, and the detector
reads it with its own encoder, the rules still first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rehearsal.safety import (
    TUNED_SAFETY_SCALE,
    Category,
    CrisisDetector,
    LearnedLayer,
    TunedSafetyModel,
    cue_count,
    cue_features,
    normalise,
    why_not_current,
)


class DirectionEncoder:
    """Puts lines that mention `word` on one axis and every other line on another; records calls."""

    def __init__(self, word: str):
        self.word, self.calls = word, []  # type: list[list[str]]

    def encode(self, texts: list[str], batch_size: int = 32, with_max: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, 0 if self.word in text else 1] = 1.0
        return out


def head_on_axis_zero(category: Category) -> np.ndarray:
    """Weights that score 'crisis' (and `category`) high exactly when axis 0 is lit."""
    weights = np.zeros((1 + len(Category), 384 + cue_count() + 1), dtype=np.float32)
    weights[:, -1] = -4.0
    weights[0, 0] = weights[1 + list(Category).index(category), 0] = 8.0 / TUNED_SAFETY_SCALE
    return weights


def shipped_pair_files(tmp_path: Path, model: TunedSafetyModel) -> tuple[Path, Path]:
    """`model` saved beside a stand-in encoder file whose digest it carries."""
    from rehearsal.tagger import line_encoder_digest

    encoder_file = tmp_path / "enc.onnx"
    encoder_file.write_bytes(b"stands in for an encoder; never run here")
    model.encoder_path, model.encoder_digest = encoder_file, line_encoder_digest(encoder_file)
    model.save(tmp_path / "head.npz")
    return tmp_path / "head.npz", encoder_file


def test_the_tuned_model_round_trips_and_a_stale_one_is_refused(tmp_path: Path) -> None:
    model = TunedSafetyModel(head_on_axis_zero(Category.being_harmed), 0.4, Path(), "abc", "", 0.97, 0.04, 0.03)
    head, encoder_file = shipped_pair_files(tmp_path, model)
    again = TunedSafetyModel.load_current(head, encoder_file)
    assert again is not None and again.threshold == pytest.approx(0.4)
    assert np.array_equal(again.weights, model.weights) and again.encoder_path == encoder_file
    assert (again.partner, again.encoder_digest) == ("abc", model.encoder_digest)
    assert (again.dev_recall, again.dev_false_alarm, again.dev_everyday_false_alarm) == pytest.approx(
        (0.97, 0.04, 0.03)
    )

    assert "missing" in why_not_current(head, tmp_path / "missing.onnx")
    assert TunedSafetyModel.load_current(head, tmp_path / "missing.onnx") is None
    encoder_file.write_bytes(b"another encoder, written over the one the head was fit on")
    assert "another encoder" in why_not_current(head, encoder_file)
    assert TunedSafetyModel.load_current(head, encoder_file) is None

    stale = TunedSafetyModel(model.weights[:, 1:], 0.4)  # fit on one cue flag fewer than the rules give now
    head, encoder_file = shipped_pair_files(tmp_path, stale)
    assert "cue flags" in why_not_current(head, encoder_file)
    assert TunedSafetyModel.load_current(head, encoder_file) is None


def test_features_are_the_scaled_line_vector_and_the_cue_flags_one_line_per_call() -> None:
    encoder = DirectionEncoder("lantern")
    model = TunedSafetyModel(head_on_axis_zero(Category.self_harm), 0.5)
    texts = ["The  LANTERN is lit", "Nothing here"]
    features = model.features(encoder, texts)
    assert encoder.calls == [[normalise(texts[0])], [normalise(texts[1])]]
    assert features.shape == (2, 384 + cue_count())
    assert features[0, 0] == TUNED_SAFETY_SCALE and features[1, 1] == TUNED_SAFETY_SCALE
    assert list(features[1, 384:]) == cue_features(normalise(texts[1]))


def test_the_detector_pauses_on_the_layer_score_with_its_category_and_keeps_the_rules() -> None:
    tuned = TunedSafetyModel(head_on_axis_zero(Category.being_harmed), 0.5)
    detector = CrisisDetector(layer=LearnedLayer([(tuned, DirectionEncoder("lantern"))], 0.5))
    flagged = detector.check("Did you see the lantern by the gate?")
    assert flagged.crisis and flagged.category is Category.being_harmed and flagged.cue == "model"
    assert not detector.check("Did you see the torch by the gate?").crisis
    ruled = detector.check("I want to kill myself")  # the model scores it low; the rules still pause
    assert ruled.crisis and ruled.cue != "model"


def test_the_layer_averages_its_members() -> None:
    high = TunedSafetyModel(head_on_axis_zero(Category.self_harm), 0.5)
    layer = LearnedLayer([(high, DirectionEncoder("lantern")), (high, DirectionEncoder("nothing"))], 0.5)
    alone = LearnedLayer([(high, DirectionEncoder("lantern"))], 0.5)
    line = "a lantern"
    both = layer.scores(line)
    assert both[0] == pytest.approx((alone.scores(line)[0] + 1 / (1 + np.exp(4.0))) / 2)


def test_the_shipped_layer_pairs_the_tuned_model_with_the_fit_it_was_paired_beside() -> None:
    from rehearsal.safety import SAFETY_WEIGHTS, TUNED_SAFETY_WEIGHTS, SafetyModel, logistic_digest

    layer = LearnedLayer.shipped()
    assert layer is not None
    logistic = SafetyModel.load(SAFETY_WEIGHTS)
    if not TUNED_SAFETY_WEIGHTS.exists():
        assert len(layer.members) == 1 and layer.threshold == logistic.threshold
        return
    tuned = TunedSafetyModel.load(TUNED_SAFETY_WEIGHTS)
    assert tuned.partner == logistic_digest(logistic), (
        "safety.npz was refit without re-pairing: run rehearse safety --train"
    )
    assert [type(m) for m, _ in layer.members] == [SafetyModel, TunedSafetyModel]
    assert layer.threshold == tuned.threshold
    assert tuned.dev_false_alarm <= 0.05 and tuned.dev_everyday_false_alarm <= 0.04


def test_a_tuned_model_paired_beside_another_fit_is_left_out(tmp_path: Path) -> None:
    from rehearsal.safety import SAFETY_WEIGHTS, SafetyModel

    logistic = SafetyModel.load(SAFETY_WEIGHTS)
    model = TunedSafetyModel(head_on_axis_zero(Category.self_harm), 0.4, Path(), "0123456789abcdef")
    head, encoder_file = shipped_pair_files(tmp_path, model)
    assert "another fit" in why_not_current(head, encoder_file, partner=logistic)
    assert TunedSafetyModel.load_current(head, encoder_file, partner=logistic) is None
    assert TunedSafetyModel.load_current(head, encoder_file) is not None


def test_the_pair_threshold_is_the_lowest_within_both_budgets_on_the_mean() -> None:
    """Ten crisis lines, twenty budgeted safe lines, forty everyday lines, no rule firing: the mean
    of the two members' scores decides, and each budget binds where the numbers say."""
    from rehearsal.safety import dev_threshold, pair_threshold

    crisis = np.array([True] * 10 + [False] * 60)
    budget = np.array([False] * 10 + [True] * 20 + [False] * 40)
    everyday = np.array([False] * 30 + [True] * 40)
    ruled = np.zeros(70, dtype=bool)
    # crisis lines score 0.9, 0.85 .. 0.45 on the mean (seven at 0.6 or more); one budgeted safe line 0.62, one 0.40; everyday 0.55 on two lines
    mean = np.zeros(70)
    mean[:10] = np.linspace(0.9, 0.45, 10)
    mean[10], mean[11] = 0.62, 0.40
    mean[30], mean[31] = 0.55, 0.55
    logistic, tuned = mean * 1.5 - 0.2, mean * 0.5 + 0.2  # averaging back to `mean`
    threshold, recall, false_alarm, everyday_rate = pair_threshold(logistic, tuned, ruled, crisis, budget, everyday)
    # 5 % of 20 budgeted lines allows one (0.62); 3 % of 40 everyday lines allows one, so 0.55 (two) is
    # over it, and the tightest budget costing at most 0.01 recall against 4 % (also one line) is 3 %
    assert threshold == pytest.approx(0.56)
    assert recall == pytest.approx(0.7) and false_alarm == pytest.approx(0.05) and everyday_rate == 0.0
    assert dev_threshold(mean, ruled, crisis, budget, everyday) == pytest.approx((threshold, recall, false_alarm, 0.0))
    ruled[12] = ruled[13] = True  # two safe lines the rules pause use up the 5 % budget and more
    assert pair_threshold(logistic, tuned, ruled, crisis, budget, everyday)[0] == pytest.approx(0.99)


def test_eval_names_the_layer_it_measured(capsys: pytest.CaptureFixture[str]) -> None:
    from rehearsal.cli import main

    assert main(["safety", "--eval", "--sets", "test-4"]) == 0
    layer = LearnedLayer.shipped()
    assert layer is not None and layer.describe() in capsys.readouterr().out
