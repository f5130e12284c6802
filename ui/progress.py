"""Progress: skill trends across finished sessions, scenarios done, and self-ratings over time."""

from __future__ import annotations

import streamlit as st

from rehearsal.progress import progress_rows
from rehearsal.taxonomy import LABELS, SKILLS, TITLES
from ui import state
from ui.widgets import trend_chart


def page() -> None:
    """Render progress across sessions."""
    settings = state.settings()
    store = state.store(settings)
    library = state.library(settings)
    st.title("Progress")
    rows = progress_rows(store)
    if not rows:
        st.info("Finish a rehearsal to start tracking your progress.")
        return
    st.markdown("**Per line, across your finished sessions** (share of your lines showing each kind of move)")
    trend_chart(
        {
            "listening": [r.listening_rate for r in rows],
            "asserting": [r.asserting_rate for r in rows],
            "pitfalls": [r.pitfall_rate for r in rows],
        },
        "session",
        "share of lines",
        colors=["#2e7d32", "#1565c0", "#c62828"],
    )
    st.markdown("**Skill by skill**")
    chosen = st.multiselect(
        "Skills and pitfalls to follow", list(LABELS), default=list(SKILLS), format_func=lambda label: TITLES[label]
    )
    if chosen:
        trend_chart(
            {TITLES[label]: [r.label_rates.get(label, 0.0) for r in rows] for label in chosen},
            "session",
            "share of lines",
        )
    calmer = sum(r.calmer for r in rows)
    st.markdown(f"**{len(rows)}** finished sessions; the counterpart ended calmer than it started in **{calmer}**.")
    rated = [r for r in rows if r.distress_change is not None]
    if rated:
        st.markdown("**Self-ratings** (after minus before)")
        trend_chart(
            {
                "distress": [float(r.distress_change or 0) for r in rated],
                "confidence": [float(r.confidence_change or 0) for r in rated],
            },
            "rated session",
            "change",
            height=200,
        )
    st.markdown("#### Scenarios done")
    done: dict[str, int] = {}
    for r in rows:
        done[r.scenario_id] = done.get(r.scenario_id, 0) + 1
    for sid, count in sorted(done.items(), key=lambda kv: -kv[1]):
        title = library.scenarios[sid].title if sid in library.scenarios else sid
        st.markdown(f"- {title} — {count}×")


page()
