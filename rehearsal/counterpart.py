"""The counterpart engine: the model plays the persona, code keeps it in character.

Each user line is read for how it lands (mood), placed in the scene with a stage note, and the
model's reply is streamed through the guard. A failed attempt is regenerated; after
`max_attempts` a scenario fallback line for the current mood is used instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from rehearsal.guard import GuardContext, GuardedStream
from rehearsal.models.base import ChatModel, Generation
from rehearsal.mood import CueMoodSignal, MoodSignal, MoodState, Reading, next_mood, stage_note
from rehearsal.prompts import PromptTemplate
from rehearsal.scenario import Difficulty, Scenario
from rehearsal.scene import SceneLine, build_messages, is_meta_request, sanitize_line, stop_sequences

# What a broken server or decoder sends, never speech: terminal escapes (colours, cursor moves),
# control characters (but the new line, which the guard reads as the end of a turn), zero-width
# spaces, byte-order marks, bidirectional overrides and lone surrogates.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_ESCAPE_STARTED = re.compile(r"\x1b(\[[0-?]*[ -/]*)?\Z")  # cut off by the chunk's end: wait for the rest
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2060\ufeff\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
DEFLECTION_NOTE = "[{user} said something odd that has nothing to do with this conversation; {name} is puzzled, says so briefly, and steers back.]"


@dataclass
class GuardReport:
    """What the guard did for one reply; recorded with the turn."""

    regenerated: int = 0
    fallback: bool = False
    truncated: bool = False
    deflected: bool = False
    violations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """The JSON form used by `play --json` and the session record."""
        return {
            "regenerated": self.regenerated,
            "fallback": self.fallback,
            "truncated": self.truncated,
            "deflected": self.deflected,
            "violations": self.violations,
        }


@dataclass
class Reply:
    """The counterpart's finished reply and how it came about."""

    text: str
    tension: float
    reading: Reading | None
    guard: GuardReport


def printable(chunks: Iterator[str]) -> Iterator[str]:
    """The chunks without escapes or unprintable characters, tabs as spaces; closing it closes `chunks`."""
    held = ""
    try:
        for chunk in chunks:
            text = held + chunk
            started = _ESCAPE_STARTED.search(text)
            cut = started.start() if started else len(text)
            text, held = text[:cut], text[cut:]
            yield _UNPRINTABLE.sub("", _ESCAPE.sub("", text)).replace("\t", " ")
    finally:
        if hasattr(chunks, "close"):
            chunks.close()


def _last_index(items: list[str], item: str) -> int:
    return len(items) - 1 - items[::-1].index(item)


class Counterpart:
    """Plays one scenario's persona against one model, turn by turn."""

    def __init__(
        self,
        scenario: Scenario,
        model: ChatModel,
        prompt: PromptTemplate,
        level: str = "medium",
        mood_signal: MoodSignal | None = None,
        seed: int | None = None,
        max_attempts: int = 3,
    ):
        self.scenario, self.model, self.prompt = scenario, model, prompt
        self.level: Difficulty = getattr(scenario.difficulty, level)
        self.level_name = level
        self.mood_signal = mood_signal or CueMoodSignal()
        self.seed, self.max_attempts = seed, max_attempts
        self.mood = MoodState(self.level.starting_tension)
        self.lines: list[SceneLine] = [SceneLine("counterpart", scenario.opening_line)]
        self.guard_context = GuardContext(
            name=scenario.persona.name,
            user_name=scenario.user_name,
            hidden_notes=tuple(scenario.hidden_notes),
        )
        self._fallbacks_used: list[str] = []
        self.last_reply: Reply | None = None
        self._before: list[tuple[MoodState, Reply | None]] = []  # state before each answered line

    def set_level(self, level: str) -> None:
        """Switch difficulty mid-conversation; the tension is kept within the new level's limits."""
        self.level, self.level_name = getattr(self.scenario.difficulty, level), level
        self.mood = MoodState(max(self.level.floor, min(self.level.ceiling, self.mood.tension)))

    def rewind(self) -> None:
        """Take back the last user line and the reply to it, restoring the mood from before."""
        if not self._before or len(self.lines) < 3:
            raise ValueError("nothing to take back yet")
        del self.lines[-2:]
        self.mood, self.last_reply = self._before.pop()

    @property
    def opening_line(self) -> str:
        """The persona's first line."""
        return self.scenario.opening_line

    def _options(self, attempt: int, max_tokens: int = 90) -> Generation:
        seed = None if self.seed is None else self.seed + 1000 * attempt + len(self.lines)
        return Generation(
            max_tokens=max_tokens,
            temperature=min(1.0, 0.7 + 0.15 * attempt),
            stop=stop_sequences(self.scenario),
            seed=seed,
            extra={"frequency_penalty": 0.4, "presence_penalty": 0.2},
        )

    def prime(self) -> None:
        """Ask for one token so the server caches the prompt prefix before the user speaks."""
        messages = build_messages(self.prompt, self.scenario, self.lines)
        for _ in self.model.stream(messages, self._options(0, max_tokens=1)):
            pass

    def _add_user_line(self, user_text: str) -> tuple[Reading, bool]:
        name, user = self.scenario.persona.name, self.scenario.user_name
        context = self.lines[-1].text if self.lines else ""
        reading = self.mood_signal.read(user_text, context)
        deflected = is_meta_request(user_text)
        if deflected:
            line = SceneLine("user", "(mutters something unrelated)", DEFLECTION_NOTE.format(user=user, name=name))
        else:
            self.mood = next_mood(self.mood, reading, self.level)
            line = SceneLine("user", sanitize_line(user_text), stage_note(name, user, reading, self.mood))
        self.lines.append(line)
        return reading, deflected

    def _fallback(self) -> str:
        options: list[str] = list(getattr(self.scenario.fallback_lines, self.mood.band.value))
        fresh = [line for line in options if line not in self._fallbacks_used]
        # all used: take the one said longest ago
        choice = fresh[0] if fresh else min(options, key=lambda line: _last_index(self._fallbacks_used, line))
        self._fallbacks_used.append(choice)
        return choice

    def respond(self, user_text: str) -> Iterator[str]:
        """Stream the reply to `user_text`; afterwards `last_reply` holds the full record.

        Raises ModelError if the model cannot be reached; the scene is then left as it was before
        this line, so the user can send it again.
        """
        mood_before, reply_before = self.mood, self.last_reply
        reading, deflected = self._add_user_line(user_text)
        try:
            yield from self._reply(user_text, reading, deflected)
        except BaseException:
            # keep the scene consistent so the user can simply send the line again
            self.lines.pop()
            self.mood = mood_before
            raise
        self._before.append((mood_before, reply_before))

    def _reply(self, user_text: str, reading: Reading, deflected: bool) -> Iterator[str]:
        report = GuardReport(deflected=deflected)
        messages = build_messages(self.prompt, self.scenario, self.lines)
        said = tuple(line.text for line in self.lines if line.speaker == "counterpart")
        heard = tuple(line.text for line in self.lines if line.speaker == "user")
        context = replace(self.guard_context, previous=(*said, user_text), user_lines=heard)
        text = ""
        for attempt in range(self.max_attempts):
            guarded = GuardedStream(printable(self.model.stream(messages, self._options(attempt))), context)
            yield from guarded
            result = guarded.result
            report.violations.extend(v.kind for v in result.violations)
            if result.ok:
                text, report.truncated = result.text, result.truncated
                break
            report.regenerated += 1
        if not text:
            report.regenerated -= 1  # the last failed attempt was replaced, not regenerated
            report.fallback = True
            text = self._fallback()
            yield text
        self.lines.append(SceneLine("counterpart", text))
        self.last_reply = Reply(text, self.mood.tension, None if deflected else reading, report)
