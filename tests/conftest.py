"""Shared fixtures: every test runs offline, on a fake model, in its own data folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal.scenario import Scenario
from rehearsal.scenarios import load_scenario
from rehearsal.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No API keys, the fake model, and a private data folder for every test."""
    for var in ("OPENAI_API_KEY", "REHEARSAL_BASE_URL", "REHEARSAL_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("REHEARSAL_MODEL", "fake")
    monkeypatch.setenv("REHEARSAL_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for the fake model with a temporary data folder."""
    return Settings.from_env(model="fake", data_dir=tmp_path / "data")


@pytest.fixture
def scenario() -> Scenario:
    """The reference scenario."""
    return load_scenario(SCENARIOS / "boss-extra-shifts.yaml")
