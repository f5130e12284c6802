""" "What could I say?": a next move for the user, with a sentence stem and the card behind it.

The move needs no model: it is the first skill in focus the user has not used yet (or, after a
pitfall, the skill that repairs it), phrased as a stem the user finishes in their own words.
When a capable remote model plays the counterpart, it is also asked for one line in the user's
voice that makes the move (`prompts/hint.v1.md`). The line is checked in code and dropped on any
doubt, failure or timeout: the stem and the card always stand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from pathlib import Path

from rag.retriever import Retriever
from rehearsal.counterpart import printable
from rehearsal.guard import GuardContext, find_violations
from rehearsal.models.base import ChatModel, Generation, Message, answer_within
from rehearsal.prompts import PromptTemplate, load_prompt
from rehearsal.scenario import Scenario
from rehearsal.scene import sanitize_line
from rehearsal.taxonomy import TITLES

STEMS = {
    "reflection": "So for you, … — have I got that right?",
    "open_question": "What is the hardest part of this for you?",
    "validation": "I can see why that would feel …, given …",
    "i_statement": "When …, I feel … , because I need …",
    "request": "Would you be willing to … by …?",
    "boundary": "I'm not able to … . What I can do is …",
}
WHY = {
    "reflection": "Say back what {name} just told you before making your own point: people argue less once they feel heard.",
    "open_question": "Ask something {name} cannot answer with yes or no, to learn what is behind the position.",
    "validation": "Say what is understandable in {name}'s view; it does not mean you agree.",
    "i_statement": "Describe the effect on you instead of judging {name}.",
    "request": "Turn what you want into one concrete thing {name} can say yes to.",
    "boundary": "State your limit once, calmly, with no pile of reasons.",
}
# after a pitfall, the skill that repairs it
REPAIR = {
    "blame": "i_statement",
    "criticism": "i_statement",
    "defensiveness": "validation",
    "stonewalling": "request",
    "passive": "boundary",
}
HINT_PROMPT = "hint.v1"
PHRASE_SECONDS = 10.0  # a hint is worth a short wait, not the model's full request timeout
PHRASE_OPTIONS = Generation(max_tokens=80, temperature=0.7, stop=("\n\n",))
MAX_WORDS = 40
RECENT_LINES = 12


@dataclass(frozen=True)
class Hint:
    """One suggested move."""

    label: str
    title: str
    why: str
    stem: str
    card_id: str
    card_title: str
    line: str | None = None  # the move as one line in the user's voice, from a capable model


def suggest(scenario: Scenario, used: set[str], last_labels: list[str], retriever: Retriever) -> Hint:
    """The next move: repair the last pitfall, else a focus skill not used yet, else the first focus skill."""
    focus = [s.value for s in scenario.skills_in_focus]
    repair = next((REPAIR[label] for label in last_labels if label in REPAIR), None)
    label = repair or next((s for s in focus if s not in used), focus[0])
    hits = retriever.search(f"{TITLES[label]} {scenario.user_goal}", label=label, k=1)
    name = scenario.persona.name
    return Hint(
        label,
        TITLES[label],
        WHY[label].format(name=name),
        STEMS[label],
        hits[0].card_id if hits else "",
        hits[0].title if hits else "",
    )


def is_capable(model: ChatModel) -> bool:
    """Can this model phrase a line for the user? Remote models (OpenAI or a compatible server) can;
    the embedded 1.5B/0.5B models slip out of the user's voice, and the fakes only replay lines."""
    return model.model_id.startswith("openai:")


def phrase(
    hint: Hint,
    scenario: Scenario,
    transcript: Sequence[tuple[str, str]],
    model: ChatModel,
    prompts_dir: Path,
    seconds: float = PHRASE_SECONDS,
) -> Hint:
    """The hint with one line in the user's voice when a capable model gives a good one, else as it was.

    `transcript` is the conversation so far as (speaker, text) pairs, speaker "user" or "counterpart".
    """
    if not is_capable(model):
        return hint
    messages = hint_messages(load_prompt(prompts_dir, HINT_PROMPT), scenario, transcript, hint)
    answer = answer_within(model, messages, PHRASE_OPTIONS, seconds, name="hint-phrasing")
    said = [text for speaker, text in transcript if speaker == "counterpart"]
    line = checked_line(answer, scenario, said) if answer is not None else None
    return replace(hint, line=line) if line else hint


def hint_messages(
    prompt: PromptTemplate, scenario: Scenario, transcript: Sequence[tuple[str, str]], hint: Hint
) -> list[Message]:
    """The request for one line: who the user is and the move in the system message, the scene after it."""
    persona = scenario.persona
    values = {
        "user_role": scenario.user_role,
        "situation": scenario.situation,
        "user_goal": scenario.user_goal,
        "name": persona.name,
        "relationship": persona.relationship,
        "move": hint.title,
        "why": hint.why,
        "stem": hint.stem,
    }
    labels = {"counterpart": persona.name.upper(), "user": scenario.user_name.upper()}
    script = "\n".join(f"{labels[speaker]}: {sanitize_line(text)}" for speaker, text in transcript[-RECENT_LINES:])
    return [
        Message("system", prompt.render("system", values)),
        Message("user", prompt.render("scene", {"scene": script})),
    ]


_QUOTES = "\"'“”‘’«»"
_LEADING_LABEL = re.compile(r"^\W*[^\W\d_][\w'.-]*(?: [^\W\d_][\w'.-]*){0,2}\s*:")
_SENTENCE_END = re.compile(r"[.!?]+(?=[\s\"'”’)]|$)")
_WORD = re.compile(r"[\w']+")


def checked_line(answer: str, scenario: Scenario, counterpart_lines: Sequence[str]) -> str | None:
    """The answer as a line the user could say as it stands, or None.

    It must be one line of one or two sentences under MAX_WORDS words, with no speaker label,
    placeholder, control character or terminal escape (what `printable` cleans from replies), pass
    the counterpart's own guard from the user's side (no AI or assistant voice, no talk of prompts
    or role-play, no markup, not speaking as the other person, no echo), and not copy anything the
    other person said.
    """
    line = answer.strip().strip(_QUOTES).strip()
    if not line or "\n" in line or len(line.split()) > MAX_WORDS or "…" in line:
        return None
    if "".join(printable(iter([line]))) != line:
        return None
    if _LEADING_LABEL.match(line) or len(_SENTENCE_END.findall(line)) > 2:
        return None
    user_side = GuardContext(scenario.user_name, scenario.persona.name, previous=tuple(counterpart_lines))
    if find_violations(line, user_side) or any(_copies(line, said) for said in counterpart_lines):
        return None
    return line


def _copies(line: str, said: str) -> bool:
    """Is `line` the other person's words again (nearly the same, or a long stretch of them)?"""
    ours, theirs = " ".join(_WORD.findall(line.lower())), " ".join(_WORD.findall(said.lower()))
    if not ours or not theirs:
        return False
    return SequenceMatcher(None, ours, theirs).ratio() >= 0.8 or (len(ours.split()) >= 6 and ours in theirs)
