"""Shared fixtures: every test runs offline, on a fake model, in its own data folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rehearsal.scenario import Scenario
from rehearsal.scenarios import load_scenario
from rehearsal.settings import Settings

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
APP = str(ROOT / "app.py")


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


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder per test module, so the card index is built once per module."""
    return tmp_path_factory.mktemp("appdata")


@pytest.fixture
def data_dir(shared_data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh data folder per test that reuses the module's card index."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "index").symlink_to(shared_data / "index", target_is_directory=True)
    (shared_data / "index").mkdir(exist_ok=True)
    monkeypatch.setenv("REHEARSAL_DATA_DIR", str(data))
    return data


@pytest.fixture
def app(data_dir: Path) -> AppTest:
    """The whole app under Streamlit's AppTest, on the fake model, with nothing cached from before."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_resource.clear()
    return AppTest.from_file(APP, default_timeout=120)
