"""The end-of-session report: counts per label, listening vs asserting, pitfalls with the exact
lines, the mood trajectory, the scenario's goals met or not, and next steps citing cards.

A session left without ending (tab closed, crash) has no stored report; `report_from_turns`
builds the same report from the lines the store kept."""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from rag.retriever import Retriever
from rehearsal.feedback import NEXT_SKILL, TurnFeedback
from rehearsal.scenario import Scenario
from rehearsal.taxonomy import ASSERTING, LABELS, LISTENING, PITFALLS, TITLES


@dataclass(frozen=True)
class ReportTurn:
    """One user line with what the tagger and the mood made of it."""

    turn: int
    user: str
    counterpart: str
    tension: float
    feedback: TurnFeedback


@dataclass(frozen=True)
class NextStep:
    """A concrete thing to practise next, with the card that explains it."""

    text: str
    label: str
    card_id: str
    card_title: str


@dataclass
class SessionReport:
    """Everything the end-of-session page and the exports show."""

    scenario_id: str
    title: str
    label_counts: dict[str, int]
    listening: int
    asserting: int
    pitfalls: list[dict[str, str]]
    mood: list[float]
    goals: list[dict[str, Any]]
    next_steps: list[NextStep] = field(default_factory=list)
    retries: list[dict[str, Any]] = field(default_factory=list)  # a line taken back and what replaced it
    turn_labels: list[list[str]] = field(default_factory=list)  # labels per user line, in order
    techniques: dict[str, int] = field(default_factory=dict)  # trainee mode: IPT techniques used

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["next_steps"] = [asdict(s) for s in self.next_steps]
        return data

    def to_json(self) -> str:
        """The report as JSON text."""
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        """The report as Markdown (user text is quoted, never interpreted)."""
        out = [f"# Rehearsal report: {escape_markdown(self.title)}", "", "## Skills used", ""]
        out += [f"- {TITLES[label]}: {count}" for label, count in self.label_counts.items() if count]
        out += ["", f"Listening moves: {self.listening}; asserting moves: {self.asserting}."]
        if self.techniques:
            out += ["", "IPT techniques: " + ", ".join(f"{k}: {v}" for k, v in self.techniques.items()) + "."]
        out += ["", "## Tension", ""]
        out.append(" → ".join(f"{t:.1f}" for t in self.mood) or "no turns")
        if self.pitfalls:
            out += ["", "## Pitfalls", ""]
            out += [
                f"- {TITLES[p['label']]}: “{escape_markdown(p['line'])}” — try: “{escape_markdown(p['rewrite'])}”"
                for p in self.pitfalls
            ]
        if self.retries:
            out += ["", "## Second tries", ""]
            for r in self.retries:
                before = ", ".join(TITLES[label] for label in r["before_labels"]) or "no label"
                after = ", ".join(TITLES[label] for label in r["after_labels"]) or "no label"
                out.append(
                    f"- Turn {r['turn']}: “{escape_markdown(r['before'])}” ({before}) → “{escape_markdown(r['after'] or '')}” ({after})"
                )
        out += ["", "## Goals", ""]
        out += [f"- [{'x' if g['met'] else ' '}] {escape_markdown(g['objective'])}" for g in self.goals]
        out += ["", "## Next steps", ""]
        out += [f"- {escape_markdown(s.text)} (see card: {s.card_title} [{s.card_id}])" for s in self.next_steps]
        return "\n".join(out) + "\n"


def escape_markdown(text: str) -> str:
    """Escape Markdown/HTML control characters in user or model text, for exported Markdown files.

    The app's pages use `ui.widgets.escape`, which also escapes Streamlit's own syntax (colour
    directives, maths, emoji shortcodes); a file keeps those characters readable.
    """
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


def build_report(
    scenario: Scenario,
    start_tension: float,
    turns: list[ReportTurn],
    retriever: Retriever,
    rewound: list[ReportTurn] | None = None,
) -> SessionReport:
    """Summarise a finished session; `rewound` are lines taken back, compared with what replaced them."""
    counts = Counter(label for t in turns for label in t.feedback.labels)
    label_counts = {label: counts.get(label, 0) for label in LABELS}
    pitfalls = [
        {"label": label, "line": t.user, "rewrite": t.feedback.rewrite or ""}
        for t in turns
        for label in t.feedback.labels
        if label in PITFALLS
    ]
    focus = [s.value for s in scenario.skills_in_focus]
    goals = [{"objective": f"Use {TITLES[s].lower()} at least once", "met": counts.get(s, 0) > 0} for s in focus]
    mood = [start_tension, *(t.tension for t in turns)]
    goals.append(
        {
            "objective": f"Leave {scenario.persona.name} calmer than at the start",
            "met": len(mood) > 1 and mood[-1] < mood[0],
        }
    )
    return SessionReport(
        scenario.id,
        scenario.title,
        label_counts,
        sum(counts.get(label, 0) for label in LISTENING),
        sum(counts.get(label, 0) for label in ASSERTING),
        pitfalls,
        mood,
        goals,
        _next_steps(scenario, counts, retriever),
        _retries(turns, rewound or []),
        [list(t.feedback.labels) for t in turns],
        dict(Counter(n.title for t in turns for n in t.feedback.techniques if n.used)),
    )


def _retries(turns: list[ReportTurn], rewound: list[ReportTurn]) -> list[dict[str, Any]]:
    """Each line taken back beside the line that now stands at the same turn (None if none does)."""
    standing = {t.turn: t for t in turns}
    out = []
    for old in rewound:
        new = standing.get(old.turn)
        out.append(
            {
                "turn": old.turn,
                "before": old.user,
                "before_labels": list(old.feedback.labels),
                "before_tension": old.tension,
                "after": new.user if new else None,
                "after_labels": list(new.feedback.labels) if new else [],
                "after_tension": new.tension if new else None,
            }
        )
    return out


def _next_steps(scenario: Scenario, counts: Counter[str], retriever: Retriever, limit: int = 3) -> list[NextStep]:
    """Most frequent pitfalls first, then focus skills not yet used."""
    wanted = [label for label, _ in counts.most_common() if label in PITFALLS]
    wanted += [s.value for s in scenario.skills_in_focus if not counts.get(s.value)]
    steps = []
    for label in wanted[:limit]:
        hits = retriever.search(f"{TITLES[label]} {scenario.title}", label=label, k=1)
        if not hits:
            continue
        text = NEXT_SKILL.get(label) or f"Work on replacing {TITLES[label].lower()}: read and rehearse the card"
        steps.append(NextStep(text, label, hits[0].card_id, hits[0].title))
    return steps


def report_from_dict(data: dict[str, Any]) -> SessionReport:
    """Rebuild a report stored as JSON (the inverse of `as_dict`)."""
    fields = {**data, "next_steps": [NextStep(**s) for s in data.get("next_steps", [])]}
    return SessionReport(**fields)


def report_from_turns(
    scenario: Scenario,
    level: str,
    turns: list[dict[str, Any]],
    events: list[dict[str, Any]],
    retriever: Retriever,
) -> SessionReport:
    """The report of a session that was never ended, from its stored lines and events.

    `turns` and `events` are as `Store.turns` and `Store.events` give them. Each answered user
    line has its feedback on the reply's record; a user line with no reply (the model failed)
    has none and is left out. Lines taken back are matched with what replaced them by replaying
    the rewind events: a rewind always takes back the latest standing line.
    """
    answered = _answered(turns)
    known = {user_idx for user_idx, _ in answered}
    pending = deque(e["turn_idx"] for e in events if e["kind"] == "rewind" and e["turn_idx"] in known)
    standing: list[tuple[int, ReportTurn]] = []
    rewound: list[ReportTurn] = []

    def take_back() -> None:
        while pending and standing and pending[0] == standing[-1][0]:
            pending.popleft()
            rewound.append(standing.pop()[1])

    for user_idx, turn in answered:
        take_back()
        standing.append(
            (user_idx, ReportTurn(len(standing) + 1, turn.user, turn.counterpart, turn.tension, turn.feedback))
        )
    take_back()
    opening = turns[0]["tension"] if turns and turns[0]["speaker"] == "counterpart" else None
    start = opening if opening is not None else getattr(scenario.difficulty, level).starting_tension
    return build_report(scenario, start, [t for _, t in standing], retriever, rewound)


def _answered(turns: list[dict[str, Any]]) -> list[tuple[int, ReportTurn]]:
    """Each user line that was answered with feedback, by the user line's store index (turn numbers unset)."""
    out = []
    for said, reply in pairwise(turns):
        feedback = reply["meta"].get("feedback")
        if said["speaker"] == "user" and reply["speaker"] == "counterpart" and feedback is not None:
            tension = reply["tension"] if reply["tension"] is not None else 0.0
            out.append(
                (said["idx"], ReportTurn(0, said["text"], reply["text"], tension, TurnFeedback.from_dict(feedback)))
            )
    return out
