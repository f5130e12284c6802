"""Knowledge cards: `rag/cards/*.md`, Markdown with YAML front matter, the project's own words.

A card is split into chunks by its `## ` sections; every chunk keeps the card's id, title and
labels as metadata so retrieval can filter by label and feedback can cite the card.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rehearsal.taxonomy import LABELS

CARDS_DIR = Path(__file__).resolve().parent / "cards"
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)

Area = Literal["role_dispute", "role_transition", "grief", "interpersonal_deficits"]
Stage = Literal["renegotiation", "impasse", "dissolution"]


class CardMeta(BaseModel):
    """A card's front matter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str
    labels: list[str]
    problem_areas: list[Area] = Field(min_length=1)
    dispute_stages: list[Stage] = Field(default_factory=list)
    references: list[str] = Field(min_length=1)


@dataclass(frozen=True)
class Card:
    """A parsed card: its metadata and its sections in order."""

    meta: CardMeta
    sections: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        """The whole card body."""
        return "\n\n".join(f"## {head}\n{body}" for head, body in self.sections)

    def section(self, name: str) -> str:
        """One section's text, or '' when absent."""
        return next((body for head, body in self.sections if head.lower() == name.lower()), "")


@dataclass(frozen=True)
class Chunk:
    """One retrievable piece of a card."""

    id: str
    card_id: str
    title: str
    section: str
    text: str
    labels: tuple[str, ...]


class CardError(ValueError):
    """A card file is malformed; the message names the file and the problem."""


def parse_card(text: str, source: str) -> Card:
    """Parse one card file's text."""
    parts = text.split("---", 2)
    if len(parts) != 3 or parts[0].strip():
        raise CardError(f"{source}: a card starts with a '---' front-matter block")
    try:
        meta = CardMeta.model_validate(yaml.safe_load(parts[1]))
    except (yaml.YAMLError, ValidationError) as exc:
        raise CardError(f"{source}: bad front matter: {exc}") from None
    unknown = set(meta.labels) - set(LABELS)
    if unknown:
        raise CardError(f"{source}: unknown labels {sorted(unknown)}")
    pieces = _SECTION.split(parts[2])
    sections = tuple((pieces[i].strip(), pieces[i + 1].strip()) for i in range(1, len(pieces) - 1, 2))
    if not sections:
        raise CardError(f"{source}: no '## ' sections")
    return Card(meta, sections)


def load_cards(folder: Path = CARDS_DIR) -> list[Card]:
    """Every card in `folder`, sorted by id; file names must equal ids."""
    cards = []
    for path in sorted(folder.glob("*.md")):
        card = parse_card(path.read_text(encoding="utf-8"), str(path))
        if card.meta.id != path.stem:
            raise CardError(f"{path}: id '{card.meta.id}' must match the file name")
        cards.append(card)
    return cards


def chunk_cards(cards: list[Card]) -> list[Chunk]:
    """One chunk per section, prefixed with the card title so each chunk stands on its own."""
    chunks = []
    for card in cards:
        for index, (head, body) in enumerate(card.sections):
            chunks.append(
                Chunk(
                    id=f"{card.meta.id}#{index}",
                    card_id=card.meta.id,
                    title=card.meta.title,
                    section=head,
                    text=f"{card.meta.title} — {head}\n{body}",
                    labels=tuple(card.meta.labels),
                )
            )
    return chunks


def cards_fingerprint(cards: list[Card]) -> str:
    """A hash of every card's content: the index is rebuilt when it changes."""
    digest = hashlib.sha256()
    for card in cards:
        digest.update(card.meta.model_dump_json().encode())
        digest.update(card.text.encode())
    return digest.hexdigest()[:16]
