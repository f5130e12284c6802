"""Trainee mode: the IPT techniques in a therapist's line."""

from __future__ import annotations

import pytest

from rag.cards import load_cards
from rehearsal.techniques import TECHNIQUES, technique_notes, techniques_in


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("When you say he never listens, do you mean at home or at work?", ["clarification"]),
        ("What did you say to her then, and what did she say back?", ["communication_analysis"]),
        ("How did that feel, when he walked out?", ["encouraging_affect"]),
        (
            "Walk me through the last time you argued. How did you feel?",
            ["communication_analysis", "encouraging_affect"],
        ),
        ("Have you tried being more assertive?", []),
    ],
)
def test_techniques_are_recognised(line: str, expected: list[str]) -> None:
    assert techniques_in(line) == expected


def test_notes_praise_what_was_used_and_suggest_one_not_yet_tried() -> None:
    notes = technique_notes("How did that feel?", used_before={"clarification"})
    assert [(n.technique, n.used) for n in notes] == [("encouraging_affect", True), ("communication_analysis", False)]


def test_every_technique_cites_an_existing_card() -> None:
    ids = {card.meta.id for card in load_cards()}
    assert {card for _, card, _ in TECHNIQUES.values()} <= ids
