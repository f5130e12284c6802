"""Offline models for tests and demos: selected with `--model fake` or `--model echo`."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rehearsal.models.base import Generation, Message

DEFAULT_REPLIES = (
    "I hear you. I just don't see how that's going to work for me.",
    "Okay. Say more about that, because I'm not sure I get it.",
    "Fine. What exactly are you asking me to do?",
)


@dataclass
class Request:
    """What a fake model was asked: the messages and the sampling options."""

    messages: list[Message]
    options: Generation


@dataclass
class QueuedModel:
    """Replies from a queue (cycling when exhausted) and records every request.

    Each reply streams word by word, as a real server would stream tokens.
    """

    replies: Iterable[str] = DEFAULT_REPLIES
    model_id: str = "fake"
    endpoint: str = "fake://queued"
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue = itertools.cycle(list(self.replies))

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        """Yield the next queued reply in word-sized chunks."""
        self.requests.append(Request(list(messages), options))
        reply = next(self._queue)
        for index, word in enumerate(reply.split(" ")):
            yield word if index == 0 else " " + word

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class EchoModel:
    """Returns the assembled prompt, so a test or a curious user can see how it was built."""

    model_id: str = "echo"
    endpoint: str = "fake://echo"

    def stream(self, messages: Sequence[Message], options: Generation) -> Iterator[str]:
        """Yield each message as `role: content` lines."""
        for message in messages:
            yield f"{message.role}: {message.content}\n"

    def close(self) -> None:
        """Nothing to release."""
