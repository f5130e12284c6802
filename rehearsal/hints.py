""" "What could I say?": a next move for the user, with a sentence stem and the card behind it.

No model needed: the move is the first skill in focus the user has not used yet (or, after a
pitfall, the skill that repairs it), phrased as a stem the user finishes in their own words.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.retriever import Retriever
from rehearsal.scenario import Scenario
from rehearsal.taxonomy import TITLES

STEMS = {
    "reflection": "So for you, … — have I got that right?",
    "open_question": "What is the hardest part of this for you?",
    "validation": "I can see why that would feel …, given …",
    "i_statement": "When …, I feel … , because I need …",
    "request": "Would you be willing to … by …?",
    "boundary": "I'm not able to … . What I can do is …",
}
WHY = {
    "reflection": "Say back what {name} just told you before making your own point: people argue less once they feel heard.",
    "open_question": "Ask something {name} cannot answer with yes or no, to learn what is behind the position.",
    "validation": "Say what is understandable in {name}'s view; it does not mean you agree.",
    "i_statement": "Describe the effect on you instead of judging {name}.",
    "request": "Turn what you want into one concrete thing {name} can say yes to.",
    "boundary": "State your limit once, calmly, with no pile of reasons.",
}
# after a pitfall, the skill that repairs it
REPAIR = {
    "blame": "i_statement",
    "criticism": "i_statement",
    "defensiveness": "validation",
    "stonewalling": "request",
    "passive": "boundary",
}


@dataclass(frozen=True)
class Hint:
    """One suggested move."""

    label: str
    title: str
    why: str
    stem: str
    card_id: str
    card_title: str


def suggest(scenario: Scenario, used: set[str], last_labels: list[str], retriever: Retriever) -> Hint:
    """The next move: repair the last pitfall, else a focus skill not used yet, else the first focus skill."""
    focus = [s.value for s in scenario.skills_in_focus]
    repair = next((REPAIR[label] for label in last_labels if label in REPAIR), None)
    label = repair or next((s for s in focus if s not in used), focus[0])
    hits = retriever.search(f"{TITLES[label]} {scenario.user_goal}", label=label, k=1)
    name = scenario.persona.name
    return Hint(
        label,
        TITLES[label],
        WHY[label].format(name=name),
        STEMS[label],
        hits[0].card_id if hits else "",
        hits[0].title if hits else "",
    )
