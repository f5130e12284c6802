"""The retraining tools refuse an encoder whose vectors drifted from the trained model's, and replace the
shipped files only when a run finishes (needs PyTorch)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import minilm_tuning


@pytest.mark.parametrize(("cosine", "refused"), [(0.9499, True), (0.95, False), (0.97, False)])
def test_checked_parity_refuses_below_the_floor(monkeypatch, tmp_path, cosine, refused):
    monkeypatch.setattr(minilm_tuning, "parity", lambda *args: cosine)
    written = tmp_path / "tuned.new.onnx"
    if refused:
        with pytest.raises(SystemExit, match=r"tuned\.new\.onnx .* 0\.94990 .*nothing was replaced"):
            minilm_tuning.checked_parity(None, None, written, ["a line"])
    else:
        assert minilm_tuning.checked_parity(None, None, written, ["a line"]) == cosine


def test_staged_files_replace_the_shipped_pair_only_when_the_run_finishes(tmp_path):
    encoder, weights = tmp_path / "model.onnx", tmp_path / "model.npz"
    encoder.write_text("old encoder")
    weights.write_text("old head")
    with pytest.raises(SystemExit), minilm_tuning.staged(encoder, weights) as (new_encoder, new_weights):
        new_encoder.write_text("new encoder")
        raise SystemExit("refused")
    assert (encoder.read_text(), weights.read_text()) == ("old encoder", "old head")
    with minilm_tuning.staged(encoder, weights) as (new_encoder, new_weights):
        new_encoder.write_text("new encoder")
        new_weights.write_text("new head")
    assert (encoder.read_text(), weights.read_text()) == ("new encoder", "new head")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz", "model.onnx"]
