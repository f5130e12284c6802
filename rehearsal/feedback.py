"""Per-turn feedback composed from the tagger's labels and the retrieved technique cards.

Works with no language model: every point is tied to a label, the evidence span in the user's
line, and the card it came from (id and title). When a pitfall was found, one rewrite of the
line is suggested.
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rag.cards import Card, load_cards
from rag.retriever import Hit, Retriever
from rehearsal.scenario import Scenario
from rehearsal.tagger import Tagging
from rehearsal.taxonomy import PITFALLS, SKILLS, TITLES
from rehearsal.techniques import TechniqueNote

Kind = Literal["well", "try"]

PRAISE = {
    "reflection": "You showed you heard them by putting their point in your own words",
    "open_question": "You asked an open question that invites them to say more",
    "validation": "You said their feeling or view makes sense, without giving up your own",
    "i_statement": "You spoke from your side — your feeling or need — instead of judging them",
    "request": "You asked for something specific they can actually do",
    "boundary": "You stated a clear limit, calmly",
}
ADVICE = {
    "blame": "Describe one concrete event and its effect on you instead of 'always/never' or fault-finding",
    "criticism": "Name the behaviour and what you need, not what kind of person they are",
    "defensiveness": "Before explaining, accept the part of their complaint that is fair",
    "stonewalling": "If you need to stop, say so and say when you'll come back to it",
    "passive": "Keep your need on the table: say it once more, plainly, without apologising for it",
}
NEXT_SKILL = {
    "reflection": "Try reflecting what they just said before making your point",
    "open_question": "Try an open question (what/how) to understand what is behind their position",
    "validation": "Try acknowledging what is understandable in their view before your point",
    "i_statement": "Try saying how this affects you, starting from 'I'",
    "request": "Try turning what you want into one specific, doable request",
    "boundary": "Try stating your limit in one calm sentence, without a list of reasons",
}


@dataclass(frozen=True)
class FeedbackItem:
    """One point of feedback."""

    kind: Kind
    label: str
    text: str
    evidence: str
    card_id: str
    card_title: str


@dataclass(frozen=True)
class TurnFeedback:
    """Everything said about one user line."""

    labels: list[str]
    evidence: dict[str, str]
    items: list[FeedbackItem] = field(default_factory=list)
    rewrite: str | None = None
    techniques: list[TechniqueNote] = field(default_factory=list)  # trainee mode: IPT techniques

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (items with label, text and card_id among their fields)."""
        return {
            "labels": self.labels,
            "evidence": self.evidence,
            "items": [asdict(i) for i in self.items],
            "rewrite": self.rewrite,
            "techniques": [asdict(t) for t in self.techniques],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TurnFeedback:
        """Feedback as stored with a turn (the inverse of `as_dict`)."""
        return cls(
            list(data.get("labels", [])),
            dict(data.get("evidence", {})),
            [FeedbackItem(**item) for item in data.get("items", [])],
            data.get("rewrite"),
            [TechniqueNote(**note) for note in data.get("techniques", [])],
        )


@functools.cache
def _cards_by_id() -> dict[str, Card]:
    return {card.meta.id: card for card in load_cards()}


def _first_point(body: str) -> str:
    """The first bullet of a list, or else the first sentence of the prose."""
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    if lines and lines[0].startswith(("-", "•")):
        return lines[0].lstrip("-• ").strip()
    return re.split(r"(?<=[.!?])\s", " ".join(lines), maxsplit=1)[0]


def _card_line(hit: Hit, kind: Kind) -> str:
    """The grounding for a point, from the retrieved card: why it works (for something done well)
    or how to do it (for something to try)."""
    card = _cards_by_id().get(hit.card_id)
    section = card.section("Why it helps" if kind == "well" else "How to do it") if card else ""
    point = _first_point(section or hit.text.split("\n", 1)[-1])
    return _clip(point, 240)


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary and marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:(") + "…"


def _item(kind: Kind, label: str, lead: str, evidence: str, hit: Hit | None) -> FeedbackItem:
    if hit is None:
        return FeedbackItem(kind, label, lead + ".", evidence, "", "")
    return FeedbackItem(kind, label, f"{lead}. {_card_line(hit, kind)}", evidence, hit.card_id, hit.title)


def compose_feedback(
    tagging: Tagging, text: str, scenario: Scenario, retriever: Retriever, used: set[str]
) -> TurnFeedback:
    """What went well, what to try next, each grounded in a retrieved card; `used` = labels so far."""
    items: list[FeedbackItem] = []
    for label in tagging.labels:
        if label in SKILLS:
            hit = _first(retriever.search(text, label=label, k=1))
            items.append(_item("well", label, PRAISE[label], tagging.evidence.get(label, text), hit))
    pitfalls = [label for label in tagging.labels if label in PITFALLS]
    for label in pitfalls:
        hit = _first(retriever.search(f"{TITLES[label]}: {text}", label=label, k=1))
        items.append(_item("try", label, ADVICE[label], tagging.evidence.get(label, text), hit))
    if not pitfalls:
        focus = next((s.value for s in scenario.skills_in_focus if s.value not in used | set(tagging.labels)), None)
        if focus:
            hit = _first(retriever.search(scenario.user_goal, label=focus, k=1))
            items.append(_item("try", focus, NEXT_SKILL[focus], "", hit))
    rewrite = suggest_rewrite(pitfalls[0], text, scenario) if pitfalls else None
    return TurnFeedback(tagging.labels, tagging.evidence, items, rewrite)


def _first(hits: list[Hit]) -> Hit | None:
    return hits[0] if hits else None


_ALWAYS = re.compile(r"\byou (always|never|constantly|keep) ([^.!?,]+)", re.IGNORECASE)
# a habit worth naming is a concrete act ("help with the rota"), not a verdict on the person
# ("think about anyone but yourself"); verdicts get the general rewrite
_VERDICT = re.compile(
    r"\b(anyone|anybody|anything|everyone|everybody|everything|nobody|nothing|yourself|care|cares|think|thinks"
    r"|understand|listen to anyone|ever)\b",
    re.IGNORECASE,
)


def suggest_rewrite(pitfall: str, text: str, scenario: Scenario) -> str:
    """One calmer way to say the same thing (template-based; a capable model may phrase it better)."""
    name = scenario.persona.name
    match = _ALWAYS.search(text)
    habit = match.group(2).strip() if match else ""
    if pitfall == "blame" and match and len(habit.split()) <= 7 and not _VERDICT.search(habit):
        if match.group(1).lower() == "never":
            return f"{name}, I'd really like it if you {habit}. Could we agree on how that happens this week?"
        habit = f"keep {habit}" if match.group(1).lower() == "keep" else habit
        return f"When you {habit}, I feel frustrated. Could we find a way that works for both of us?"
    return {
        "blame": f"{name}, this has been bothering me and I'd like to sort it out together. Can I tell you how it's been for me?",
        "criticism": "I'm upset about what happened. What I need is for us to talk about it without getting personal.",
        "defensiveness": "You've got a point, and I'm sorry for my part. Here's what was going on for me.",
        "stonewalling": "I'm too wound up to talk well right now. Can we come back to this in twenty minutes?",
        "passive": f"Actually, this matters to me. {scenario.user_goal.split('.')[0].strip()} — can we talk about that?",
    }[pitfall]
