"""Test doubles shared by the tests (model fakes live in rehearsal.models.fakes)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.retriever import Hit


@dataclass
class FakeRetriever:
    """Returns one hit per query from a fixed card, and records the queries."""

    card_id: str = "broken-record"
    queries: list[tuple[str, str | None]] = field(default_factory=list)

    def search(self, query: str, label: str | None = None, k: int = 3) -> list[Hit]:
        self.queries.append((query, label))
        card = f"{self.card_id}-{label}" if label else self.card_id
        return [
            Hit(
                card,
                f"Card for {label}",
                "How to do it",
                f"Card for {label} — How to do it\n- Say it once, calmly. Then stop.",
                0.5,
            )
        ]

    def card_ids(self) -> set[str]:
        return {self.card_id}
