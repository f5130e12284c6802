"""A rehearsal session: the counterpart engine plus the store, so every line is saved at once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from rehearsal.coach import Coach
from rehearsal.counterpart import Counterpart, Reply
from rehearsal.errors import ModelError
from rehearsal.feedback import TurnFeedback
from rehearsal.models.base import ChatModel
from rehearsal.prompts import PromptTemplate, load_prompt
from rehearsal.report import ReportTurn, SessionReport, build_report
from rehearsal.safety import CrisisDetected, CrisisDetector, SafetyCheck
from rehearsal.scenario import Scenario
from rehearsal.settings import Settings
from rehearsal.store import Store

DEFAULT_PROMPT = "counterpart.screenplay.v1"
# On the embedded server the script is the model's own turn, which it continues: each reply then
# stays in the server's prompt cache and a turn only reads the user's line and its stage note.
# OpenAI's API cannot continue an assistant message, so remote models keep the screenplay framing.
LOCAL_PROMPT = "counterpart.continuation.v1"


@dataclass(frozen=True)
class ModelFailure:
    """A model failure as the record holds it: the error, the endpoint, and what was shown of the reply."""

    error: str
    endpoint: str
    partial_reply: str  # '' when no reply came at all


@dataclass
class Session:
    """One conversation with one counterpart, recorded turn by turn."""

    id: str
    counterpart: Counterpart
    store: Store
    next_idx: int = 0
    transcript: list[tuple[str, str]] = field(default_factory=list)  # (speaker, text) as said
    coach: Coach | None = None
    mode: str = "client"
    turns: list[ReportTurn] = field(default_factory=list)
    rewound: list[ReportTurn] = field(default_factory=list)  # lines taken back, kept for the report
    _spoken: list[tuple[int, int]] = field(default_factory=list)  # store idx of each (user, reply) pair
    _shown: list[int] = field(default_factory=list)  # store idx of each transcript line
    _unanswered: tuple[str, int] | None = None  # the user's last line, while the model has not answered it
    safety: CrisisDetector = field(default_factory=CrisisDetector)
    _screened: tuple[str, SafetyCheck] | None = None  # the last line screened, so say() need not redo it

    @classmethod
    def start(
        cls,
        scenario: Scenario,
        model: ChatModel,
        store: Store,
        prompt: PromptTemplate,
        level: str = "medium",
        seed: int | None = None,
        coach: Coach | None = None,
        mode: str = "client",
        safety: CrisisDetector | None = None,
    ) -> Session:
        """Create the record and write the counterpart's opening line.

        `scenario` is the one the engine plays (see `modes.for_mode`); `mode` is recorded with it.
        With a coach, each user line is tagged: the labels move the mood and feedback is composed.
        `safety` screens each line (default: the offline detector alone; see `safety_review.detector_for`).
        """
        counterpart = Counterpart(scenario, model, prompt, level=level, seed=seed, mood_signal=coach)
        session_id = store.create_session(scenario.id, level, model.model_id, prompt.id, mode=mode)
        session = cls(session_id, counterpart, store, coach=coach, mode=mode, safety=safety or CrisisDetector())
        session._record("counterpart", scenario.opening_line, counterpart.mood.tension, {"opening": True})
        if coach is not None:
            coach.heard(scenario.opening_line)
        return session

    def _record(self, speaker: str, text: str, tension: float | None, meta: Mapping[str, object]) -> int:
        idx = self.next_idx
        self.store.add_turn(self.id, idx, speaker, text, tension, meta)
        self.transcript.append((speaker, text))
        self._shown.append(idx)
        self.next_idx += 1
        return idx

    def screen(self, user_text: str) -> SafetyCheck:
        """Crisis check on a line before anything else sees it; a hit is recorded as a flag only.

        The line left unanswered by a failed reply was screened (or confirmed as role-play) when it
        was first sent: sending it again does not pause a second time."""
        if self._is_resent(user_text):
            check = SafetyCheck(False)
            self._screened = (user_text, check)
            return check
        check = self.safety.check(user_text)
        self._screened = (user_text, check)
        if check.crisis:
            self.store.add_event(self.id, self.next_idx, "safety", {"crisis": True, "category": str(check.category)})
        return check

    def say(self, user_text: str, confirmed_roleplay: bool = False) -> Iterator[str]:
        """Screen the line, save it, then stream and save the counterpart's reply.

        A line that may disclose real danger raises CrisisDetected before it is stored or sent to
        the model; the user may send it again with `confirmed_roleplay=True` once they confirm it
        was part of the role-play (recorded as an event). If the model fails, the user's line is
        already stored, the failure is recorded as an event naming the endpoint, and the ModelError
        propagates for the edge to show, with `partial_reply` set to what was shown of the reply.
        Sending the same line again retries it: it is not saved a second time.
        """
        screened, self._screened = self._screened, None
        if confirmed_roleplay:
            self.store.add_event(self.id, self.next_idx, "safety_confirmed_roleplay", {})
        else:
            # an edge that already screened this line (to pause before showing anything) is not charged twice
            check = screened[1] if screened and screened[0] == user_text else self.screen(user_text)
            if check.crisis:
                raise CrisisDetected(check)
        if self._unanswered and self._is_resent(user_text):
            user_idx = self._unanswered[1]
        else:
            user_idx = self._record("user", user_text, None, {})
            self._unanswered = (user_text, user_idx)
        model = self.counterpart.model
        shown: list[str] = []
        try:
            for piece in self.counterpart.respond(user_text):
                shown.append(piece)
                yield piece
        except ModelError as exc:
            exc.partial_reply = "".join(shown)
            detail = {"endpoint": exc.endpoint, "error": str(exc), "partial_reply": exc.partial_reply}
            self.store.add_event(self.id, user_idx, "model_error", detail)
            raise
        self._unanswered = None
        reply = self.counterpart.last_reply
        assert reply is not None
        meta = {"guard": reply.guard.as_dict(), "model_id": model.model_id}
        if reply.reading is not None:
            meta["landed"], meta["cues"] = reply.reading.landed, list(reply.reading.cues)
        feedback = self.coach.last_feedback if self.coach else None
        if feedback is not None:
            meta["feedback"] = feedback.as_dict()
            self.turns.append(ReportTurn(len(self.turns) + 1, user_text, reply.text, reply.tension, feedback))
        idx = self._record("counterpart", reply.text, reply.tension, meta)
        self._spoken.append((user_idx, idx))
        if reply.guard.regenerated or reply.guard.fallback or reply.guard.deflected or reply.guard.truncated:
            self.store.add_event(self.id, idx, "guard", reply.guard.as_dict())
        if self.coach is not None:
            self.coach.heard(reply.text)

    def _is_resent(self, user_text: str) -> bool:
        """Is this the line a failed reply left unanswered, sent again?"""
        return self._unanswered is not None and self._unanswered[0] == user_text

    @property
    def can_rewind(self) -> bool:
        """True once the user has said something that was answered, or a line the model failed to answer."""
        return bool(self._spoken) or self._unanswered is not None

    @property
    def unanswered(self) -> str | None:
        """The user's last line if the model failed to answer it (send it again to retry)."""
        return self._unanswered[0] if self._unanswered else None

    def failures(self) -> dict[int, ModelFailure]:
        """The last recorded model failure on each user line still without a reply, by its place in the transcript.

        Read from the record (the model_error events), so a page can show a cut-off reply again after
        any rerun. A line sent again and answered has a reply, so it has no entry.
        """
        waiting = {
            self._shown[place]: place
            for place, (speaker, _) in enumerate(self.transcript)
            if speaker == "user" and (place + 1 == len(self.transcript) or self.transcript[place + 1][0] == "user")
        }
        found: dict[int, ModelFailure] = {}
        for event in self.store.events(self.id):
            if event["kind"] == "model_error" and event["turn_idx"] in waiting:
                detail = event["detail"]
                found[waiting[event["turn_idx"]]] = ModelFailure(
                    str(detail.get("error", "")), str(detail.get("endpoint", "")), str(detail.get("partial_reply", ""))
                )
        return found

    def _take_back(self, idxs: list[int]) -> str:
        """Drop these lines from the transcript and mark them taken back; returns the first one's text."""
        taken = self.transcript[self._shown.index(idxs[0])][1]
        kept = [(line, idx) for line, idx in zip(self.transcript, self._shown, strict=True) if idx not in idxs]
        self.transcript, self._shown = [line for line, _ in kept], [idx for _, idx in kept]
        self.store.mark_rewound(self.id, idxs)
        self.store.add_event(self.id, idxs[0], "rewind", {"turns": idxs})
        return taken

    def rewind(self) -> str:
        """Take back the last user line and its reply, to try another wording; returns the line.

        Both lines stay in the record, marked as taken back, and the report compares the two tries.
        A line the model failed to answer is taken back on its own (the scene never saw it).
        """
        if self._unanswered is not None:
            idx, self._unanswered = self._unanswered[1], None
            if self.coach is not None:
                self.coach.restore([t.feedback for t in self.turns])  # it was read, but never answered
            return self._take_back([idx])
        if not self._spoken:
            raise ValueError("nothing to take back yet")
        user_idx, reply_idx = self._spoken.pop()
        self.counterpart.rewind()
        taken = self._take_back([user_idx, reply_idx])
        if self.coach is not None and self.turns:
            self.rewound.append(self.turns.pop())
            self.coach.restore([t.feedback for t in self.turns])
        return taken

    def set_level(self, level: str) -> None:
        """Change the difficulty from the next line on (recorded as an event)."""
        self.counterpart.set_level(level)
        self.store.add_event(self.id, self.next_idx, "level", {"level": level})

    @property
    def last_feedback(self) -> TurnFeedback | None:
        """Feedback on the user's most recent line (None without a coach)."""
        return self.coach.last_feedback if self.coach else None

    def report(self) -> SessionReport | None:
        """The end-of-session report (None without a coach)."""
        if self.coach is None:
            return None
        start = self.counterpart.level.starting_tension
        return build_report(self.counterpart.scenario, start, self.turns, self.coach.retriever, self.rewound)

    @property
    def last_reply(self) -> Reply | None:
        """The most recent counterpart reply record."""
        return self.counterpart.last_reply

    def end(self) -> SessionReport | None:
        """Mark the session as finished and keep its report with it (for the review and progress pages)."""
        report = self.report()
        if report is not None:
            self.store.add_event(self.id, None, "report", report.as_dict())
        self.store.end_session(self.id)
        return report


def default_prompt_id(model: str) -> str:
    """The counterpart prompt that measures best for this model setting."""
    return LOCAL_PROMPT if model.strip() in ("local", "local-small") else DEFAULT_PROMPT


def open_prompt(settings: Settings, prompt_id: str | None = None) -> PromptTemplate:
    """Load the named counterpart prompt, or the default for the configured model."""
    return load_prompt(settings.prompts_dir, prompt_id or default_prompt_id(settings.model))
