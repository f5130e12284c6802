"""Model files are replaced only when the run that writes them finishes, in the order given."""

from __future__ import annotations

import pytest

from rehearsal.files import staged


def test_staged_files_replace_the_shipped_pair_only_when_the_run_finishes(tmp_path):  # type: ignore[no-untyped-def]
    encoder, weights = tmp_path / "model.onnx", tmp_path / "model.npz"
    encoder.write_text("old encoder")
    weights.write_text("old head")
    with pytest.raises(SystemExit), staged(encoder, weights) as (new_encoder, new_weights):
        new_encoder.write_text("new encoder")
        raise SystemExit("refused")
    assert (encoder.read_text(), weights.read_text()) == ("old encoder", "old head")
    with staged(encoder, weights) as (new_encoder, new_weights):
        assert (new_encoder.name, new_weights.name) == ("model.new.onnx", "model.new.npz")
        new_encoder.write_text("new encoder")
        new_weights.write_text("new head")
    assert (encoder.read_text(), weights.read_text()) == ("new encoder", "new head")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.npz", "model.onnx"]


def test_a_failed_move_leaves_the_later_files_as_they_were(tmp_path):  # type: ignore[no-untyped-def]
    first, second = tmp_path / "fit.npz", tmp_path / "head.npz"
    second.write_text("old head")
    with pytest.raises(FileNotFoundError), staged(first, second) as (_, new_second):
        new_second.write_text("new head")  # the first file was never written, so its move fails
    assert second.read_text() == "old head"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["head.npz"]
