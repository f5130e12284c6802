"""The in-character guard: code that keeps a weak model honest.

A reply that speaks as an AI or assistant, mentions prompts or instructions, leaks the persona's
hidden notes, or speaks for the user is a *violation*. Smaller slips (a name label, quotes, stage
directions, running past one turn) are *cleaned*. `GuardedStream` applies both while streaming:
it always holds back a few characters, so a violation is caught before any of it is shown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

_AI = re.compile(
    r"\b(as an? (ai|artificial|language model|assistant|chatbot|virtual)"
    r"|i(?:'m| am) (just |only )?(an? )?(ai|artificial|language model|chatbot|bot|virtual assistant|assistant|computer program)\b"
    r"|not (an? )?(real )?(ai|bot|human)\b|language model|chatbot|openai|qwen|alibaba cloud|anthropic|chatgpt)",
    re.IGNORECASE,
)
_AI_WORD = re.compile(r"\bA\.?I\b")
_ASSISTANT = re.compile(
    r"(^\W*(i(?:'m| am) sorry,? but|i apologi[sz]e|certainly[!,.]|sure[!,]? here|of course[!,] here|absolutely[!,] here)"
    r"|how (can|may) i (help|assist)|i can(?:no|')t (help|assist|comply|provide|fulfil)|(your|this|that) request\b"
    r"|let me know\b|feel free\b|i hope this helps|\banything else\b|i(?:'m| am) here to (help|assist|support you)"
    r"|if you need (any )?(help|anything|support|assistance)|here(?:'s| is| are) (some|a few|three|two) (tips|ways|ideas|steps)"
    r"|here(?:'s| is) (a|an|the|my) (revised|possible|sample|suggested)|as requested"
    r"|(happy|glad) to help|i'?d be (happy|glad) to|what would you like me to)",
    re.IGNORECASE,
)
_META = re.compile(
    r"(system (prompt|message)|\binstructions?\b|role-?play|\bin character|out of character|training film"
    r"|screenplay|\bscript\b|\bpersona\b|(the|this) scenario|\bprompt\b|stage note|\btension\b|/10\b"
    r"|character (sheet|notes?|description)|(my|your|the|this) character\b|narrator|the story\b|hidden notes?"
    r"|\btrained on\b|training data|\bmodel (that )?(generated|wrote|produced)\b|generated (the|this|that) text"
    r"|\b(this|the) model (is|was) (based|trained|built|made))",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"[{}<>]|```|^\s*[-*#] ", re.MULTILINE)  # JSON, code, tags, lists: nobody talks like that
_STAGE_DIRECTION = re.compile(r"\s*(\([^()\n]{1,60}\)|\*[^*\n]{1,60}\*|\[[^\[\]\n]{1,80}\])\s*")
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")
_CLAUSE_END = ".,;:!?…—"


@dataclass(frozen=True)
class GuardContext:
    """What the guard needs to know about the scene."""

    name: str
    user_name: str
    hidden_notes: tuple[str, ...] = ()
    previous: tuple[str, ...] = ()  # the counterpart's earlier lines and the user's last line
    user_lines: tuple[str, ...] = ()  # everything the user has said in the scene, for echoes
    max_sentences: int = 4
    leak_ngram: int = 5  # the red-team judge's definition of a leak
    echo_ngram: int = 6  # this many of the user's words in a row, repeated back, make a parroted reply


@dataclass(frozen=True)
class Violation:
    """A reason to reject a reply, and where in the cleaned text it starts."""

    kind: str
    start: int


_WORD = re.compile(r"[a-z0-9'’‘]+", re.IGNORECASE)


def _word_spans(text: str) -> list[tuple[str, int]]:
    """Each word of `text` (lower case, curly apostrophes made straight) with where it starts in `text`."""
    return [(m.group().lower().replace("’", "'").replace("‘", "'"), m.start()) for m in _WORD.finditer(text)]


def words_of(text: str) -> list[str]:
    """Lower-case word tokens, apostrophes kept (used for n-gram comparisons)."""
    return [word for word, _ in _word_spans(text)]


def _ngrams(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def find_violations(text: str, ctx: GuardContext, opening: bool = True) -> list[Violation]:
    """Every violation in `text` (already cleaned), earliest first.

    A loop or echo (`repeat`) only counts while judging the opening: once a reply is under way,
    cutting it for sounding familiar would do more harm than the repetition.
    """
    text = text.replace("’", "'")  # same length, so offsets still point into the original
    found = []
    for kind, rx in (("ai_identity", _AI), ("ai_identity", _AI_WORD), ("assistant_voice", _ASSISTANT), ("meta", _META)):
        if match := rx.search(text):
            found.append(Violation(kind, match.start()))
    label = re.compile(rf"(^|[\s\"'])\**{re.escape(ctx.user_name)}\**\s*:", re.IGNORECASE)
    if match := label.search(text):
        found.append(Violation("speaks_for_user", match.start()))
    if match := _MARKUP.search(text):
        found.append(Violation("markup", match.start()))
    if opening and _repeats(text, ctx.previous):
        found.append(Violation("repeat", 0))
    spans = _word_spans(text)
    leak = _shared_run_start(spans, ctx.hidden_notes, ctx.leak_ngram)
    if leak is not None:
        found.append(Violation("leak", leak))
    # parroting any earlier user line, wherever in the reply: the person answers, they don't recite
    echo = _shared_run_start(spans, ctx.user_lines, ctx.echo_ngram)
    if echo is not None:
        found.append(Violation("echo", echo))
    return sorted(found, key=lambda v: v.start)


def _repeats(text: str, previous: tuple[str, ...], opening: int = 5, overlap: float = 0.75) -> bool:
    """True for a loop or an echo: the same first words as an earlier line, or mostly old 3-grams."""
    words = words_of(text)
    if len(words) >= opening and any(words_of(line)[:opening] == words[:opening] for line in previous):
        return True
    grams = _ngrams(words, 3)
    if len(grams) < 6:
        return False
    said = set().union(*(_ngrams(words_of(line), 3) for line in previous)) if previous else set()
    return len(grams & said) / len(grams) >= overlap


@functools.lru_cache(maxsize=32)
def _runs_of(sources: tuple[str, ...], n: int) -> frozenset[tuple[str, ...]]:
    """Every run of `n` words in `sources`; cached, since a streamed reply is judged once per chunk."""
    return frozenset(set().union(*(_ngrams(words_of(source), n) for source in sources)))


def _shared_run_start(spans: list[tuple[str, int]], sources: tuple[str, ...], n: int) -> int | None:
    """Where the first run of `n` words of a text (its `_word_spans`) that also stands in one of
    `sources` begins."""
    if len(spans) < n or not sources:
        return None
    runs = _runs_of(sources, n)
    words = [word for word, _ in spans]
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) in runs:
            return spans[i][1]
    return None


def _open_run_start(spans: list[tuple[str, int]], sources: tuple[str, ...], n: int, shortest: int = 3) -> int | None:
    """Where a run of `shortest` to `n - 1` words at the very end of a text (its `_word_spans`),
    also found in `sources`, begins.

    Such a tail may be the first words of a leak or an echo still arriving: text from there on is
    held back until the next words show whether it is one.
    """
    if not sources:
        return None
    words = [word for word, _ in spans]
    for k in range(min(n - 1, len(words)), shortest - 1, -1):
        if tuple(words[-k:]) in _runs_of(sources, k):
            return spans[-k][1]
    return None


def clean(raw: str, ctx: GuardContext) -> tuple[str, bool]:
    """Strip name labels, stage directions, wrapping quotes; cut at a new line or past the limit.

    Returns the cleaned text and whether the reply was cut short (the model ran on).
    """
    text = raw.lstrip()
    own = re.compile(rf"^\**{re.escape(ctx.name)}\**\s*:\s*", re.IGNORECASE)
    text = own.sub("", text)
    cut = False
    if "\n" in text.strip():
        text, cut = text.strip().split("\n", 1)[0], True
    text = _STAGE_DIRECTION.sub(" ", text).strip()
    text = text.strip('"“”').strip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if len(ends) > ctx.max_sentences:
        text, cut = text[: ends[ctx.max_sentences - 1]], True
    return re.sub(r"\s{2,}", " ", text), cut


@dataclass
class GuardResult:
    """What happened to one attempt: the text shown, violations and whether it was cut."""

    text: str = ""
    violations: list[Violation] = field(default_factory=list)
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the attempt produced usable in-character text."""
        return bool(self.text) and not (self.violations and not self.truncated)


def _cut(text: str) -> str:
    """End a reply cut short the way speech breaks off: at a sentence end, or with a dash."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?…" else text + "—"


class GuardedStream:
    """Wrap a chunk stream; yield only text that passed the guard.

    Nothing is shown before `first_words` whole words are judged (as many as a leak takes), and
    later text is held back by `hold` characters (and while a bracket or quote is open) so a violation
    is usually found before any of it is shown. A violation before anything was shown fails the
    attempt (the caller regenerates); one after cuts the reply at the violation.
    """

    def __init__(self, chunks: Iterator[str], ctx: GuardContext, hold: int = 24, first_words: int = 5):
        self.chunks, self.ctx, self.hold, self.first_words = chunks, ctx, hold, first_words
        self.result = GuardResult()

    def _safe_length(self, text: str, final: bool) -> int:
        if final:
            return len(text)
        words = list(re.finditer(r"\S+", text))
        if len(words) < self.first_words:
            return 0  # judge the opening words (loops, echoes, assistant voice) before showing any
        # The judged opening goes out at once (it is what the user waits for), up to its last clause
        # break, since a phrase like "I am an AI" starts a clause; with no break, its last two words
        # wait. Later text trails `hold` characters behind, so it is caught before it is seen.
        head = words[: self.first_words]
        breaks = [w.end() for w in head if w.group()[-1] in _CLAUSE_END]
        opening = breaks[-1] if breaks else head[-3].end() if len(head) > 2 else 0
        limit = max(opening, text.rfind(" ", 0, max(0, len(text) - self.hold + 1)))  # whole words only
        # words that may begin a leak or an echo wait for the rest; if that leaves a stub of an
        # opening ("Yeah,"), nothing is shown yet, so a confirmed echo regenerates the whole reply
        spans = _word_spans(text)
        pending = [
            start
            for sources, n in ((self.ctx.hidden_notes, self.ctx.leak_ngram), (self.ctx.user_lines, self.ctx.echo_ngram))
            if (start := _open_run_start(spans, sources, n)) is not None
        ]
        if pending:
            limit = len(text[: min(limit, *pending)].rstrip())
            if sum(start < limit for _, start in spans) < self.first_words - 2:
                return 0
        for opener, closer in (("(", ")"), ("*", "*"), ("[", "]")):
            at = text.rfind(opener)
            if at != -1 and text.find(closer, at + 1) == -1:
                limit = min(limit, at)
        return max(0, limit)

    def __iter__(self) -> Iterator[str]:
        raw, shown = "", 0
        finished = True
        for chunk in self.chunks:
            raw += chunk
            text, cut = clean(raw, self.ctx)
            # judge whole words only: "prompt" may still become "promptly"
            judged = text if cut else text[: max(text.rfind(" "), 0)]
            violations = find_violations(judged, self.ctx, opening=shown == 0)
            if violations or cut:
                finished = False
                break
            safe = self._safe_length(judged, final=False)
            if safe > shown:
                yield text[shown:safe]
                shown = safe
        text, cut = clean(raw, self.ctx)
        violations = find_violations(text, self.ctx, opening=shown == 0)
        if violations:
            end = max(shown, violations[0].start)
            self.result = GuardResult(_cut(text[:end]) if shown else "", violations, truncated=bool(shown))
            text = self.result.text
        else:
            self.result = GuardResult(text, [], truncated=cut or not finished)
        if self.result.ok and len(text) > shown:
            yield text[shown:]
        if hasattr(self.chunks, "close"):
            self.chunks.close()  # stop generation early when we cut the reply
