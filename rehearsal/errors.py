"""The exception hierarchy: every error the core raises is a `RehearsalError`.

Only the edges (CLI, Streamlit app) turn these into messages for people.
"""

from __future__ import annotations

from dataclasses import dataclass


class RehearsalError(Exception):
    """Base class for every error the rehearsal core raises on purpose."""


class ConfigError(RehearsalError):
    """A setting is missing or invalid; the message says what to set."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (field path, line) and why."""

    field: str
    reason: str
    line: int | None = None

    def render(self, file: str) -> str:
        """Render as `file[:line]: field: reason`, the format `rehearse validate` prints."""
        where = f"{file}:{self.line}" if self.line else file
        return f"{where}: {self.field}: {self.reason}"


class ScenarioError(RehearsalError):
    """A scenario file cannot be used; carries every problem found in it."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__("\n".join(p.render(file) for p in problems))


class PromptError(RehearsalError):
    """A prompt file is missing, malformed, or needs a value that was not given."""


class ModelError(RehearsalError):
    """The language model could not answer; names the endpoint that failed.

    `partial_reply` is what the user had already seen of the reply when it failed ('' if nothing);
    the session fills it in, so the edge can say whether a reply was cut off or never began.
    """

    def __init__(self, message: str, endpoint: str = ""):
        self.endpoint = endpoint
        self.partial_reply = ""
        where = f" (endpoint: {endpoint})" if endpoint else ""
        super().__init__(f"{message}{where}")


class LocalModelError(ModelError):
    """The embedded model could not be assembled, verified or started."""


class StoreError(RehearsalError):
    """The session store cannot be opened or written."""
