"""Every page of the Streamlit app with the fake model (AppTest, no browser)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rehearsal.export import session_data, to_markdown
from rehearsal.models.fakes import QueuedModel
from rehearsal.modes import for_mode
from rehearsal.report import report_from_turns
from rehearsal.scenarios import load_scenario
from rehearsal.session import Session, open_prompt
from rehearsal.settings import Settings
from rehearsal.store import Store
from tests.conftest import APP, ROOT, SCENARIOS


def button(app: AppTest, label: str) -> object:
    """The first button whose label starts with `label`."""
    found = [b for b in app.button if b.label.startswith(label)]
    assert found, f"no button '{label}' among {[b.label for b in app.button]}"
    return found[0]


def texts(app: AppTest) -> list[str]:
    return [t.value for t in app.text]


def start(app: AppTest, scenario: str = "boss-extra-shifts", mode: str | None = None) -> None:
    app.run()
    app.switch_page("ui/choose.py").run()
    app.button(key=f"pick-{scenario}").click().run()
    app.switch_page("ui/rehearse.py").run()  # AppTest stays on a page it was switched to: follow the app
    if mode:
        app.radio[0].set_value(mode).run()
    button(app, "Start the conversation").click().run()  # type: ignore[attr-defined]
    assert not app.exception


def test_choose_lists_every_scenario_as_a_card(app: AppTest) -> None:
    app.run()
    assert not app.exception
    picks = [b for b in app.button if b.label == "Rehearse this"]
    assert len(picks) >= 14
    assert any("Your goal" in m.value for m in app.markdown)
    assert any(c.value.endswith("scenarios") and " of " in c.value for c in app.caption)


def test_choose_filters_by_problem_area_and_boundary(app: AppTest) -> None:
    app.run()
    app.multiselect[0].set_value(["grief"]).run()
    grief = len([b for b in app.button if b.label == "Rehearse this"])
    assert 1 <= grief < 14
    app.toggle[0].set_value(True).run()
    assert len([b for b in app.button if b.label == "Rehearse this"]) < grief or grief == 0


def test_choose_lists_a_broken_file_with_its_reason(app: AppTest, data_dir: Path) -> None:
    (data_dir / "scenarios").mkdir()
    (data_dir / "scenarios" / "broken-one.yaml").write_text("id: broken-one\ntitle: [unclosed\n")
    app.run()
    assert not app.exception
    assert any("could not be loaded" in e.label for e in app.expander)
    assert any("broken-one.yaml" in t and "YAML syntax error" in t for t in texts(app)), texts(app)


def test_rehearse_streams_replies_moves_the_meter_and_gives_cited_feedback(app: AppTest) -> None:
    start(app)
    assert "tension" in app.get("progress")[0].proto.text
    app.chat_input[0].set_value("It sounds like you're stuck, and that makes sense.").run()
    assert not app.exception
    assert "It sounds like you're stuck, and that makes sense." in texts(app)
    assert any("I hear you" in t for t in texts(app)), texts(app)
    assert app.get("progress")[0].proto.value < 50, "listening lowered the tension from 5/10"
    feedback = " ".join(m.value for m in app.markdown)
    assert "Reflection" in feedback or "Validation" in feedback, feedback
    assert any("-background[" in m.value for m in app.markdown), "the evidence is highlighted in the line"
    assert any(e.label.startswith("Card: ") for e in app.expander)


def test_feedback_says_when_the_stand_in_tagger_is_running(app: AppTest) -> None:
    start(app)
    assert not any("stand-in" in w.value for w in app.warning), "the shipped tagger runs by default"
    session = app.session_state["session"]
    stand_in = copy.copy(session.coach.tagger)  # the loaded tagger is shared with other tests: leave it be
    stand_in.why_fallback = "tagger.npz is missing"
    session.coach.tagger = stand_in
    app.run()
    assert any("stand-in" in w.value and "tagger.npz is missing" in w.value for w in app.warning)


def test_rewind_takes_back_a_line_and_keeps_both_tries(app: AppTest, data_dir: Path) -> None:
    start(app)
    app.chat_input[0].set_value("You always dump this on me.").run()
    button(app, "Take back").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    assert "You always dump this on me." not in texts(app)
    assert any("Taken back" in i.value for i in app.info)
    app.chat_input[0].set_value("I can't do Saturday, but I could ask around for you.").run()
    button(app, "Finish").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    store = Store(Settings.from_env().store_path)
    data = session_data(store, store.sessions()[0].id)
    taken = [t["text"] for t in data["turns"] if t["taken_back"]]
    assert "You always dump this on me." in taken
    assert data["report"]["retries"][0]["before"] == "You always dump this on me."
    assert data["report"]["retries"][0]["after"] == "I can't do Saturday, but I could ask around for you."


def test_hint_suggests_a_move_with_its_card(app: AppTest) -> None:
    start(app)
    button(app, "What could I say").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    assert any(t.startswith("For example: ") for t in texts(app))
    assert any(c.value.startswith("From the card: ") for c in app.caption)


def test_hint_from_a_capable_model_shows_its_line_and_still_cites_the_card(app: AppTest) -> None:
    line = "Dana, I can't take Saturday, but I could cover one evening next week."
    app.run()
    settings = Settings.from_env()
    remote = QueuedModel([line], model_id="openai:remote-test")
    scenario = load_scenario(SCENARIOS / "boss-extra-shifts.yaml")
    app.session_state["session"] = Session.start(scenario, remote, Store(settings.store_path), open_prompt(settings))
    app.switch_page("ui/rehearse.py").run()
    button(app, "What could I say").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    assert f"You could say: {line}" in texts(app), texts(app)
    assert any(c.value.startswith("Or in your own words: ") for c in app.caption)
    assert any(c.value.startswith("From the card: ") for c in app.caption)
    assert len(remote.requests) == 1 and "Their next line:" in remote.requests[0].messages[-1].content


def test_difficulty_switch_mid_conversation_is_recorded(app: AppTest) -> None:
    start(app)
    app.selectbox[0].set_value("hard").run()
    assert not app.exception
    store = Store(Settings.from_env().store_path)
    events = store.events(store.sessions()[0].id)
    assert {"level": "hard"} in [e["detail"] for e in events if e["kind"] == "level"]


@pytest.mark.parametrize(("mode", "speaker"), [("trainee", "Therapist practice"), ("swap", "Swap roles")])
def test_trainee_and_swap_modes_play_another_cast(app: AppTest, mode: str, speaker: str) -> None:
    start(app, mode=mode)
    assert any(speaker in s.value for s in app.subheader)
    app.chat_input[0].set_value("What happened the last time you talked about it?").run()
    assert not app.exception
    store = Store(Settings.from_env().store_path)
    assert store.sessions()[0].mode == mode
    techniques = any("IPT techniques" in m.value for m in app.markdown)
    assert techniques == (mode == "trainee"), "trainee mode notes the therapist's techniques"


def test_review_shows_the_report_with_charts_exports_and_delete(app: AppTest) -> None:
    start(app)
    app.chat_input[0].set_value("You never listen, you're useless.").run()
    button(app, "Finish").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    app.switch_page("ui/review.py").run()
    assert not app.exception
    assert any("Pitfalls" in m.value for m in app.markdown)
    assert len(app.get("arrow_vega_lite_chart")) >= 2 or len(app.get("vega_lite_chart")) >= 2
    labels = [d.proto.label for d in app.get("download_button")]
    assert labels == ["Export as Markdown", "Export as JSON"]
    button(app, "Delete this session").click().run()  # type: ignore[attr-defined]
    button(app, "Yes, delete it").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    assert Store(Settings.from_env().store_path).sessions() == []


def test_review_rebuilds_the_report_of_a_session_left_without_ending(app: AppTest) -> None:
    start(app, mode="swap")
    app.chat_input[0].set_value("You never listen, you're useless.").run()
    button(app, "Take back").click().run()  # type: ignore[attr-defined]
    for line in ("I can't do Saturday, but I could ask around for you.", "It sounds like you're stuck."):
        app.chat_input[0].set_value(line).run()
    session = app.session_state["session"]
    would_have_stored = session.report().as_dict()
    later = AppTest.from_file(APP, default_timeout=120)  # the tab was closed: a new browser session
    later.run()
    later.switch_page("ui/review.py").run()
    assert not later.exception
    assert any("Not ended — report built from the 2 turns saved" in i.value for i in later.info)
    shown = " ".join(m.value for m in later.markdown)
    assert "Second tries" in shown and "Goals" in shown and "Next steps" in shown, shown
    assert any(t.startswith("Turn 1, first try: You never listen") for t in texts(later)), texts(later)
    assert len(later.get("arrow_vega_lite_chart")) >= 2 or len(later.get("vega_lite_chart")) >= 2
    store = Store(Settings.from_env().store_path)
    info = store.sessions()[0]
    assert info.ended_at is None and store.reports() == {}, "reviewing does not end the session"
    played = for_mode(load_scenario(SCENARIOS / "boss-extra-shifts.yaml"), info.mode)
    retriever = session.coach.retriever
    rebuilt = report_from_turns(played, info.level, store.turns(info.id), store.events(info.id), retriever)
    assert rebuilt.as_dict() == would_have_stored, "the same report Session.end() would have kept"
    note = "Not ended — report built from the 2 turns saved."
    exported = to_markdown({**session_data(store, info.id), "report": rebuilt.as_dict(), "report_note": note})
    assert "## Report: Swap roles" in exported and f"*{note}*" in exported


def test_review_and_progress_with_no_sessions_say_what_to_do(app: AppTest) -> None:
    app.run()
    app.switch_page("ui/review.py").run()
    assert any("No sessions yet" in i.value for i in app.info)
    app.switch_page("ui/progress.py").run()
    assert any("Finish a rehearsal" in i.value for i in app.info)


def test_progress_tracks_finished_sessions_and_ratings(app: AppTest) -> None:
    for line in ("You never help, ever.", "I hear you, that sounds exhausting."):
        start(app)
        app.chat_input[0].set_value(line).run()
        button(app, "Finish").click().run()  # type: ignore[attr-defined]
    app.switch_page("ui/progress.py").run()
    assert not app.exception
    assert any("**2** finished sessions" in m.value for m in app.markdown)
    assert app.multiselect[0].value == [
        "reflection",
        "open_question",
        "validation",
        "i_statement",
        "request",
        "boundary",
    ]
    assert len(app.get("arrow_vega_lite_chart")) + len(app.get("vega_lite_chart")) >= 2


def test_author_validates_live_previews_and_saves(app: AppTest, data_dir: Path) -> None:
    app.run()
    app.switch_page("ui/author.py").run()
    assert any(s.value.startswith("Valid") for s in app.success), "the template itself is valid"
    app.text_area[0].set_value("id: Bad Id\ntitle: x\n").run()
    assert app.error, "an invalid scenario shows errors"
    assert any("id:" in t for t in texts(app)), texts(app)
    template = (ROOT / "scenarios" / "boss-extra-shifts.yaml").read_text()
    mine = template.replace("id: boss-extra-shifts", "id: my-own-shift").replace(
        "title: Saying no to a third extra shift this month", "title: My own shift talk"
    )
    app.text_area[0].set_value(mine).run()
    button(app, "Save scenario").click().run()  # type: ignore[attr-defined]
    assert (data_dir / "scenarios" / "my-own-shift.yaml").read_text() == mine
    app.switch_page("ui/choose.py").run()
    assert app.button(key="pick-my-own-shift")


def test_settings_tests_the_connection_and_deletes_all_data(app: AppTest, data_dir: Path) -> None:
    start(app)
    app.chat_input[0].set_value("Hello.").run()
    app.switch_page("ui/settings.py").run()
    assert not app.exception
    assert any("Active: **fake**" in m.value for m in app.markdown)
    app.radio[0].set_value("compatible").run()
    app.text_input[1].set_value("http://127.0.0.1:9/v1").run()
    button(app, "Test the connection").click().run()  # type: ignore[attr-defined]
    assert app.error and "127.0.0.1:9" in app.error[0].value
    button(app, "Delete all my data").click().run()  # type: ignore[attr-defined]
    button(app, "Yes, delete everything").click().run()  # type: ignore[attr-defined]
    assert Store(Settings.from_env().store_path).sessions() == []


def test_usage_statistics_are_off() -> None:
    config = (ROOT / ".streamlit" / "config.toml").read_text()
    assert "gatherUsageStats = false" in config


def test_a_crisis_line_pauses_the_role_play_with_crisis_lines(app: AppTest) -> None:
    start(app)
    app.chat_input[0].set_value("I've been saving my pills, I won't be around much longer").run()
    assert not app.exception
    page = " ".join(m.value for m in app.markdown)
    assert "Pausing the role-play" in page and "Find a helpline" in page
    assert not app.chat_input, "no chat input while paused"
    store = Store(Settings.from_env().store_path)
    session_id = store.sessions()[0].id
    assert [t["speaker"] for t in store.turns(session_id)] == ["counterpart"], "the line was not saved or answered"
    assert button(app, "Continue the role-play").disabled  # type: ignore[attr-defined]
    app.checkbox[0].check().run()
    button(app, "Continue the role-play").click().run()  # type: ignore[attr-defined]
    assert not app.exception
    kinds = [e["kind"] for e in store.events(session_id)]
    assert kinds.count("safety") == 1 and "safety_confirmed_roleplay" in kinds
    assert [t["speaker"] for t in store.turns(session_id)] == ["counterpart", "user", "counterpart"]


def test_an_unreachable_model_is_named_and_the_line_is_kept(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REHEARSAL_MODEL", "openai:some-model")
    monkeypatch.setenv("REHEARSAL_BASE_URL", "http://127.0.0.1:9/v1")
    start(app)
    app.chat_input[0].set_value("I can't do Saturday.").run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert "127.0.0.1:9" in error and "No reply came." in error and "“Send it again”" in error, error
    store = Store(Settings.from_env().store_path)
    session_id = store.sessions()[0].id
    assert [t["text"] for t in store.turns(session_id)][-1] == "I can't do Saturday."
    assert [e["kind"] for e in store.events(session_id)] == ["model_error"]
