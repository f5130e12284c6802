"""Author: write or edit a scenario as YAML, with live validation and a preview; saved to the user's folder."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from rehearsal.errors import ScenarioError
from rehearsal.scenarios import Library, parse_scenario, scenario_template
from ui import state
from ui.widgets import scenario_card


def page() -> None:
    """Render the scenario editor."""
    settings = state.settings()
    library = state.library(settings)
    folder = settings.data_dir / "scenarios"
    st.title("Write a scenario")
    st.caption(f"Your scenarios are saved in {folder}. The format is explained in scenarios/README.md.")
    ids = sorted(library.scenarios)
    source = st.selectbox("Start from", ["(the template)", *ids], key="author_source")
    if state.get("author_loaded") != source:
        text = scenario_template() if source == "(the template)" else library.paths[source].read_text(encoding="utf-8")
        st.session_state["author_text"] = text
        st.session_state["author_loaded"] = source
    editor, result = st.columns([3, 2])  # what is wrong stays in view beside the text (below it on a phone)
    text = editor.text_area("Scenario YAML", key="author_text", height=480)
    with result:
        check(text, library, folder)


def check(text: str, library: Library, folder: Path) -> None:
    """Problems with their lines, or the preview and the save button."""
    try:
        scenario = parse_scenario(text, "(editor)")
    except ScenarioError as exc:
        st.error("Not valid yet:")
        for problem in exc.problems:
            where = f"line {problem.line}: " if problem.line else ""
            st.text(f"{where}{problem.field}: {problem.reason}")
        return
    st.success(f"Valid. It will be saved as {scenario.id}.yaml.")
    with st.expander("Preview", expanded=True):
        scenario_card(scenario, "medium", key="author-preview", pick=False)
    target = folder / f"{scenario.id}.yaml"
    builtin = scenario.id in library.scenarios and library.paths[scenario.id].parent != folder
    if builtin:
        st.warning(f"A built-in scenario already has the id '{scenario.id}': choose another id to save your own.")
    if st.button("Save scenario", type="primary", disabled=builtin):
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        st.success(f"Saved {target}. It is now in the library.")


page()
