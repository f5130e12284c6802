"""Review: one session's report with charts, pitfalls and rewrites, second tries, exports, delete."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rehearsal.export import session_data, to_json, to_markdown
from rehearsal.modes import for_mode
from rehearsal.report import SessionReport, report_from_dict, report_from_turns
from rehearsal.scenarios import Library
from rehearsal.settings import Settings
from rehearsal.store import SessionInfo, Store
from rehearsal.taxonomy import ASSERTING, LABELS, LISTENING, PITFALLS, TITLES
from ui import state
from ui.widgets import escape


def _label(info: SessionInfo, titles: dict[str, str]) -> str:
    when = info.started_at.replace("T", " ")[:16]
    done = "" if info.ended_at else " (not ended)"
    return f"{when} · {titles.get(info.scenario_id, info.scenario_id)} · {info.mode}{done}"


def charts(report: dict[str, Any]) -> None:
    """Labels per turn, tension over the conversation, listening vs asserting."""
    turns = report.get("turn_labels") or []
    cols = st.columns(2)
    with cols[0]:
        st.markdown("**Tension over the conversation** (0 calm – 10 furious)")
        st.line_chart({"tension": report["mood"]}, x_label="turn", y_label="tension", height=220)
    with cols[1]:
        st.markdown("**Listening, asserting and pitfalls per turn**")
        if turns:
            rows = {
                "turn": list(range(1, len(turns) + 1)),
                "listening": [sum(label in LISTENING for label in t) for t in turns],
                "asserting": [sum(label in ASSERTING for label in t) for t in turns],
                "pitfalls": [sum(label in PITFALLS for label in t) for t in turns],
            }
            st.bar_chart(rows, x="turn", x_label="turn", height=220, color=["#2e7d32", "#1565c0", "#c62828"])
        else:
            st.caption("No lines were tagged.")
    counts = {TITLES[label]: report["label_counts"].get(label, 0) for label in LABELS}
    listening, asserting = report["listening"], report["asserting"]
    st.markdown(
        f"**Balance:** {listening} listening {'move' if listening == 1 else 'moves'}, "
        f"{asserting} asserting {'move' if asserting == 1 else 'moves'}."
    )
    if report.get("techniques"):
        used = ", ".join(f"{name} ×{count}" for name, count in report["techniques"].items())
        st.markdown(f"**IPT techniques used:** {used}")
    st.bar_chart(counts, horizontal=True, height=300)


def report_view(report_data: dict[str, Any]) -> None:
    """The report body."""
    report = report_from_dict(report_data)
    charts(report_data)
    st.markdown("#### Goals")
    for goal in report.goals:
        icon = ":material/check_box:" if goal["met"] else ":material/check_box_outline_blank:"
        st.markdown(f"{icon} {escape(goal['objective'])}")
    if report.pitfalls:
        st.markdown("#### Pitfalls, with another way to say it")
        for pitfall in report.pitfalls:
            with st.container(border=True):
                st.markdown(f":material/warning: **{TITLES[pitfall['label']]}**")
                st.text(f"You said: {pitfall['line']}")
                if pitfall["rewrite"]:
                    st.text(f"Try: {pitfall['rewrite']}")
    if report.retries:
        st.markdown("#### Second tries")
        for retry in report.retries:
            with st.container(border=True):
                before = ", ".join(TITLES[label] for label in retry["before_labels"]) or "no label"
                after = ", ".join(TITLES[label] for label in retry["after_labels"]) or "no label"
                st.text(f"Turn {retry['turn']}, first try: {retry['before']}  [{before}]")
                if retry["after"] is not None:
                    st.text(f"Second try: {retry['after']}  [{after}]")
    if report.next_steps:
        st.markdown("#### Next steps")
        for step in report.next_steps:
            with st.expander(f"{step.text}"):
                st.caption(f"Card: {step.card_title} ({step.card_id})")
                st.markdown(state.card_text(step.card_id))


def unended_report(settings: Settings, library: Library, store: Store, info: SessionInfo) -> SessionReport | None:
    """The report of a session left without ending, built from its stored lines (None if it cannot be)."""
    if info.scenario_id not in library.scenarios:
        return None
    scenario = for_mode(library.scenarios[info.scenario_id], info.mode)
    report = report_from_turns(
        scenario, info.level, store.turns(info.id), store.events(info.id), state.retriever(settings)
    )
    return report if report.turn_labels else None


def rating_after(store: Store, session_id: str, ratings: list[dict[str, Any]]) -> None:
    """The optional after-rating, next to the before-rating if there was one."""
    before = next((r for r in ratings if r["when"] == "before"), None)
    after = next((r for r in ratings if r["when"] == "after"), None)
    if after is not None:
        if before is not None:
            st.markdown(
                f"**Distress** {before['distress']} → {after['distress']} · "
                f"**Confidence** {before['confidence']} → {after['confidence']}"
            )
        return
    with st.expander("How do you feel about the real conversation now? (optional)"):
        distress = st.slider("Distress (0 calm – 10 overwhelmed)", 0, 10, 5, key="distress_after")
        confidence = st.slider("Confidence (0 none – 10 complete)", 0, 10, 5, key="confidence_after")
        if st.button("Save my rating"):
            store.add_event(
                session_id, None, "rating", {"when": "after", "distress": distress, "confidence": confidence}
            )
            st.rerun()


def page() -> None:
    """Render the review of one session."""
    settings = state.settings()
    store = state.store(settings)
    library = state.library(settings)
    st.title("Review")
    sessions = store.sessions()
    if not sessions:
        st.info("No sessions yet. Rehearse a conversation and finish it to see its report here.")
        return
    titles = {sid: s.title for sid, s in library.scenarios.items()}
    ids = [s.id for s in sessions]
    by_id = {s.id: s for s in sessions}
    wanted = state.get("finished")
    chosen = st.selectbox(
        "Session", ids, index=ids.index(wanted) if wanted in ids else 0, format_func=lambda i: _label(by_id[i], titles)
    )
    data = session_data(store, chosen)
    name = (
        library.scenarios[by_id[chosen].scenario_id].persona.name
        if by_id[chosen].scenario_id in library.scenarios
        else "Counterpart"
    )
    if data["report"]:
        report_view(data["report"])
    elif rebuilt := unended_report(settings, library, store, by_id[chosen]):
        n = len(rebuilt.turn_labels)
        note = f"Not ended — report built from the {n} {'turn' if n == 1 else 'turns'} saved."
        st.info(
            f":material/history: **{note}** The session was left before it was finished; this covers what was said until then."
        )
        data = {**data, "report": rebuilt.as_dict(), "report_note": note}
        report_view(data["report"])
    else:
        why = "has no answered lines" if by_id[chosen].scenario_id in library.scenarios else "its scenario is gone"
        st.caption(f"This session was not ended and {why}, so it has no report; its transcript is below.")
    rating_after(store, chosen, data["ratings"])
    with st.expander("Transcript"):
        for turn in data["turns"]:
            who = "You" if turn["speaker"] == "user" else name
            mark = " (taken back)" if turn["taken_back"] else ""
            st.text(f"{who}{mark}: {turn['text']}")
    cols = st.columns(3)
    cols[0].download_button(
        "Export as Markdown", to_markdown(data, name), file_name=f"rehearsal-{chosen}.md", mime="text/markdown"
    )
    cols[1].download_button(
        "Export as JSON", to_json(data), file_name=f"rehearsal-{chosen}.json", mime="application/json"
    )
    if cols[2].button("Delete this session", type="secondary"):
        st.session_state["confirm_delete"] = chosen
    if state.get("confirm_delete") == chosen:
        st.warning("Delete this session and everything said in it? This cannot be undone.")
        if st.button("Yes, delete it", type="primary"):
            store.delete_session(chosen)
            st.session_state.pop("confirm_delete", None)
            st.session_state.pop("finished", None)
            st.rerun()


page()
