"""Test doubles shared by the tests (the model fakes selectable by name live in rehearsal.models.fakes)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from rag.retriever import Hit
from rehearsal.models.base import Generation, Message


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


@dataclass
class ChunkedModel:
    """Streams each reply exactly as the chunks given (split where a broken server split them).

    The last reply is repeated once the others are used, so a regenerated attempt gets it again.
    """

    replies: list[list[str]]
    model_id: str = "chunked"
    endpoint: str = "fake://chunked"
    calls: int = 0

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        chunks = self.replies[min(self.calls, len(self.replies) - 1)]
        self.calls += 1
        yield from chunks

    def close(self) -> None:
        """Nothing to release."""
