"""The coach: tags each user line once, and uses the result twice — to move the counterpart's
mood (as the `MoodSignal`) and to compose the feedback shown beside the chat."""

from __future__ import annotations

from rag.retriever import Retriever
from rehearsal.feedback import TurnFeedback, compose_feedback
from rehearsal.mood import Reading, reading_from_labels
from rehearsal.scenario import Scenario
from rehearsal.tagger import SkillTagger


class Coach:
    """Skill tagger plus card retrieval for one session."""

    def __init__(self, scenario: Scenario, tagger: SkillTagger, retriever: Retriever):
        self.scenario, self.tagger, self.retriever = scenario, tagger, retriever
        self.used: set[str] = set()
        self.last_feedback: TurnFeedback | None = None

    def heard(self, counterpart_line: str) -> None:
        """The counterpart just spoke: encode its line now, while the user is still thinking."""
        self.tagger.remember(counterpart_line)

    def restore(self, kept: list[TurnFeedback]) -> None:
        """After a rewind: the feedback of the lines still standing is all that counts."""
        self.used = {label for feedback in kept for label in feedback.labels}
        self.last_feedback = kept[-1] if kept else None

    def read(self, text: str, context: str = "") -> Reading:
        """Tag the line, compose its feedback, and say how it lands with the counterpart."""
        tagging = self.tagger.tag(text, context)
        self.last_feedback = compose_feedback(tagging, text, self.scenario, self.retriever, self.used)
        self.used |= set(tagging.labels)
        return reading_from_labels(tagging.labels)
