"""The skill tagger: eleven labels for a user line, judged against the counterpart's previous line.

Fast and deterministic, no LLM. Two models, one interface:

- **tuned** (shipped): the line is embedded by the tagger's own copy of MiniLM, fine-tuned on the
  training split of the exemplars (`tools/finetune_encoder.py`); one linear layer per label reads
  the line's vector, the context's vector (shipped MiniLM, so the counterpart's line can be encoded
  while the user reads it) and their product. Thresholds were chosen on a dev share of the
  training split.
- **full** (fallback, trained in memory when the exemplars changed since the tuned model was
  made): per-label logistic regressions over the shipped MiniLM embeddings of line and context,
  the taxonomy's surface cues, hashed word n-grams and a few shape features, thresholds chosen by
  cross-validation on the training split.

The test split is never fit on. The evidence for a label is the sentence holding its cue, or else
the sentence the model scores highest.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.embeddings import DIMENSIONS
from rehearsal.exemplars import Example, all_exemplars, fingerprint, split
from rehearsal.taxonomy import CUES, LABELS

log = logging.getLogger(__name__)  # file names and reasons only, never a user's line

_WH = re.compile(r"^\W*(what|how|which|where|when|who|tell me|talk me|walk me|help me)\b", re.IGNORECASE)
# spoken openers that come before the real start of a sentence ("Okay. So, what happened?")
_FILLER = re.compile(
    r"^(\W*\b(okay|ok|so|and|but|well|um+|uh+|er+|mm+|mm-hmm|hmm+|right|yeah|yes|alright|all right|now|oh|ah|look)\b)+\W*",
    re.IGNORECASE,
)
_CLOSED = re.compile(
    r"^(do|does|did|are|is|was|were|have|has|had|can|could|would|will|should|shall|may|might|am|won't|don't|didn't"
    r"|isn't|aren't|haven't|can't|wouldn't)\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?…]+[.!?…]*")


class Encoder(Protocol):
    """Anything that turns texts into unit-length vectors."""

    def encode(self, texts: list[str], batch_size: int = 32, with_max: bool = False) -> np.ndarray:
        """One row per text (mean pooling; with `with_max`, max pooling appended)."""
        ...


def shape_features(text: str, context: str) -> list[float]:
    """Cue flags for every label, plus a few shape signals."""
    flat = text.replace("’", "'")
    words = flat.split()
    cues = [1.0 if CUES[label].search(flat) else 0.0 for label in LABELS]
    lower = flat.lower().lstrip(" \"'")
    parts = [_FILLER.sub("", part) for part in sentences(flat)]
    asked = [part for part in parts if part.rstrip().endswith("?")]
    return [
        *cues,
        # the sentence shapes that tell open from closed questions, wherever they sit in the line
        1.0 if any(_WH.search(part) for part in parts) else 0.0,
        1.0 if any(_WH.search(part) for part in asked) else 0.0,
        1.0 if any(_CLOSED.search(part) for part in asked) else 0.0,
        1.0 if asked and parts[-1] == asked[-1] else 0.0,
        min(len(parts), 5) / 5,
        1.0 if flat.rstrip().endswith("?") else 0.0,
        1.0 if _WH.search(flat) else 0.0,
        1.0 if lower.startswith(("you ", "you'", "your ")) else 0.0,
        1.0 if lower.startswith(("i ", "i'")) else 0.0,
        1.0 if len(words) <= 3 else 0.0,
        min(len(words), 40) / 40,
        1.0 if "!" in flat else 0.0,
        1.0 if not context.strip() else 0.0,
    ]


NGRAM_BUCKETS = 4096
CUE_SCALE = 1.0  # weight of the cue and shape flags (3.0 measured no better on the training folds)
FEATURE_VERSION = "3"  # bump when featurize changes: stored weights then count as stale
_TOKEN = re.compile(r"[a-z0-9']+|[?!*…]")


def ngram_features(text: str) -> np.ndarray:
    """Hashed word unigrams, bigrams and the opening words, L2-normalised (stable across runs)."""
    tokens = _TOKEN.findall(text.lower().replace("’", "'"))
    grams = [*tokens, *(" ".join(pair) for pair in itertools.pairwise(tokens)), "^" + " ".join(tokens[:2])]
    vec = np.zeros(NGRAM_BUCKETS, dtype=np.float32)
    for gram in grams:
        vec[zlib.crc32(gram.encode()) % NGRAM_BUCKETS] = 1.0
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


def featurize(
    encoder: Encoder, texts: Sequence[str], contexts: Sequence[str], known: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """The feature matrix for (text, context) pairs.

    Each distinct context is encoded once, and not at all when `known` already holds its vector
    (new ones are added to it). Embeddings are scaled up so the shared L2 penalty does not drown
    them next to the 0/1 cues.
    """
    known = {} if known is None else known
    fresh = [c for c in dict.fromkeys(contexts) if c not in known]
    vectors = encoder.encode([*texts, *fresh], with_max=True)
    for i, context in enumerate(fresh):
        known[context] = vectors[len(texts) + i, :DIMENSIONS]
    text_both = vectors[: len(texts)]
    ctx_vec = np.stack([known[c] for c in contexts])
    text_vec, text_max = text_both[:, :DIMENSIONS], text_both[:, DIMENSIONS:]
    similarity = (text_vec * ctx_vec).sum(axis=1, keepdims=True)
    shapes = np.array([shape_features(t, c) for t, c in zip(texts, contexts, strict=True)], dtype=np.float32)
    grams = np.array([ngram_features(t) for t in texts], dtype=np.float32)
    return np.hstack(
        [text_vec * 4, text_max * 4, text_vec * ctx_vec * 40, similarity, shapes * CUE_SCALE, grams * 2]
    ).astype(np.float32)


TUNED_SCALE = 4.0  # tools/finetune_encoder.py trains the head on features scaled by this


def encode_contexts(encoder: Encoder, contexts: Sequence[str], known: dict[str, np.ndarray]) -> None:
    """Add to `known` the vector of each distinct context it does not hold yet (one encoder call)."""
    fresh = [c for c in dict.fromkeys(contexts) if c not in known]
    if fresh:
        for context, vector in zip(fresh, encoder.encode(fresh), strict=True):
            known[context] = vector[:DIMENSIONS]


def featurize_tuned(
    encoder: Encoder,
    line_encoder: Encoder,
    texts: Sequence[str],
    contexts: Sequence[str],
    known: dict[str, np.ndarray] | None = None,
    together: bool = False,
) -> np.ndarray:
    """Features of the tuned model: [line, context, line * context], scaled as in training.

    Lines go through the tuned encoder one at a time: its int8 arithmetic scales activations per
    call, so a line batched with others would get other numbers than alone (`together` encodes
    all `texts` in one call, for the sentences of one line). Contexts go through the
    shipped encoder (each distinct context once, and not at all when `known` holds it already).
    """
    known = {} if known is None else known
    encode_contexts(encoder, contexts, known)
    lines = line_encoder.encode(list(texts), batch_size=len(texts) if together else 1)[:, :DIMENSIONS]
    ctx = np.stack([known[c] for c in contexts])
    return np.hstack([lines, ctx, lines * ctx]).astype(np.float32) * TUNED_SCALE


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 30) -> np.ndarray:
    """Weights (bias last) of L2-regularised logistic regressions, one per column of `y`.

    Solved by Newton's method in the dual (the weights are a combination of training rows), which
    costs n^3 instead of d^3 per step: the features are many more than the training lines. The
    kernel is shared by every column, so it is computed once.
    """
    xb = np.hstack([x, np.ones((len(x), 1), dtype=np.float64)])
    kernel = xb @ xb.T
    targets = y.reshape(len(x), -1)
    alphas = np.zeros(targets.shape)
    for j in range(targets.shape[1]):
        alpha = alphas[:, j]
        for _ in range(steps):
            p = 1 / (1 + np.exp(-np.clip(kernel @ alpha, -30, 30)))
            w = p * (1 - p)
            step = np.linalg.solve(w[:, None] * kernel + l2 * np.eye(len(x)), p - targets[:, j] + l2 * alpha)
            alpha -= step
            if np.abs(step).max() < 1e-7:
                break
    weights = np.asarray((xb.T @ alphas).T)
    return weights[0] if y.ndim == 1 else weights


def _f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & gold).sum())
    return 2 * tp / (pred.sum() + gold.sum()) if (pred.sum() + gold.sum()) else 1.0


@dataclass
class TaggerModel:
    """Trained weights: one row per label, with its threshold.

    `kind` says which features the weights read: "full" (`featurize`) or "tuned"
    (`featurize_tuned`, which needs the tuned line encoder).
    """

    weights: np.ndarray
    thresholds: np.ndarray
    fingerprint: str = ""
    kind: str = "full"

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n, labels)."""
        logits = features @ self.weights[:, :-1].T + self.weights[:, -1]
        return np.asarray(1 / (1 + np.exp(-np.clip(logits, -30, 30))))

    def save(self, path: Path) -> None:
        """Write weights to an .npz file."""
        np.savez_compressed(
            path, weights=self.weights, thresholds=self.thresholds, fingerprint=self.fingerprint, kind=self.kind
        )

    @classmethod
    def load(cls, path: Path) -> TaggerModel:
        """Read weights written by `save`."""
        data = np.load(path)
        kind = str(data["kind"]) if "kind" in data else "full"
        return cls(data["weights"], data["thresholds"], str(data["fingerprint"]), kind)


def train(encoder: Encoder, examples: list[Example], folds: int = 5, l2: float = 1.0) -> TaggerModel:
    """Fit every label on `examples`; thresholds come from out-of-fold predictions."""
    x = featurize(encoder, [e.text for e in examples], [e.context for e in examples]).astype(np.float64)
    y = np.array([[label in e.labels for label in LABELS] for e in examples], dtype=np.float64)
    fold_of = np.arange(len(examples)) % folds
    oof = np.zeros_like(y)
    for fold in range(folds):
        fit, held = fold_of != fold, fold_of == fold
        w = fit_logistic(x[fit], y[fit], l2)
        oof[held] = 1 / (1 + np.exp(-np.clip(x[held] @ w[:, :-1].T + w[:, -1], -30, 30)))
    thresholds = np.array([_best_threshold(oof[:, j], y[:, j] > 0) for j in range(len(LABELS))])
    weights = fit_logistic(x, y, l2)
    return TaggerModel(weights.astype(np.float32), thresholds.astype(np.float32))


def _best_threshold(scores: np.ndarray, gold: np.ndarray) -> float:
    candidates = np.linspace(0.05, 0.9, 35)
    return float(max(candidates, key=lambda t: (_f1(scores >= t, gold), -abs(t - 0.5))))


@dataclass(frozen=True)
class Tagging:
    """The labels found in one line, each with the span of text that shows it."""

    labels: list[str]
    evidence: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def sentences(text: str) -> list[str]:
    """The line cut into sentences (the whole line when it has one)."""
    parts = [s.strip() for s in _SENTENCE.findall(text) if s.strip()]
    return parts or [text.strip()]


class SkillTagger:
    """Tags user lines with the eleven labels, with evidence spans.

    Context vectors are kept for the last few contexts: `remember` encodes the counterpart's line
    as soon as it is spoken, so tagging the answer only has to encode the answer.
    """

    CONTEXTS_KEPT = 64

    def __init__(
        self,
        encoder: Encoder,
        model: TaggerModel,
        line_encoder: Encoder | None = None,
        why_fallback: str = "",
        files: tuple[Path, ...] = (),
    ):
        if model.kind == "tuned" and line_encoder is None:
            raise ValueError("a tuned tagger model needs its line encoder")
        self.encoder, self.model, self.line_encoder = encoder, model, line_encoder
        self.why_fallback = why_fallback  # why the shipped model was not used, when it was not
        self.files = files  # the model files it was loaded from, when they are not the shipped ones
        self._contexts: dict[str, np.ndarray] = {}

    def remember(self, context: str) -> None:
        """Encode a context ahead of the line that will answer it."""
        encode_contexts(self.encoder, [context], self._contexts)
        self._keep([context])

    def forget(self) -> None:
        """Drop every remembered context."""
        self._contexts.clear()

    def tag(self, text: str, context: str = "") -> Tagging:
        """Tag one line."""
        return self.tag_batch([text], [context])[0]

    def tag_batch(self, texts: Sequence[str], contexts: Sequence[str]) -> list[Tagging]:
        """Tag many lines at once (contexts are encoded together; each line gets the numbers it would
        get alone)."""
        if not texts:
            return []
        probs = self.model.scores(self._featurize(texts, contexts))
        chosen = [[label for j, label in enumerate(LABELS) if p[j] >= self.model.thresholds[j]] for p in probs]
        evidence = self._evidence(texts, contexts, chosen)
        return [
            Tagging(labels, found, {label: round(float(p[j]), 3) for j, label in enumerate(LABELS)})
            for labels, found, p in zip(chosen, evidence, probs, strict=True)
        ]

    def _featurize(self, texts: Sequence[str], contexts: Sequence[str], together: bool = False) -> np.ndarray:
        if self.model.kind == "tuned":
            assert self.line_encoder is not None
            features = featurize_tuned(self.encoder, self.line_encoder, texts, contexts, self._contexts, together)
        else:
            features = featurize(self.encoder, texts, contexts, self._contexts)
        self._keep(contexts)
        return features

    def _keep(self, contexts: Sequence[str]) -> None:
        for context in contexts:  # most recently used last, so the oldest go first
            self._contexts[context] = self._contexts.pop(context)
        while len(self._contexts) > self.CONTEXTS_KEPT:
            del self._contexts[next(iter(self._contexts))]

    def _evidence(self, texts: Sequence[str], contexts: Sequence[str], chosen: list[list[str]]) -> list[dict[str, str]]:
        """For each line and label, the sentence holding the label's cue, or else the sentence scored
        highest for it."""
        found: list[dict[str, str]] = [{} for _ in texts]
        to_score: list[tuple[int, str, list[str]]] = []  # (line, label, its sentences)
        for i, (text, labels) in enumerate(zip(texts, chosen, strict=True)):
            parts = sentences(text)
            for label in labels:
                with_cue = [p for p in parts if CUES[label].search(p.replace("’", "'"))]
                if with_cue or len(parts) == 1:
                    found[i][label] = (with_cue or parts)[0]
                else:
                    to_score.append((i, label, parts))
        # each line's sentences in one call of their own, so a line's evidence never depends on the
        # lines tagged with it
        scored = {
            i: self.model.scores(self._featurize(parts, [contexts[i]] * len(parts), together=True))
            for i, parts in {i: parts for i, _, parts in to_score}.items()
        }
        for i, label, parts in to_score:
            found[i][label] = parts[int(np.argmax(scored[i][:, LABELS.index(label)]))]
        return found


WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "tagger.npz"
LINE_ENCODER_PATH = Path(__file__).resolve().parent / "data" / "tagger-encoder.onnx"
# The user's line is tagged before the counterpart model is asked (its labels set the mood), so the
# model server is idle and both cores are free: two threads take a line from ~6 ms to ~4 ms here.
LINE_ENCODER_THREADS = 2


def train_default(encoder: Encoder) -> TaggerModel:
    """Train the full model on the training split of the project's exemplars (never on the test split)."""
    train_split, _ = split(all_exemplars())
    model = train(encoder, train_split)
    model.fingerprint = expected_fingerprint("full", train_split)
    return model


def feature_signature() -> str:
    """The feature version plus a checksum of the cue patterns, so editing a cue makes weights stale."""
    patterns = "\n".join(rx.pattern for rx in (*CUES.values(), _WH, _FILLER, _CLOSED))
    return f"{FEATURE_VERSION}.{zlib.crc32(patterns.encode()):08x}"


def line_encoder_digest(path: Path = LINE_ENCODER_PATH) -> str:
    """Short checksum of the tuned line encoder file ("none" when there is none)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "none"


def expected_fingerprint(kind: str, trained_on: list[Example] | None = None, encoder: Path = LINE_ENCODER_PATH) -> str:
    """What a model of `kind` must carry to match the exemplars (and features or encoder) as they are.

    A trainer passes the lines it actually read (`trained_on`): exemplar files added while it ran
    must leave its model stale, not stamped as current. It also passes the encoder file it wrote
    (`encoder`) when that file is moved into place only after the model is saved."""
    data = fingerprint(split(all_exemplars())[0] if trained_on is None else trained_on)
    if kind == "tuned":
        return f"{data}-tuned-e{line_encoder_digest(encoder)}"
    return f"{data}-f{feature_signature()}"


def load_tagger(encoder: Encoder | None = None, path: Path = WEIGHTS_PATH) -> SkillTagger:
    """The shipped tagger; a full model retrained in memory if the shipped one is missing or stale."""
    from rag.embeddings import shared_encoder

    encoder = encoder or shared_encoder()
    if not path.exists():
        why = f"{path.name} is missing"
    else:
        model = TaggerModel.load(path)
        if model.fingerprint == expected_fingerprint(model.kind):
            line_encoder = shared_encoder(LINE_ENCODER_PATH, LINE_ENCODER_THREADS) if model.kind == "tuned" else None
            files = () if path == WEIGHTS_PATH else ((LINE_ENCODER_PATH,) if line_encoder else ()) + (path,)
            return SkillTagger(encoder, model, line_encoder, files=files)  # files: named when not the shipped ones
        why = (
            f"{path.name} was made for other exemplars or another "
            + (LINE_ENCODER_PATH.name if model.kind == "tuned" else "feature set")
            + " (retrain with `make finetune`)"
        )
    log.warning("skill tagger: %s; training a stand-in model in memory", why)
    return SkillTagger(encoder, train_default(encoder), why_fallback=why)


def load_candidate(weights: Path, line_encoder: Path | None = None) -> SkillTagger:
    """A tagger from model files other than the shipped ones, to measure a trial before it ships.

    The fingerprint is not checked (a trial's model is made for exemplars or an encoder the app
    does not ship yet). A tuned model needs the encoder it was trained with."""
    from rag.embeddings import shared_encoder

    model = TaggerModel.load(weights)
    if model.kind != "tuned":
        if line_encoder is not None:
            raise ValueError(f"{weights.name} is a full model: it reads no tuned line encoder")
        return SkillTagger(shared_encoder(), model, files=(weights,))
    if line_encoder is None:
        raise ValueError(f"{weights.name} is a tuned model: name the line encoder it was trained with")
    tuned = shared_encoder(line_encoder, LINE_ENCODER_THREADS)
    return SkillTagger(shared_encoder(), model, tuned, files=(line_encoder, weights))


def describe(tagger: SkillTagger) -> str:
    """One line on which model a tagger runs, for tables measured with it."""
    if tagger.files:
        kind = "fine-tuned line encoder and linear layer" if tagger.model.kind == "tuned" else "logistic regressions"
        return f"tagger: a candidate, not the shipped model ({kind}: {', '.join(str(f) for f in tagger.files)})"
    if tagger.model.kind == "tuned":
        return f"tagger: fine-tuned line encoder ({LINE_ENCODER_PATH.name}) and linear layer"
    kind = "logistic regressions over the untuned embeddings"
    if not tagger.why_fallback:  # shipped as it is by `rehearse train-tagger --full`
        return f"tagger: {kind} ({WEIGHTS_PATH.name})"
    return f"tagger: {kind}, trained in memory (the shipped model was not used: {tagger.why_fallback})"
