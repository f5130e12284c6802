"""The Streamlit app with the fake model (AppTest, no browser)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


@pytest.fixture
def app() -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=20)


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
    app.chat_input[0].set_value("I can see you're really stuck, that sounds stressful.").run()
    assert not app.exception
    texts = [t.value for t in app.text]
    assert "I can see you're really stuck, that sounds stressful." in texts
    assert any("I hear you" in t for t in texts), texts
    assert app.get("progress")[0].proto.value < 50, "listening lowered the tension from 5/10"
