"""Pieces more than one page shows: the scenario card, area names, safe Markdown for user text."""

from __future__ import annotations

import re

import streamlit as st

from rehearsal.scenario import ProblemArea, Scenario
from rehearsal.taxonomy import TITLES

REHEARSE_PAGE = "ui/rehearse.py"
AREA_TITLES = {
    ProblemArea.role_dispute: "Role dispute",
    ProblemArea.role_transition: "Role transition",
    ProblemArea.grief: "Grief",
    ProblemArea.interpersonal_deficits: "Interpersonal deficits",
}
LEVELS = ("easy", "medium", "hard")


def describe_area(scenario: Scenario) -> str:
    """'Role dispute · impasse · boundary-setting'."""
    parts = [AREA_TITLES[scenario.problem_area]]
    if scenario.dispute_stage:
        parts.append(scenario.dispute_stage.value)
    if scenario.boundary_setting:
        parts.append("boundary-setting")
    return " · ".join(parts)


def scenario_card(scenario: Scenario, level: str, key: str, pick: bool = True) -> None:
    """One scenario in the library (with a button to rehearse it when `pick`)."""
    with st.container(border=True):
        st.markdown(f"**{scenario.title}**")
        st.caption(f"{describe_area(scenario)} · {scenario.setting}")
        st.text(scenario.situation)
        st.markdown(f"**Your goal.** {scenario.user_goal}")
        persona = scenario.persona
        st.markdown(f"**You will talk to** {persona.name}, {persona.relationship}.")
        st.caption("Skills in focus: " + ", ".join(TITLES[s.value] for s in scenario.skills_in_focus))
        st.caption(f"{level.title()}: {getattr(scenario.difficulty, level).description}")
        if pick and st.button("Rehearse this", key=key, type="primary"):
            st.session_state["chosen"] = scenario.id
            st.session_state["level"] = level
            st.session_state.pop("session", None)
            st.switch_page(REHEARSE_PAGE)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|:~$])")


def escape(text: str) -> str:
    """User or model text made inert for st.markdown (no links, HTML, directives or emphasis)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def highlighted(line: str, span: str, color: str) -> str:
    """The line as Markdown with the evidence span marked (both escaped first)."""
    at = line.find(span) if span else -1
    if at < 0:
        return escape(line)
    before, after = escape(line[:at]), escape(line[at + len(span) :])
    return f"{before}:{color}-background[{escape(span)}]{after}"
