"""A stored session as a file the user keeps: Markdown for reading, JSON for tools.

Every line of user and model text is escaped in Markdown (it can never become a link, HTML or a
heading) and is plain data in JSON.
"""

from __future__ import annotations

import json
from typing import Any

from rehearsal.report import escape_markdown, report_from_dict
from rehearsal.store import Store


def session_data(store: Store, session_id: str) -> dict[str, Any]:
    """Everything kept about one session: header, every line (taken-back ones marked), events, report."""
    info = store.session(session_id)
    if info is None:
        raise KeyError(session_id)
    events = store.events(session_id)
    report = next((e["detail"] for e in reversed(events) if e["kind"] == "report"), None)
    return {
        "session": info.__dict__,
        "turns": [
            {
                "idx": t["idx"],
                "speaker": t["speaker"],
                "text": t["text"],
                "tension": t["tension"],
                "taken_back": bool(t["meta"].get("rewound")),
                "labels": t["meta"].get("feedback", {}).get("labels", []),
            }
            for t in store.turns(session_id)
        ],
        "ratings": [e["detail"] for e in events if e["kind"] == "rating"],
        "safety_events": [e["detail"] for e in events if e["kind"] == "safety"],
        "report": report,
    }


def to_json(data: dict[str, Any]) -> str:
    """The session as JSON text."""
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_markdown(data: dict[str, Any], counterpart: str = "Counterpart") -> str:
    """The session as Markdown: the transcript, then the report."""
    info = data["session"]
    out = [
        f"# Rehearsal session {info['id']}",
        "",
        f"Scenario: {escape_markdown(info['scenario_id'])}; mode: {info['mode']}; difficulty: {info['level']}; "
        f"started {info['started_at']}.",
        "",
        "## Transcript",
        "",
    ]
    for turn in data["turns"]:
        who = "You" if turn["speaker"] == "user" else escape_markdown(counterpart)
        mark = " *(taken back)*" if turn["taken_back"] else ""
        out.append(f"- **{who}**{mark}: {escape_markdown(turn['text'])}")
    for rating in data["ratings"]:
        out.append(
            f"\nSelf-rating {rating['when']}: distress {rating['distress']}/10, confidence {rating['confidence']}/10."
        )
    if data["report"]:
        report = report_from_dict(data["report"]).to_markdown()
        report = report.replace("# Rehearsal report", "## Report", 1).replace("\n## ", "\n### ")
        if note := data.get("report_note"):  # a session never ended: the report was built from its lines
            heading, _, body = report.partition("\n")
            report = f"{heading}\n\n*{escape_markdown(note)}*\n{body}"
        out += ["", report]
    return "\n".join(out) + "\n"
