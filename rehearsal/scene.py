"""Turning a scenario and the conversation so far into model messages.

User text is only ever placed inside the scene as a quoted line of dialogue: it is flattened to
one line and stripped of anything that could pass for a speaker label or a chat-template token.
The scene is append-only (each turn's stage note stays where it was written) so the model
server can reuse its prompt cache from one turn to the next.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rehearsal.models.base import Message
from rehearsal.prompts import PromptTemplate
from rehearsal.scenario import Scenario

_TEMPLATE_TOKENS = re.compile(r"<\|[^|>]{0,40}\|>|\[/?INST\]|<</?SYS>>|</?s>", re.IGNORECASE)
_LABEL = re.compile(r"(^|\s)[^\W\d_][\w ]{1,24}:\s", re.MULTILINE)
_INJECTION = re.compile(
    r"(ignore|disregard|forget) (all |any |the |your )*(previous |prior |above |earlier )*(instructions|prompts?|rules|directions)"
    r"|system (prompt|message)|developer mode|jailbreak|(?-i:\bDAN\b)|your (instructions|prompt|persona|character notes|system)\b"
    r"|(reveal|print|show|repeat|output|translate|summari[sz]e|spell out) (me )?(all |the |your )*(text|words|instructions|prompt|notes|persona|everything) ?(above|before|so far)?"
    r"|(are|r) (you|u) (an? )?(ai|a\.i\.|bot|robot|language model|llm|chatbot|real person|human)\b"
    r"|drop (the |this |your )?act\b|break (the |your )?character|stop (the |this )?role-?play|stop pretending to be|out of character|role-?play"
    r"|you are (now )?(an? )?(ai|assistant|chatbot|language model|dan)\b|new instructions|^\s*(system|assistant|user)\s*:"
    r"|character (sheet|notes?|description)|hidden notes?|(as|be) the narrator|continue the story|this (exercise|simulation)"
    r"|\b(in|as) (json|xml|yaml|markdown|code|bullet points)\b|<\|im_|\[INST\]|###"
    r"|end of (the )?(scenario|scene|simulation|role-?play|exercise)\b"
    r"|(which|what) (ai |language )?model (are you|is this|generated|wrote|made|produced|am i)",
    re.IGNORECASE,
)


def is_meta_request(text: str) -> bool:
    """True when a user line tries to step outside the scene (prompt extraction, 'drop the act')."""
    return bool(_INJECTION.search(text))


def sanitize_line(text: str) -> str:
    """Flatten user text to one plain line that cannot impersonate a speaker or template token."""
    text = _TEMPLATE_TOKENS.sub(" ", text)
    text = " ".join(text.split())
    text = _LABEL.sub(lambda m: m.group(1) + m.group(0).strip().rstrip(":") + " - ", text)
    return text.replace("[", "(").replace("]", ")")[:1200]


@dataclass(frozen=True)
class SceneLine:
    """One line in the scene: who spoke, what the model sees, and the stage note after it."""

    speaker: str  # "user" or "counterpart"
    text: str
    note: str = ""


def persona_values(scenario: Scenario) -> dict[str, str]:
    """The placeholder values for the system section of a counterpart prompt."""
    p = scenario.persona
    return {
        "name": p.name,
        "relationship": p.relationship,
        "age_note": f", {p.age}" if p.age else "",
        "personality": p.personality,
        "speaking_style": p.speaking_style,
        "surface_want": p.surface_want,
        "underlying_need": p.underlying_need,
        "escalates_when": "; ".join(p.escalates_when),
        "softens_when": "; ".join(p.softens_when),
        "backstory": p.backstory or "nothing beyond the situation",
        "user_name": scenario.user_name,
        "situation": scenario.situation,
    }


def build_messages(prompt: PromptTemplate, scenario: Scenario, lines: list[SceneLine], keep: int = 24) -> list[Message]:
    """Render the prompt for the counterpart's next line, in the prompt's framing."""
    system = prompt.render("system", persona_values(scenario))
    recent = lines[:1] + lines[1:][-keep:] if len(lines) > keep + 1 else lines
    name, user = scenario.persona.name, scenario.user_name
    if prompt.framing in ("screenplay", "continuation"):
        script = []
        for line in recent:
            label = (name if line.speaker == "counterpart" else user).upper()
            script.append(f"{label}: {line.text}")
            if line.note:
                script.append(line.note)
        script.append(f"{name.upper()}:")
        if prompt.framing == "continuation":
            request = prompt.render("request", {"name": name})
            return [Message("system", system), Message("user", request), Message("assistant", "\n".join(script))]
        return [Message("system", system), Message("user", prompt.render("scene", {"scene": "\n".join(script)}))]
    if prompt.framing == "role":
        messages = [Message("system", system)]
        for line in recent:
            if line.speaker == "counterpart":
                messages.append(Message("assistant", line.text))
            else:
                messages.append(Message("user", f"{line.text}\n\n{line.note}".strip()))
        return messages
    raise ValueError(f"unknown prompt framing '{prompt.framing}'")


def stop_sequences(scenario: Scenario) -> tuple[str, ...]:
    """Where generation must stop: the user's label, or a blank line."""
    user = scenario.user_name.upper()
    return (f"\n{user}:", f"{user}:", "\n\n", f"\n{scenario.user_name}:")
