"""The knowledge cards: well-formed, and covering every label, problem area and dispute stage."""

from __future__ import annotations

import pytest

from rag.cards import CardError, chunk_cards, load_cards, parse_card
from rehearsal.taxonomy import LABELS

CARDS = load_cards()


def test_at_least_thirty_cards_with_references() -> None:
    assert len(CARDS) >= 30
    assert all(card.meta.references for card in CARDS)


def test_every_label_area_and_stage_is_served() -> None:
    assert {label for card in CARDS for label in card.meta.labels} == set(LABELS)
    areas = {area for card in CARDS for area in card.meta.problem_areas}
    assert areas == {"role_dispute", "role_transition", "grief", "interpersonal_deficits"}
    assert {stage for card in CARDS for stage in card.meta.dispute_stages} == {
        "renegotiation",
        "impasse",
        "dissolution",
    }


@pytest.mark.parametrize(
    "topic",
    [
        "communication-analysis",
        "clarification",
        "encouraging-affect",
        "building-social-support",
        "stress-and-symptom-log",
        "grief-work",
        "role-transitions",
    ],
)
def test_core_ipt_techniques_have_cards(topic: str) -> None:
    assert topic in {card.meta.id for card in CARDS}


def test_chunks_keep_card_identity() -> None:
    chunks = chunk_cards(CARDS)
    assert len(chunks) >= len(CARDS) * 4
    assert all(chunk.text.startswith(chunk.title) for chunk in chunks)


def test_malformed_cards_are_refused() -> None:
    with pytest.raises(CardError, match="front-matter"):
        parse_card("no front matter", "x.md")
    bad_label = "---\nid: x\ntitle: X\nlabels: [nagging]\nproblem_areas: [grief]\nreferences: [a]\n---\n## A\nb\n"
    with pytest.raises(CardError, match="unknown labels"):
        parse_card(bad_label, "x.md")
