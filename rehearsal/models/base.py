"""The one interface every language model sits behind."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message sent to a model."""

    role: Role
    content: str


@dataclass(frozen=True)
class Generation:
    """Sampling options for one reply."""

    max_tokens: int = 120
    temperature: float = 0.8
    stop: tuple[str, ...] = ()
    seed: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class ChatModel(Protocol):
    """A model that streams a reply as text chunks.

    `model_id` is recorded with every session; `endpoint` is what error messages name.
    Implementations raise `ModelError` for any failure to reach or read the model.
    """

    model_id: str
    endpoint: str

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        """Yield the reply in chunks as they arrive."""
        ...

    def close(self) -> None:
        """Release resources (servers, connections). Safe to call twice."""
        ...
