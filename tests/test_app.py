"""The Streamlit app with the fake model (AppTest, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def shared_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the module, so the card index is built once."""
    return tmp_path_factory.mktemp("appdata")


@pytest.fixture
def app(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    import streamlit as st

    monkeypatch.setenv("REHEARSAL_DATA_DIR", str(shared_data))
    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)


def test_first_page_shows_a_scenario_card(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.selectbox[0].options, "the scenario library is listed"
    assert any("Your goal" in m.value for m in app.markdown)


def test_a_conversation_streams_replies_and_moves_the_meter(app: AppTest) -> None:
    app.run()
    app.selectbox[0].set_value("boss-extra-shifts").run()
    app.button[0].click().run()
    assert not app.exception
    assert "tension" in app.get("progress")[0].proto.text
    app.chat_input[0].set_value("It sounds like you're stuck, and that makes sense.").run()
    assert not app.exception
    texts = [t.value for t in app.text]
    assert "It sounds like you're stuck, and that makes sense." in texts
    assert any("I hear you" in t for t in texts), texts
    assert app.get("progress")[0].proto.value < 50, "listening lowered the tension from 5/10"
    feedback = " ".join(m.value for m in app.markdown)
    assert "Reflection" in feedback or "Validation" in feedback, feedback
    assert any(c.value.startswith("Card: ") for c in app.caption)
