"""Progress across sessions, computed from the store's finished reports and self-ratings."""

from __future__ import annotations

from dataclasses import dataclass

from rehearsal.store import Store


@dataclass(frozen=True)
class ProgressRow:
    """One finished session, as the progress page plots it."""

    session_id: str
    scenario_id: str
    started_at: str
    lines: int
    listening_rate: float
    asserting_rate: float
    pitfall_rate: float
    calmer: bool
    distress_change: int | None
    confidence_change: int | None
    label_rates: dict[str, float]  # per label: share of the session's lines that showed it


def progress_rows(store: Store) -> list[ProgressRow]:
    """Finished sessions, oldest first."""
    reports = store.reports()
    rows = []
    for info in reversed(store.sessions()):
        report = reports.get(info.id)
        if report is None:
            continue
        lines = max(1, len(report.get("turn_labels", [])))
        pitfalls = len(report.get("pitfalls", []))
        mood = report.get("mood", [])
        ratings = {e["detail"]["when"]: e["detail"] for e in store.events(info.id) if e["kind"] == "rating"}
        both = "before" in ratings and "after" in ratings
        rows.append(
            ProgressRow(
                info.id,
                info.scenario_id,
                info.started_at,
                lines,
                report["listening"] / lines,
                report["asserting"] / lines,
                pitfalls / lines,
                len(mood) > 1 and mood[-1] < mood[0],
                ratings["after"]["distress"] - ratings["before"]["distress"] if both else None,
                ratings["after"]["confidence"] - ratings["before"]["confidence"] if both else None,
                {label: count / lines for label, count in report.get("label_counts", {}).items()},
            )
        )
    return rows
