"""The retraining tools refuse an encoder whose vectors drifted from the trained model's (needs PyTorch)."""

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
