"""The counterpart's tension (0 calm .. 10 furious) and how each user line moves it.

`MoodSignal` is the seam: `CueMoodSignal` reads surface cues (listening softens, blame hardens);
the skill tagger can replace it by implementing the same `read` method.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from rehearsal.scenario import Difficulty, Mood

Landing = Literal["warm", "firm", "neutral", "yielding", "hostile"]


@dataclass(frozen=True)
class Reading:
    """How one user line lands: a push on tension and the cue groups that caused it."""

    delta: float
    landed: Landing
    cues: tuple[str, ...] = ()


class MoodSignal(Protocol):
    """Anything that can judge how a user line lands, given the counterpart's previous line."""

    def read(self, text: str, context: str) -> Reading:
        """Judge `text`, said in answer to `context`."""
        ...


def _cues(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# Each group moves tension once per line, however many of its phrases appear.
SOFTENING = {
    "reflection": (
        _cues(
            r"\b(it )?sounds like\b",
            r"\byou(?:'re| are) feeling\b",
            r"\byou feel\b",
            r"\bso you(?:'re| are)?\b",
            r"\bif i(?:'m| am) hearing you\b",
            r"\byou must (be|feel)\b",
            r"\bi hear (you|that)\b",
            r"\bthat sounds\b",
            r"\byou(?:'re| are) (really )?(stuck|worried|tired|hurt|upset|stressed|scared|angry|frustrated|exhausted|under)\b",
            r"\byou(?:'ve| have) been\b",
        ),
        -1.2,
    ),
    "validation": (
        _cues(
            r"\bthat makes sense\b",
            r"\bi (can )?(see|understand|get) (why|how|that)\b",
            r"\bi understand\b",
            r"\bi can (see|tell|imagine)\b",
            r"\bi know (it'?s|this is|that)\b",
            r"\bfair (point|enough)\b",
            r"\byou(?:'re| are) right\b",
            r"\bof course you\b",
            r"\banyone would\b",
            r"\bthat'?s (hard|tough|a lot)\b",
            r"\bi appreciate\b",
            r"\bthank(s| you)\b",
            r"\bmy (part|fault|bad)\b",
        ),
        -1.2,
    ),
    "open_question": (
        _cues(r"^\s*(what|how|tell me|help me understand|which)\b[^?]*\?", r"\bwhat do you (think|need|feel)\b"),
        -0.8,
    ),
    "i_statement": (
        _cues(
            r"\bi feel\b", r"\bi(?:'m| am) feeling\b", r"\bi need\b", r"\bfor me\b", r"\bi(?:'ve| have) been feeling\b"
        ),
        -0.4,
    ),
    "request": (
        _cues(
            r"\b(could|can|would) (we|you)\b",
            r"\bwould you be willing\b",
            r"\bi'?d like (us|you|to)\b",
            r"\bhow about\b",
        ),
        -0.3,
    ),
}
HARDENING = {
    "blame": (
        _cues(
            r"\byou (always|never)\b",
            r"\b(your|ur) fault\b",
            r"\bbecause of you\b",
            r"\bwhy (do|can'?t|won'?t|are|did) you (always|never|even)?\b",
            r"\bthanks to you\b",
            r"\byou made me\b",
        ),
        1.6,
    ),
    "criticism": (
        _cues(
            r"\byou(?:'re| are) (so|such a|just|being) \w+",
            r"\b(pathetic|ridiculous|selfish|lazy|useless|stupid|idiot|grow up|real mature|typical)\b",
            r"\b(oh|yeah),? (sure|right)\b",
            r"\bwhat is wrong with you\b",
            r"\bshut up\b",
        ),
        1.8,
    ),
    "defensiveness": (
        _cues(
            r"^\s*(that'?s not true|that'?s not fair|well,? you\b|it'?s not my fault|what do you expect|what do you want from me)",
            r"\bnot my problem\b",
        ),
        1.0,
    ),
    "stonewalling": (
        _cues(
            r"^\s*(whatever|fine|forget it|i'?m done|i don'?t (want|care) to talk|leave me alone)\b[.!]*\s*$",
            r"\bi'?m done (talking|with this)\b",
        ),
        1.0,
    ),
    "shouting": (re.compile(r"\b[A-Z]{4,}\b.*\b[A-Z]{3,}\b|!{2,}"), 0.8),
}
FIRM = _cues(
    r"\bi(?: won'?t| will not| can'?t| cannot| am not|'m not) (be able to |able to )?(do|take|cover|lend|come|make|give|go)\b",
    r"\bno,? (i|that)\b",
    r"\bi'?m not willing\b",
    r"\bthat'?s my decision\b",
)
YIELDING = _cues(
    r"\b(sorry,? ){2,}", r"\bnever ?mind\b", r"\bit doesn'?t matter\b", r"\bforget i said\b", r"\bi'?ll just\b"
)


@dataclass(frozen=True)
class CueMoodSignal:
    """A fast, deterministic reading from phrase cues; a stand-in until the skill tagger."""

    def read(self, text: str, context: str = "") -> Reading:
        """Sum one push per cue group found; the landing names the dominant direction."""
        text = text.replace("’", "'")
        found = [(name, weight) for name, (rx, weight) in {**SOFTENING, **HARDENING}.items() if rx.search(text)]
        delta = sum(weight for _, weight in found)
        cues = tuple(name for name, _ in found)
        hostile = any(name in HARDENING for name in cues)
        if hostile and delta > 0:
            landed: Landing = "hostile"
        elif YIELDING.search(text):
            landed, delta, cues = "yielding", delta, (*cues, "passive")
        elif FIRM.search(text):
            landed, cues = ("firm" if delta >= 0 else "warm"), (*cues, "boundary")
        else:
            landed = "warm" if delta < 0 else "neutral"
        return Reading(max(-3.0, min(3.0, delta)), landed, cues)


@dataclass(frozen=True)
class MoodState:
    """Current tension with the limits of the chosen difficulty."""

    tension: float

    @property
    def band(self) -> Mood:
        """calm 0-3, guarded 4-6, heated 7-10."""
        if self.tension < 3.5:
            return Mood.calm
        return Mood.guarded if self.tension < 6.5 else Mood.heated


def next_mood(state: MoodState, reading: Reading, level: Difficulty) -> MoodState:
    """Apply a reading within the difficulty's floor, ceiling and responsiveness."""
    tension = state.tension + reading.delta * level.responsiveness
    return MoodState(round(max(level.floor, min(level.ceiling, tension)), 2))


# Notes are short on purpose: each turn's note is new prompt text the model must read before it can
# answer, and on the embedded model every token of it adds to the time to the first word.
_LANDING_NOTES = {
    "warm": "{name} feels heard and softens",
    "firm": "{name} takes the clear answer seriously",
    "neutral": "{name} weighs it",
    "yielding": "{name} senses {user} giving way and pushes",
    "hostile": "{name} feels attacked and bristles",
}
_BAND_NOTES = {
    Mood.calm: "calm now",
    Mood.guarded: "guarded",
    Mood.heated: "upset and short-tempered",
}


def stage_note(name: str, user: str, reading: Reading | None, state: MoodState) -> str:
    """The bracketed note placed after the user's line telling the model how it landed."""
    band = _BAND_NOTES[state.band]
    if reading is None:
        return f"[{name} is {band}.]"
    return "[" + _LANDING_NOTES[reading.landed].format(name=name, user=user) + f"; {band}.]"


LABEL_PUSH = {
    "reflection": -1.2,
    "validation": -1.2,
    "open_question": -0.8,
    "i_statement": -0.4,
    "request": -0.2,
    "boundary": 0.0,
    "blame": 1.6,
    "criticism": 1.8,
    "defensiveness": 1.0,
    "stonewalling": 1.0,
    "passive": 0.0,
}


def reading_from_labels(labels: list[str]) -> Reading:
    """How a line lands, from the skill tagger's labels (replaces the cue estimate)."""
    delta = max(-3.0, min(3.0, sum(LABEL_PUSH.get(label, 0.0) for label in labels)))
    hostile = any(LABEL_PUSH.get(label, 0.0) > 0 for label in labels)
    if hostile and delta > 0:
        landed: Landing = "hostile"
    elif "passive" in labels:
        landed = "yielding"
    elif "boundary" in labels:
        landed = "firm" if delta >= 0 else "warm"
    else:
        landed = "warm" if delta < 0 else "neutral"
    return Reading(delta, landed, tuple(labels))
