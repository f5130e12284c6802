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


def test_the_tuned_model_round_trips_and_a_stale_one_is_refused(tmp_path: Path) -> None:
    encoder_file = tmp_path / "enc.onnx"
    encoder_file.write_bytes(b"not read here")
    model = TunedSafetyModel(head_on_axis_zero(Category.being_harmed), 0.4, encoder_file, "abc", 0.97, 0.04, 0.03)
    model.save(tmp_path / "head.npz")
    again = TunedSafetyModel.load_current(tmp_path / "head.npz", encoder_file)
    assert again is not None and again.threshold == pytest.approx(0.4)
    assert np.array_equal(again.weights, model.weights) and again.encoder_path == encoder_file
    assert again.partner == "abc"
    assert (again.dev_recall, again.dev_false_alarm) == pytest.approx((0.97, 0.04))

    assert TunedSafetyModel.load_current(tmp_path / "head.npz", tmp_path / "missing.onnx") is None
    stale = TunedSafetyModel(model.weights[:, 1:], 0.4, encoder_file)  # fit on one cue flag more than there are now
    stale.save(tmp_path / "stale.npz")
    assert TunedSafetyModel.load_current(tmp_path / "stale.npz", encoder_file) is None


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
    encoder_file = tmp_path / "enc.onnx"
    encoder_file.write_bytes(b"not read here")
    TunedSafetyModel(head_on_axis_zero(Category.self_harm), 0.4, encoder_file, "0123456789abcdef").save(
        tmp_path / "h.npz"
    )
    assert TunedSafetyModel.load_current(tmp_path / "h.npz", encoder_file, partner=logistic) is None
    assert TunedSafetyModel.load_current(tmp_path / "h.npz", encoder_file) is not None
