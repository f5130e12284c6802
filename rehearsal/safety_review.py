"""A second opinion on crisis lines from a capable language model (optional, never lowers recall).

The fast detector (`rehearsal.safety`: cue rules and a learned layer, offline) screens every line
first. When a capable remote model plays the counterpart, a line the fast detector lets through is
also put to that model, with a fixed prompt, before the counterpart sees it. Its answer can only
add a pause: it is asked nothing about lines already paused, and a failure, a timeout or an answer
that is not one of the expected words leaves the fast verdict as it was. The line goes only to the
endpoint the user already chose for the counterpart, which would receive it next anyway.
"""

from __future__ import annotations

import json
import re

from rehearsal.hints import is_capable
from rehearsal.models.base import ChatModel, Generation, Message, answer_within
from rehearsal.prompts import PromptTemplate, load_prompt
from rehearsal.safety import Category, CrisisDetector, SafetyCheck
from rehearsal.settings import Settings

REVIEW_PROMPT = "safety.review.v1"
REVIEW_OPTIONS = Generation(max_tokens=8, temperature=0.0)
REVIEW_SECONDS = 10.0  # a stalled server costs the user this much before the line goes on
_ANSWER = re.compile(rf"\b({'|'.join(category.value for category in Category)}|none)\b")


class ModelReview:
    """Asks `model` whether a line may disclose real danger; a callable for `CrisisDetector`."""

    def __init__(self, model: ChatModel, prompt: PromptTemplate, seconds: float = REVIEW_SECONDS):
        self.model, self.prompt, self.seconds = model, prompt, seconds

    def messages(self, text: str) -> list[Message]:
        """The fixed instructions, then the line as a JSON string (quoted data, never instructions)."""
        return [
            Message("system", self.prompt.render("system", {})),
            Message("user", self.prompt.render("line", {"line": json.dumps(text, ensure_ascii=False)})),
        ]

    def __call__(self, text: str) -> SafetyCheck | None:
        """A crisis verdict, a clear "none", or None when there is no usable answer."""
        answer = answer_within(self.model, self.messages(text), REVIEW_OPTIONS, self.seconds, name="safety-review")
        found = _ANSWER.search(answer.lower()) if answer is not None else None
        if found is None:
            return None
        if found.group(1) == "none":
            return SafetyCheck(False)
        return SafetyCheck(True, Category(found.group(1)), "second_opinion")


def reviews(settings: Settings, model: ChatModel) -> bool:
    """Is the second opinion on? "auto": only for a capable remote model (the embedded 1.5B model,
    measured, caught one more held-out crisis line of 334 and paused 25–31% of the safe ones; SAFETY.md);
    "on": for any model; "off": never."""
    return settings.safety_review == "on" or (settings.safety_review == "auto" and is_capable(model))


def detector_for(settings: Settings, model: ChatModel, seconds: float = REVIEW_SECONDS) -> CrisisDetector:
    """The crisis detector a session uses: the fast one, with the model's second opinion when on."""
    if not reviews(settings, model):
        return CrisisDetector()
    prompt = load_prompt(settings.prompts_dir, REVIEW_PROMPT)
    return CrisisDetector(second_opinion=ModelReview(model, prompt, seconds))
