"""Settings: which model plays the counterpart (with a connection test), and the user's data."""

from __future__ import annotations

import shutil

import streamlit as st

from rehearsal.errors import RehearsalError
from rehearsal.models import Generation, Message, describe_model_choice, get_model
from rehearsal.settings import Settings
from ui import state

KINDS = {
    "local": "Embedded model (offline, default)",
    "local-small": "Embedded small model (faster, weaker)",
    "openai": "OpenAI (needs OPENAI_API_KEY)",
    "compatible": "OpenAI-compatible server (vLLM, Ollama, LM Studio)",
}


def connection_test(settings: Settings) -> str:
    """Ask the model for a few tokens; return what it said (raises RehearsalError on failure)."""
    model = state.model_loader(settings).wait() if settings.model in ("local", "local-small") else get_model(settings)
    chunks = model.stream([Message("user", "Say hello in two words.")], Generation(max_tokens=6, temperature=0.0))
    return "".join(chunks).strip() or "(an empty reply)"


def model_section(settings: Settings) -> None:
    """Choose and test the model."""
    st.markdown("#### Model")
    st.markdown(f"Active: **{describe_model_choice(settings)}** — {state.model_loader(settings).status()}")
    current = settings.model
    kind = (
        current
        if current in ("local", "local-small")
        else ("compatible" if settings.base_url else "openai" if current.startswith("openai:") else "local")
    )
    kinds = list(KINDS)
    choice = st.radio("Who plays the counterpart", kinds, index=kinds.index(kind), format_func=KINDS.get)
    name, url = choice, None
    if choice in ("openai", "compatible"):
        default = current.removeprefix("openai:") if current.startswith("openai:") else "gpt-4o-mini"
        name = "openai:" + st.text_input("Model name", value=default).strip()
    if choice == "compatible":
        url = st.text_input("Base URL", value=settings.base_url or "http://127.0.0.1:11434/v1").strip()
    chosen = Settings.from_env(model=name, base_url=url)
    buttons = st.container(horizontal=True)
    if buttons.button("Test the connection"):
        try:
            with st.spinner("Asking the model for a few words…"):
                said = connection_test(chosen)
            st.success(f"Connected: {describe_model_choice(chosen)} answered “{said}”.")
        except RehearsalError as exc:
            st.error(f"Could not reach {describe_model_choice(chosen)}: {exc}")
    if buttons.button("Use this model", type="primary"):
        state.save_choices(settings.data_dir, {"model": name, "base_url": url})
        st.session_state.pop("session", None)
        st.success(f"From the next conversation on, {describe_model_choice(chosen)} plays the counterpart.")
        st.rerun()


def data_section(settings: Settings) -> None:
    """Where the data lives, and deleting all of it."""
    st.markdown("#### Your data")
    st.markdown(
        f"Everything stays on this machine, in `{settings.data_dir}`: your sessions (`sessions.sqlite3`), "
        "your own scenarios (`scenarios/`), your model choice, and the card index. Nothing is sent anywhere "
        "unless you choose a remote model, which then receives the conversation."
    )
    if st.button("Delete all my data"):
        st.session_state["confirm_wipe"] = True
    if state.get("confirm_wipe"):
        st.warning("This deletes every session, every scenario you wrote, and your settings. It cannot be undone.")
        if st.button("Yes, delete everything", type="primary"):
            state.store(settings).delete_all()
            shutil.rmtree(settings.data_dir / "scenarios", ignore_errors=True)
            (settings.data_dir / state.APP_SETTINGS).unlink(missing_ok=True)
            for key in ("confirm_wipe", "session", "finished", "report"):
                st.session_state.pop(key, None)
            st.success("All your sessions, scenarios and settings were deleted.")


def page() -> None:
    """Render settings."""
    settings = state.settings()
    st.title("Settings")
    model_section(settings)
    data_section(settings)


page()
