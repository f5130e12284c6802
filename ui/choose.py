"""Choose: the scenario library with filters, one card per scenario, and broken files with reasons."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from rehearsal.scenario import ProblemArea, Scenario, Skill
from rehearsal.taxonomy import TITLES
from ui import state
from ui.widgets import AREA_TITLES, LEVELS, scenario_card


def matches(
    scenario: Scenario, areas: Sequence[str], skills: Sequence[str], settings_: Sequence[str], boundary: bool
) -> bool:
    """Does the scenario pass the chosen filters (an empty filter passes everything)?"""
    return (
        (not areas or scenario.problem_area.value in areas)
        and (not skills or any(s.value in skills for s in scenario.skills_in_focus))
        and (not settings_ or scenario.setting in settings_)
        and (not boundary or scenario.boundary_setting)
    )


def page() -> None:
    """Render the library."""
    settings = state.settings()
    library = state.library(settings)
    st.title("Choose a conversation to rehearse")
    st.caption(
        "A rehearsal tool for hard conversations, built on interpersonal psychotherapy (IPT). "
        "It is practice, not therapy or crisis care."
    )
    scenarios = sorted(library.scenarios.values(), key=lambda s: (s.problem_area.value, s.title))
    with st.expander("Filters", expanded=False):
        cols = st.columns(2)
        areas = cols[0].multiselect(
            "IPT problem area", [a.value for a in ProblemArea], format_func=lambda a: AREA_TITLES[ProblemArea(a)]
        )
        skills = cols[1].multiselect("Skill in focus", [s.value for s in Skill], format_func=lambda s: TITLES[s])
        cols = st.columns(2)
        settings_ = cols[0].multiselect("Relationship", sorted({s.setting for s in scenarios}))
        level = cols[1].selectbox("Difficulty", LEVELS, index=1, format_func=str.title)
        boundary = st.toggle("Only boundary-setting (saying no, setting a limit)")
    shown = [s for s in scenarios if matches(s, areas, skills, settings_, boundary)]
    st.caption(f"{len(shown)} of {len(scenarios)} scenarios")
    if not scenarios:
        st.warning("No scenarios found. Add YAML files to the scenarios folder, or write one on the Author page.")
    columns = st.columns(2)
    for i, scenario in enumerate(shown):
        with columns[i % 2]:
            scenario_card(scenario, level, key=f"pick-{scenario.id}")
    if library.broken:
        with st.expander(f"{len(library.broken)} scenario file(s) could not be loaded", expanded=True):
            for broken in library.broken:
                st.markdown(f"**{broken.path.name}**")
                st.text(str(broken.error))


page()
