"""The one interface every language model sits behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
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


def answer_within(
    model: ChatModel, messages: Sequence[Message], options: Generation, seconds: float, name: str
) -> str | None:
    """The model's whole answer, or None if it failed or took longer than `seconds`.

    For optional asks (a hint's wording, a safety second opinion): the request runs on a daemon
    thread named `name`, so a stalled server costs the user `seconds`, not the model's request
    timeout, and any failure (ModelError, timeout) is simply no answer.
    """
    answer: Future[str] = Future()

    def run() -> None:
        try:
            answer.set_result("".join(model.stream(messages, options)))
        except Exception as exc:  # reported through the future
            answer.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    try:
        return answer.result(timeout=seconds)
    except Exception:
        return None
