"""IPT therapist techniques, for trainee mode: clarification, communication analysis, encouraging affect.

Cue patterns over the trainee's line (a therapist's moves have recognisable wording), each tied to
the knowledge card that explains the technique (Weissman, Markowitz & Klerman's guide to IPT).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TECHNIQUES = {
    "clarification": (
        "Clarification",
        "clarification",
        re.compile(
            r"\b(?:what do you mean|do you mean|when you say|so you'?re saying|so what you'?re saying|let me check|"
            r"have i got that right|did i get that right|is that right|can you say more about what|help me understand|"
            r"you said .{0,40} (?:but|and) also)\b",
            re.IGNORECASE,
        ),
    ),
    "communication_analysis": (
        "Communication analysis",
        "communication-analysis",
        re.compile(
            r"\b(?:what did (?:you|he|she|they) (?:say|do|answer|reply)|what (?:exactly )?(?:was said|were the words)|"
            r"and then what (?:happened|did)|what happened (?:next|then)|how did (?:you|he|she|they) (?:say|put|react|respond)|"
            r"what did you (?:want|hope|expect) (?:to happen|from|him|her|them)|how did (?:it|that) (?:start|end|go)|"
            r"walk me through|take me through|the last time you (?:talked|spoke|argued|tried))\b",
            re.IGNORECASE,
        ),
    ),
    "encouraging_affect": (
        "Encouraging affect",
        "encouraging-affect",
        re.compile(
            r"\b(?:how did (?:that|it|you) feel|how do you feel|how does (?:that|it) feel|what was (?:that|it) like for you|"
            r"what did you feel|what are you feeling|it'?s okay to (?:feel|cry|be)|what feelings|"
            r"sounds (?:painful|frightening|lonely|sad|really hard)|where do you feel)\b",
            re.IGNORECASE,
        ),
    ),
}
WHY = {
    "clarification": "You checked your understanding before moving on, so the client can correct or deepen it.",
    "communication_analysis": "You asked for the actual exchange: what was said and what happened next is where IPT finds the pattern.",
    "encouraging_affect": "You invited the feeling, which IPT treats as information about the relationship.",
}
TRY = {
    "clarification": "Check you understood: 'When you say …, do you mean …?'",
    "communication_analysis": "Ask for one recent conversation word for word: 'What did you say, and what did they say back?'",
    "encouraging_affect": "Invite the feeling: 'How did that feel, when they said that?'",
}


@dataclass(frozen=True)
class TechniqueNote:
    """One technique used (or to try), with the card that explains it."""

    technique: str
    title: str
    used: bool
    text: str
    card_id: str


def techniques_in(text: str) -> list[str]:
    """The techniques a therapist's line shows."""
    flat = text.replace("’", "'")
    return [key for key, (_, _, cue) in TECHNIQUES.items() if cue.search(flat)]


def technique_notes(text: str, used_before: set[str]) -> list[TechniqueNote]:
    """What the line did well, and the first technique not yet tried in the session."""
    found = techniques_in(text)
    notes = [TechniqueNote(k, TECHNIQUES[k][0], True, WHY[k], TECHNIQUES[k][1]) for k in found]
    missing = next((k for k in TECHNIQUES if k not in used_before | set(found)), None)
    if missing:
        notes.append(TechniqueNote(missing, TECHNIQUES[missing][0], False, TRY[missing], TECHNIQUES[missing][1]))
    return notes
