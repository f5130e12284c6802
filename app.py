"""The rehearsal room (Streamlit). Renders and dispatches; the work happens in `rehearsal`."""

from __future__ import annotations

import streamlit as st

from rag.retriever import ChromaRetriever
from rehearsal.coach import Coach
from rehearsal.errors import RehearsalError
from rehearsal.models import ChatModel, describe_model_choice, get_model
from rehearsal.scenario import Scenario
from rehearsal.scenarios import Library, load_library
from rehearsal.session import Session, open_prompt
from rehearsal.settings import Settings
from rehearsal.store import Store
from rehearsal.tagger import SkillTagger, load_tagger
from rehearsal.taxonomy import TITLES

LEVELS = ("easy", "medium", "hard")


@st.cache_resource(show_spinner=False)
def cached_model(settings: Settings) -> ChatModel:
    """One model (and, for the local one, one server) per process."""
    return get_model(settings)


@st.cache_resource(show_spinner=False)
def cached_coach_parts(settings: Settings) -> tuple[SkillTagger, ChromaRetriever]:
    """The skill tagger and the card index, loaded once per process."""
    return load_tagger(), ChromaRetriever(settings.index_dir, settings.chroma_url)


@st.cache_resource(show_spinner=False)
def cached_store(settings: Settings) -> Store:
    """One connection to the session store per process."""
    return Store(settings.store_path)


def sidebar(library: Library, settings: Settings) -> tuple[Scenario | None, str]:
    """Scenario and difficulty pickers, model status and broken files."""
    with st.sidebar:
        st.header("Rehearsal room")
        ids = sorted(library.scenarios, key=lambda i: library.scenarios[i].title)
        chosen = st.selectbox("Scenario", ids, format_func=lambda i: library.scenarios[i].title) if ids else None
        scenario = library.scenarios[chosen] if chosen else None
        level = st.radio("Difficulty", LEVELS, index=1, horizontal=True)
        if scenario is not None:
            st.caption(getattr(scenario.difficulty, level).description)
        if st.button("Start a new conversation", type="primary", use_container_width=True):
            st.session_state.pop("session", None)
            st.session_state["start"] = (chosen, level)
        st.caption(f"Model: {describe_model_choice(settings)}")
        if library.broken:
            with st.expander(f"{len(library.broken)} scenario file(s) could not be loaded"):
                for broken in library.broken:
                    st.text(str(broken.error))
    return scenario, level


def scenario_card(scenario: Scenario) -> None:
    """What the user reads before speaking."""
    st.subheader(scenario.title)
    st.markdown(f"**The situation.** {scenario.situation}")
    st.markdown(f"**You are** {scenario.user_role[0].lower() + scenario.user_role[1:]}")
    st.markdown(f"**Your goal.** {scenario.user_goal}")
    persona = scenario.persona
    st.markdown(f"**You will talk to** {persona.name}, {persona.relationship}.")


def start_session(library: Library, settings: Settings) -> None:
    """Create the session requested by the Start button (loads the model on first use)."""
    scenario_id, level = st.session_state.pop("start")
    with st.spinner("Getting the counterpart ready (the local model takes a few seconds the first time)…"):
        try:
            model = cached_model(settings)
            scenario = library.scenarios[scenario_id]
            coach = Coach(scenario, *cached_coach_parts(settings))
            st.session_state["session"] = Session.start(
                scenario, model, cached_store(settings), open_prompt(settings), level, coach=coach
            )
        except RehearsalError as exc:
            st.error(f"Could not start: {exc}")


def conversation(session: Session) -> None:
    """The transcript, the mood meter and the chat input."""
    counterpart = session.counterpart
    scenario = counterpart.scenario
    name = scenario.persona.name
    tension = counterpart.mood.tension
    st.progress(min(1.0, tension / 10), text=f"{name}'s tension: {tension:.1f} / 10 ({counterpart.mood.band.value})")
    for speaker, said in session.transcript:
        with st.chat_message("assistant" if speaker == "counterpart" else "user"):
            st.text(said)
    if text := st.chat_input(f"What do you say to {name}?"):
        with st.chat_message("user"):
            st.text(text)
        with st.chat_message("assistant"):
            try:
                st.write_stream(session.say(text))
            except RehearsalError as exc:
                st.error(f"{exc}. Your line is saved; send it again to retry.")
                return
        st.rerun()


def feedback_panel(session: Session) -> None:
    """Labels, evidence and tips for the user's last line, each citing its card."""
    st.markdown("#### Feedback")
    feedback = session.last_feedback
    if feedback is None:
        st.caption("Say something: feedback on your line appears here.")
        return
    if not feedback.labels:
        st.caption("No skill or pitfall stood out in that line.")
    for item in feedback.items:
        mark = "✅" if item.kind == "well" else "➡️"
        st.markdown(f"{mark} **{TITLES[item.label]}**")
        st.text(item.text)
        if item.evidence:
            st.caption(f"In your words: “{item.evidence}”")
        if item.card_id:
            st.caption(f"Card: {item.card_title} ({item.card_id})")
    if feedback.rewrite:
        st.markdown("**You could try:**")
        st.text(feedback.rewrite)


def main() -> None:
    """Page entry point."""
    st.set_page_config(page_title="Rehearsal room", page_icon="💬", layout="wide")
    settings = Settings.from_env()
    library = load_library(settings.scenario_dirs)
    scenario, _ = sidebar(library, settings)
    if "start" in st.session_state:
        start_session(library, settings)
    session: Session | None = st.session_state.get("session")
    if session is None:
        if scenario is not None:
            scenario_card(scenario)
            st.info("Read the situation, pick a difficulty, then press **Start a new conversation**.")
        else:
            st.warning("No scenarios found. Add YAML files to the scenarios folder.")
        return
    with st.expander("Scenario", expanded=False):
        scenario_card(session.counterpart.scenario)
    chat, side = st.columns([3, 2])
    with side:
        feedback_panel(session)
    with chat:
        conversation(session)


main()
