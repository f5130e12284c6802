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
    read_current,
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
    again = read_current(head, encoder_file)[0]
    assert again is not None and again.threshold == pytest.approx(0.4)
    assert np.array_equal(again.weights, model.weights) and again.encoder_path == encoder_file
    assert (again.partner, again.encoder_digest) == ("abc", model.encoder_digest)
    assert (again.dev_recall, again.dev_false_alarm, again.dev_everyday_false_alarm) == pytest.approx(
        (0.97, 0.04, 0.03)
    )

    assert "missing" in read_current(head, tmp_path / "missing.onnx")[1]
    assert read_current(head, tmp_path / "missing.onnx")[0] is None
    encoder_file.write_bytes(b"another encoder, written over the one the head was fit on")
    assert "another encoder" in read_current(head, encoder_file)[1]
    assert read_current(head, encoder_file)[0] is None

    stale = TunedSafetyModel(model.weights[:, 1:], 0.4)  # fit on one cue flag fewer than the rules give now
    head, encoder_file = shipped_pair_files(tmp_path, stale)
    assert "cue flags" in read_current(head, encoder_file)[1]
    assert read_current(head, encoder_file)[0] is None


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
    assert "another fit" in read_current(head, encoder_file, partner=logistic)[1]
    assert read_current(head, encoder_file, partner=logistic)[0] is None
    assert read_current(head, encoder_file)[0] is not None


CRISIS_MEANS = np.linspace(0.9, 0.45, 10)  # ten crisis lines: 0.9, 0.85 .. 0.45


def dev_lines(budgeted_safe: list[float], everyday: list[float]) -> tuple[np.ndarray, ...]:
    """(mean scores, rules' verdicts, crisis, budget, everyday) for ten crisis lines, twenty
    budgeted safe lines and a hundred everyday lines, all zero but the scores given."""
    mean = np.zeros(130)
    mean[:10] = CRISIS_MEANS
    mean[10 : 10 + len(budgeted_safe)] = budgeted_safe
    mean[30 : 30 + len(everyday)] = everyday
    index = np.arange(130)
    return mean, np.zeros(130, dtype=bool), index < 10, (index >= 10) & (index < 30), index >= 30


def test_the_pair_threshold_is_set_on_the_mean_of_its_members() -> None:
    from rehearsal.safety import dev_threshold, pair_threshold

    mean, ruled, crisis, budget, everyday = dev_lines([0.62, 0.58], [])
    logistic, tuned = mean * 1.5 - 0.2, mean * 0.5 + 0.2  # averaging back to `mean`
    # 5 % of twenty budgeted safe lines is one: 0.62 may fire, 0.58 may not
    expected = (0.59, 0.7, 0.05, 0.0)
    assert pair_threshold(logistic, tuned, ruled, crisis, budget, everyday) == pytest.approx(expected)
    assert dev_threshold(mean, ruled, crisis, budget, everyday) == pytest.approx(expected)
    ruled[12] = ruled[13] = True  # two safe lines the rules pause use up the 5 % budget and more
    assert dev_threshold(mean, ruled, crisis, budget, everyday)[0] == pytest.approx(0.99)


def test_the_everyday_budget_is_the_tightest_that_costs_little_recall_on_the_dev_share() -> None:
    from rehearsal.safety import dev_threshold

    # 3 and 3.5 % of a hundred everyday lines allow three pauses, 4 % four
    mean, ruled, crisis, budget, everyday = dev_lines([], [0.8, 0.79, 0.78, 0.52])
    # at 3 % the fourth everyday line (0.52) stops the threshold at 0.53, catching eight crisis
    # lines of ten; 4 % lets it go to the bottom and catch all ten: worth the looser budget
    assert dev_threshold(mean, ruled, crisis, budget, everyday) == pytest.approx((0.01, 1.0, 0.0, 0.04))
    mean, ruled, crisis, budget, everyday = dev_lines([], [0.8, 0.79, 0.78, 0.40])
    # below every crisis line, the fourth costs no recall at 3 %: the tightest budget stands
    assert dev_threshold(mean, ruled, crisis, budget, everyday) == pytest.approx((0.41, 1.0, 0.0, 0.03))


def test_an_unreadable_head_is_left_out_with_its_reason(tmp_path: Path) -> None:
    model = TunedSafetyModel(head_on_axis_zero(Category.self_harm), 0.4)
    head, encoder_file = shipped_pair_files(tmp_path, model)
    head.write_bytes(head.read_bytes()[:100])  # cut short, as by a crash mid-write
    assert "cannot be read" in read_current(head, encoder_file)[1]
    assert read_current(head, encoder_file)[0] is None
    np.savez_compressed(head, weights=model.weights, threshold=np.float32(0.4))  # a format without the digests
    assert "cannot be read" in read_current(head, encoder_file)[1]


def test_the_app_warm_up_never_raises_and_caches_no_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from rehearsal import safety
    from ui.state import warm_crisis_screen

    def broken() -> None:
        raise OSError("encoder file unreadable")

    monkeypatch.setattr(safety.LearnedLayer, "_load_shipped", classmethod(lambda cls: broken()))
    monkeypatch.setattr(safety, "_SHIPPED", {})
    warm_crisis_screen()
    assert safety._SHIPPED == {}, "a failed load must be tried again by the first screened line"


def test_eval_names_the_layer_it_measured(capsys: pytest.CaptureFixture[str]) -> None:
    from rehearsal.cli import main

    assert main(["safety", "--eval", "--sets", "test-4"]) == 0
    layer = LearnedLayer.shipped()
    assert layer is not None and layer.describe() in capsys.readouterr().out
