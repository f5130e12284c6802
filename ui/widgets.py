"""Pieces more than one page shows: the scenario card, area names, safe Markdown for user text, trend charts."""

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


def trend_chart(
    series: dict[str, list[float]], x_title: str, y_title: str, colors: list[str] | None = None, height: int = 260
) -> None:
    """Lines with a point at each value over 1, 2, 3 … (st.line_chart draws nothing for a single
    value and labels a lone x as 0.000000; the first session is a trend too)."""
    import altair as alt
    import pandas as pd

    rows = [{"n": n, "series": name, "value": v} for name, values in series.items() for n, v in enumerate(values, 1)]
    last = max((len(values) for values in series.values()), default=1)
    color = alt.Color(
        "series:N",
        title=None,
        sort=list(series),
        scale=alt.Scale(domain=list(series), range=colors) if colors else alt.Scale(domain=list(series)),
        legend=alt.Legend(orient="bottom"),
    )
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "n:Q",
                title=x_title,
                scale=alt.Scale(domain=[0.5, last + 0.5]),
                axis=alt.Axis(tickMinStep=1, format="d"),
            ),
            y=alt.Y("value:Q", title=y_title),
            color=color,
            tooltip=["series:N", alt.Tooltip("n:Q", title=x_title), alt.Tooltip("value:Q", format=".2f")],
        )
        .properties(height=height)
    )
    st.altair_chart(chart, width="stretch")
