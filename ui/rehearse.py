"""Rehearse: the conversation, the tension meter, live feedback, rewind, difficulty and hints."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from rehearsal.coach import Coach
from rehearsal.errors import ModelError, RehearsalError
from rehearsal.feedback import TurnFeedback
from rehearsal.hints import phrase, suggest
from rehearsal.modes import MODE_HELP, MODE_TITLES, Mode, for_mode
from rehearsal.safety import PAUSE_MESSAGE, crisis_resources
from rehearsal.safety_review import detector_for
from rehearsal.scenario import Scenario
from rehearsal.session import ModelFailure, Session, open_prompt
from rehearsal.settings import Settings
from rehearsal.taxonomy import PITFALLS, TITLES
from ui import state
from ui.widgets import LEVELS, describe_area, escape, highlighted

REVIEW_PAGE = "ui/review.py"


def intro(scenario: Scenario, settings: Settings) -> None:
    """Before the conversation: the situation, mode, difficulty, optional rating, start."""
    state.crisis_screen_warming()
    st.title(scenario.title)
    st.caption(describe_area(scenario))
    st.markdown(f"**The situation.** {scenario.situation}")
    st.markdown(f"**Your role.** {scenario.user_role}")
    st.markdown(f"**Your goal.** {scenario.user_goal}")
    st.markdown(f"**You will talk to** {scenario.persona.name}, {scenario.persona.relationship}.")
    with st.expander("What to practise"):
        for objective in scenario.learning_objectives:
            st.markdown(f"- {objective}")
    mode = st.radio("Mode", list(Mode), format_func=lambda m: MODE_TITLES[Mode(m)], horizontal=True) or Mode.client
    st.caption(MODE_HELP[Mode(mode)])
    level = st.radio(
        "Difficulty", LEVELS, index=LEVELS.index(state.get("level", "medium")), horizontal=True, format_func=str.title
    )
    st.caption(getattr(scenario.difficulty, level).description)
    with st.expander("Before you start: how do you feel about this conversation? (optional)"):
        rate = st.checkbox("Record how I feel now", key="rate_before")
        distress = st.slider("Distress (0 calm – 10 overwhelmed)", 0, 10, 5, key="distress_before")
        confidence = st.slider("Confidence (0 none – 10 complete)", 0, 10, 5, key="confidence_before")
    if st.button("Start the conversation", type="primary"):
        start(scenario, settings, Mode(mode), level, (distress, confidence) if rate else None)
        st.rerun()


def start(scenario: Scenario, settings: Settings, mode: Mode, level: str, rating: tuple[int, int] | None) -> None:
    """Create the session, waiting for the model only if it is still starting."""
    loader = state.model_loader(settings)
    with st.spinner("Waiting for the model to finish starting…" if not loader.ready else "Starting…"):
        try:
            model = loader.wait()
            played = for_mode(scenario, mode)
            coach = Coach(played, *state.coach_parts(settings), trainee=mode is Mode.trainee)
            session = Session.start(
                played,
                model,
                state.store(settings),
                open_prompt(settings),
                level,
                coach=coach,
                mode=mode.value,
                safety=detector_for(settings, model),
            )
        except RehearsalError as exc:
            st.session_state["start_error"] = f"Could not start: {exc}"
            return
    if rating is not None:
        session.store.add_event(
            session.id, None, "rating", {"when": "before", "distress": rating[0], "confidence": rating[1]}
        )
    st.session_state["session"] = session
    st.session_state.pop("start_error", None)


def meter(session: Session) -> None:
    """The counterpart's tension, 0–10."""
    mood = session.counterpart.mood
    name = session.counterpart.scenario.persona.name
    st.progress(min(1.0, mood.tension / 10), text=f"{name}'s tension: {mood.tension:.1f} / 10 ({mood.band.value})")


def conversation(session: Session) -> None:
    """The transcript, what was shown of a reply the model never finished, and the chat input."""
    log = st.container()  # new lines stream in above the input box, where the transcript is
    notice = st.empty()
    failures = session.failures()  # from the record, so a cut-off reply stays on screen across reruns
    last = len(session.transcript) - 1
    again = session.unanswered is not None and unanswered_notice(notice, failures.get(last))
    text = st.chat_input(f"What do you say to {session.counterpart.scenario.persona.name}?")
    if again or (text and text == session.unanswered):  # the line on screen is sent again
        text, again = session.unanswered, True
        failures.pop(last, None)  # its new reply takes the place of the cut-off one
    with log:
        for place, (speaker, said) in enumerate(session.transcript):
            with st.chat_message("assistant" if speaker == "counterpart" else "user"):
                st.text(said)
            if (failure := failures.get(place)) and failure.partial_reply:
                with st.chat_message("assistant"):
                    st.text(failure.partial_reply)
                    st.caption("(cut off)")
    if text:
        notice.empty()
        send(session, log, text, shown=again)


def unanswered_notice(slot: DeltaGenerator, failure: ModelFailure | None) -> bool:
    """In `slot`: why the last line has no reply and the ways on; True when the user asks to send it again."""
    if failure is None:
        reason = "No reply came."
    else:
        error = failure.error[:1].upper() + failure.error[1:]
        if failure.partial_reply:
            reason = f"{error}. The reply was cut off; the part shown is kept in the record, marked as partial."
        else:
            reason = f"{error}. No reply came."
    with slot.container():
        st.error(
            f"{reason} Your line is saved: press “Send it again” to retry it, "
            "or “Take back my last line” to say it another way."
        )
        return st.button("Send it again", icon=":material/refresh:", key="send-again")


def send(session: Session, log: DeltaGenerator, text: str, shown: bool = False) -> None:
    """Screen the line, then stream the reply into the log; `shown`: the line is on screen already."""
    if session.screen(text).crisis:  # before the line is saved or the counterpart sees it
        st.session_state["held_line"] = text
        st.rerun()
    with log:
        speak(session, text, show_line=not shown)


def speak(session: Session, text: str, confirmed_roleplay: bool = False, show_line: bool = True) -> None:
    """Show the user's line and stream the reply; a model failure is recorded and shown on the next run."""
    if show_line:
        with st.chat_message("user"):
            st.text(text)
    with st.chat_message("assistant"):
        try:
            st.write_stream(session.say(text, confirmed_roleplay=confirmed_roleplay))
        except ModelError:
            pass  # recorded with what was shown of the reply: the next run shows both from the record
        except RehearsalError as exc:
            st.session_state["turn_error"] = f"{exc}."
    st.rerun()


def safety_pause(session: Session, settings: Settings) -> None:
    """The role-play is paused: a calm message, crisis lines, and the two ways on."""
    with st.container(border=True):
        st.markdown("### :material/health_and_safety: Pausing the role-play")
        st.markdown(PAUSE_MESSAGE)
        st.markdown("**If you are in danger or thinking of harming yourself or someone else, please contact:**")
        for resource in crisis_resources(settings.region):
            note = f" — {resource.note}" if resource.note else ""
            st.markdown(f"- **{resource.name}:** {escape(resource.contact)}{note}")
        st.caption(f"{session.counterpart.scenario.persona.name} has not seen your line. It was not saved.")
        if st.button("End the session", type="primary"):
            session.end()
            for key in ("held_line", "session"):
                st.session_state.pop(key, None)
            st.switch_page("ui/choose.py")
        sure = st.checkbox("That line was part of the role-play, and I am safe right now.")
        if st.button("Continue the role-play", disabled=not sure):
            held = st.session_state.pop("held_line")
            speak(session, held, confirmed_roleplay=True)


def feedback_panel(session: Session) -> None:
    """Labels with the evidence marked in the user's line, tips with their cards, a rewrite."""
    st.markdown("#### Feedback on your last line")
    if session.coach is not None and session.coach.tagger.why_fallback:
        st.warning(
            "Feedback comes from a simpler stand-in skill tagger, so its labels are less accurate than usual: "
            f"{session.coach.tagger.why_fallback}.",
            icon=":material/info:",
        )
    feedback: TurnFeedback | None = session.last_feedback
    if feedback is None:
        st.caption("Say something: feedback on your line appears here.")
        return
    line = next((said for speaker, said in reversed(session.transcript) if speaker == "user"), "")
    if not feedback.labels:
        st.caption("No skill or pitfall stood out in that line.")
    for item in feedback.items:
        pitfall = item.label in PITFALLS
        mark = (
            ":material/warning:"
            if pitfall
            else (":material/check_circle:" if item.kind == "well" else ":material/arrow_forward:")
        )
        st.markdown(f"{mark} **{TITLES[item.label]}**")
        if item.evidence:
            st.markdown(highlighted(line, item.evidence, "orange" if pitfall else "green"))
        st.text(item.text)
        if item.card_id:
            with st.expander(f"Card: {item.card_title}"):
                st.caption(f"Card id: {item.card_id}")
                card = state.card_text(item.card_id)
                if card:
                    st.markdown(card)
    if feedback.techniques:
        st.markdown("#### IPT techniques")
        for note in feedback.techniques:
            icon = ":material/check_circle:" if note.used else ":material/arrow_forward:"
            st.markdown(f"{icon} **{note.title}**")
            st.text(note.text)
            with st.expander(f"Card: {note.title}"):
                st.markdown(state.card_text(note.card_id))
    if feedback.rewrite:
        st.markdown("**You could try:**")
        st.text(feedback.rewrite)


def controls(session: Session, settings: Settings) -> None:
    """Rewind, hint, difficulty, end: one row that wraps on a narrow screen, every label whole."""
    row = st.container(horizontal=True, vertical_alignment="center")
    if row.button("Take back my last line", icon=":material/undo:", disabled=not session.can_rewind):
        unanswered = session.unanswered is not None
        taken = session.rewind()
        st.session_state["rewound"] = (taken, unanswered)
        st.rerun()
    if row.button("What could I say?", icon=":material/lightbulb:"):
        _tagger, retriever = state.coach_parts(settings)
        used = session.coach.used if session.coach else set()
        last = session.last_feedback.labels if session.last_feedback else []
        scenario, model = session.counterpart.scenario, session.counterpart.model
        with st.spinner("Finding words for it…"):  # only a capable remote model is asked; the rest is instant
            hint = phrase(
                suggest(scenario, used, last, retriever), scenario, session.transcript, model, settings.prompts_dir
            )
        st.session_state["hint"] = hint
        st.rerun()
    current = LEVELS.index(session.counterpart.level_name)
    level = row.selectbox(
        "Difficulty",
        LEVELS,
        index=current,
        format_func=lambda name: f"Difficulty: {name}",
        label_visibility="collapsed",
        width=190,
    )
    if LEVELS[current] != level:
        session.set_level(level)
        st.rerun()
    if row.button("Finish and see the report", type="primary"):
        st.session_state["finished"] = session.id
        st.session_state["report"] = session.end()
        st.session_state.pop("session", None)
        st.switch_page(REVIEW_PAGE)


def notices(session: Session) -> None:
    """One-off messages from the last action."""
    if rewound := st.session_state.pop("rewound", None):
        taken, unanswered = rewound
        kept = "It stays in the record" if unanswered else "Both tries stay in the record"
        st.info(f"Taken back: “{taken}”. {kept}; say it another way.")
    if error := st.session_state.pop("turn_error", None):
        st.error(error)
    if hint := st.session_state.pop("hint", None):
        with st.container(border=True):
            st.markdown(f":material/lightbulb: **{hint.title}.** {hint.why}")
            if hint.line:
                st.text(f"You could say: {hint.line}")
                st.caption(f"Or in your own words: {hint.stem}")
            else:
                st.text(f"For example: {hint.stem}")
            if hint.card_id:
                st.caption(f"From the card: {hint.card_title} ({hint.card_id})")


def page() -> None:
    """Render the rehearsal room."""
    settings = state.settings()
    library = state.library(settings)
    session: Session | None = state.get("session")
    if session is None:
        chosen = state.get("chosen")
        if chosen not in library.scenarios:
            st.title("Rehearse")
            st.info("Pick a scenario on the Choose page first.")
            if st.button("Go to the library"):
                st.switch_page("ui/choose.py")
            return
        if error := st.session_state.pop("start_error", None):
            st.error(error)
        intro(library.scenarios[chosen], settings)
        return
    scenario = session.counterpart.scenario
    st.subheader(scenario.title)
    st.caption(f"{MODE_TITLES[Mode(session.mode)]} · your goal: {scenario.user_goal}")
    if state.get("held_line"):
        safety_pause(session, settings)
        return
    meter(session)
    controls(session, settings)
    notices(session)
    chat, side = st.columns([3, 2])
    with side:
        feedback_panel(session)
    with chat:
        conversation(session)


page()
