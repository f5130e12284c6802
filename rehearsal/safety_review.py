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
import threading
from concurrent.futures import Future
from pathlib import Path

from rehearsal.hints import is_capable
from rehearsal.models.base import ChatModel, Generation, Message
from rehearsal.prompts import PromptTemplate, load_prompt
from rehearsal.safety import Category, CrisisDetector, SafetyCheck
from rehearsal.settings import Settings

REVIEW_PROMPT = "safety.review.v1"
REVIEW_OPTIONS = Generation(max_tokens=8, temperature=0.0)
REVIEW_SECONDS = 10.0  # a stalled server costs the user this much before the line goes on
MODES = ("auto", "on", "off")
_ANSWER = re.compile(r"\b(suicidal_ideation|self_harm|being_harmed|harming_others|none)\b")


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
        answer = self._ask(self.messages(text))
        found = _ANSWER.search(answer.lower()) if answer is not None else None
        if found is None:
            return None
        if found.group(1) == "none":
            return SafetyCheck(False)
        return SafetyCheck(True, Category(found.group(1)), "second_opinion")

    def _ask(self, messages: list[Message]) -> str | None:
        answer: Future[str] = Future()

        def run() -> None:
            try:
                answer.set_result("".join(self.model.stream(messages, REVIEW_OPTIONS)))
            except Exception as exc:  # reported through the future; the fast verdict stands
                answer.set_exception(exc)

        # a daemon thread, so a stalled server costs `seconds`, not the model's request timeout
        threading.Thread(target=run, name="safety-review", daemon=True).start()
        try:
            return answer.result(timeout=self.seconds)
        except Exception:
            return None


def reviews(settings: Settings, model: ChatModel) -> bool:
    """Is the second opinion on? "auto": only for a capable remote model (the embedded 1.5B model,
    measured, caught one more held-out crisis line of 334 and paused 25–31% of the safe ones; SAFETY.md);
    "on": for any model; "off": never."""
    return settings.safety_review == "on" or (settings.safety_review == "auto" and is_capable(model))


def detector_for(settings: Settings, model: ChatModel, prompts_dir: Path | None = None) -> CrisisDetector:
    """The crisis detector a session uses: the fast one, with the model's second opinion when on."""
    if not reviews(settings, model):
        return CrisisDetector()
    prompt = load_prompt(prompts_dir or settings.prompts_dir, REVIEW_PROMPT)
    return CrisisDetector(second_opinion=ModelReview(model, prompt))
