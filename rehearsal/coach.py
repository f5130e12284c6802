"""The coach: tags each user line once, and uses the result twice — to move the counterpart's
mood (as the `MoodSignal`) and to compose the feedback shown beside the chat."""

from __future__ import annotations

from dataclasses import replace

from rag.retriever import Retriever
from rehearsal.feedback import TurnFeedback, compose_feedback
from rehearsal.mood import Reading, reading_from_labels
from rehearsal.scenario import Scenario
from rehearsal.tagger import SkillTagger
from rehearsal.techniques import technique_notes


class Coach:
    """Skill tagger plus card retrieval for one session."""

    def __init__(self, scenario: Scenario, tagger: SkillTagger, retriever: Retriever, trainee: bool = False):
        """`trainee`: the user plays the therapist, so IPT techniques are noted too."""
        self.scenario, self.tagger, self.retriever, self.trainee = scenario, tagger, retriever, trainee
        self.used: set[str] = set()
        self.last_feedback: TurnFeedback | None = None

    def heard(self, counterpart_line: str) -> None:
        """The counterpart just spoke: encode its line now, while the user is still thinking."""
        self.tagger.remember(counterpart_line)

    def restore(self, kept: list[TurnFeedback]) -> None:
        """After a rewind: the feedback of the lines still standing is all that counts."""
        self.used = {label for feedback in kept for label in feedback.labels}
        self.used |= {n.technique for feedback in kept for n in feedback.techniques if n.used}
        self.last_feedback = kept[-1] if kept else None

    def read(self, text: str, context: str = "") -> Reading:
        """Tag the line, compose its feedback, and say how it lands with the counterpart."""
        tagging = self.tagger.tag(text, context)
        feedback = compose_feedback(tagging, text, self.scenario, self.retriever, self.used)
        if self.trainee:
            notes = technique_notes(text, self.used)
            feedback = replace(feedback, techniques=notes)
            self.used |= {n.technique for n in notes if n.used}
        self.last_feedback = feedback
        self.used |= set(tagging.labels)
        return reading_from_labels(tagging.labels)
