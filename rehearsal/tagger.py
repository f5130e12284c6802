"""The skill tagger: eleven labels for a user line, judged against the counterpart's previous line.

Fast and deterministic, no LLM: per-label logistic regressions over the packaged MiniLM sentence
embeddings of the line and of its context (and their product, which carries "is this a restatement
of what was just said?"), plus the taxonomy's surface cues and a few shape features. Each label has
its own decision threshold, chosen by cross-validation on the training split only. The evidence
for a label is the sentence holding its cue, or else the sentence the model scores highest.
"""

from __future__ import annotations

import itertools
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

_WH = re.compile(r"^\W*(what|how|which|where|when|who|tell me|talk me|walk me|help me)\b", re.IGNORECASE)
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
    return [
        *cues,
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
FEATURE_VERSION = "2"  # bump when featurize changes: stored weights then count as stale
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


def featurize(encoder: Encoder, texts: Sequence[str], contexts: Sequence[str]) -> np.ndarray:
    """The feature matrix for (text, context) pairs.

    Embeddings are scaled up so the shared L2 penalty does not drown them next to the 0/1 cues.
    """
    distinct = list(dict.fromkeys(contexts))  # a context shared by many lines is encoded once
    vectors = encoder.encode([*texts, *distinct], with_max=True)
    row = {context: i for i, context in enumerate(distinct)}
    text_both = vectors[: len(texts)]
    ctx_vec = vectors[len(texts) :, :DIMENSIONS][[row[c] for c in contexts]]
    text_vec, text_max = text_both[:, :DIMENSIONS], text_both[:, DIMENSIONS:]
    similarity = (text_vec * ctx_vec).sum(axis=1, keepdims=True)
    shapes = np.array([shape_features(t, c) for t, c in zip(texts, contexts, strict=True)], dtype=np.float32)
    grams = np.array([ngram_features(t) for t in texts], dtype=np.float32)
    return np.hstack(
        [text_vec * 4, text_max * 4, text_vec * ctx_vec * 40, similarity, shapes * CUE_SCALE, grams * 2]
    ).astype(np.float32)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 30) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression.

    Solved by Newton's method in the dual (the weights are a combination of training rows), which
    costs n^3 instead of d^3 per step: the features are many more than the training lines.
    """
    xb = np.hstack([x, np.ones((len(x), 1), dtype=np.float64)])
    kernel = xb @ xb.T
    alpha = np.zeros(len(x))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(kernel @ alpha, -30, 30)))
        w = p * (1 - p)
        step = np.linalg.solve(w[:, None] * kernel + l2 * np.eye(len(x)), p - y + l2 * alpha)
        alpha -= step
        if np.abs(step).max() < 1e-7:
            break
    return np.asarray(xb.T @ alpha)


def _f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & gold).sum())
    return 2 * tp / (pred.sum() + gold.sum()) if (pred.sum() + gold.sum()) else 1.0


@dataclass
class TaggerModel:
    """Trained weights: one row per label, with its threshold."""

    weights: np.ndarray
    thresholds: np.ndarray
    fingerprint: str = ""

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n, labels)."""
        logits = features @ self.weights[:, :-1].T + self.weights[:, -1]
        return np.asarray(1 / (1 + np.exp(-np.clip(logits, -30, 30))))

    def save(self, path: Path) -> None:
        """Write weights to an .npz file."""
        np.savez_compressed(path, weights=self.weights, thresholds=self.thresholds, fingerprint=self.fingerprint)

    @classmethod
    def load(cls, path: Path) -> TaggerModel:
        """Read weights written by `save`."""
        data = np.load(path)
        return cls(data["weights"], data["thresholds"], str(data["fingerprint"]))


def train(encoder: Encoder, examples: list[Example], folds: int = 5, l2: float = 1.0) -> TaggerModel:
    """Fit every label on `examples`; thresholds come from out-of-fold predictions."""
    x = featurize(encoder, [e.text for e in examples], [e.context for e in examples]).astype(np.float64)
    y = np.array([[label in e.labels for label in LABELS] for e in examples], dtype=np.float64)
    fold_of = np.arange(len(examples)) % folds
    oof = np.zeros_like(y)
    for fold in range(folds):
        fit, held = fold_of != fold, fold_of == fold
        for j in range(len(LABELS)):
            w = fit_logistic(x[fit], y[fit, j], l2)
            oof[held, j] = 1 / (1 + np.exp(-np.clip(x[held] @ w[:-1] + w[-1], -30, 30)))
    thresholds = np.array([_best_threshold(oof[:, j], y[:, j] > 0) for j in range(len(LABELS))])
    weights = np.vstack([fit_logistic(x, y[:, j], l2) for j in range(len(LABELS))])
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
    """Tags user lines with the eleven labels, with evidence spans."""

    def __init__(self, encoder: Encoder, model: TaggerModel):
        self.encoder, self.model = encoder, model

    def tag(self, text: str, context: str = "") -> Tagging:
        """Tag one line."""
        return self.tag_batch([text], [context])[0]

    def tag_batch(self, texts: Sequence[str], contexts: Sequence[str]) -> list[Tagging]:
        """Tag many lines at once (faster: one encoder call)."""
        if not texts:
            return []
        probs = self.model.scores(featurize(self.encoder, texts, contexts))
        return [self._tagging(t, c, p) for t, c, p in zip(texts, contexts, probs, strict=True)]

    def _tagging(self, text: str, context: str, probs: np.ndarray) -> Tagging:
        chosen = [label for j, label in enumerate(LABELS) if probs[j] >= self.model.thresholds[j]]
        evidence = {label: self._evidence(label, text, context) for label in chosen}
        return Tagging(chosen, evidence, {label: round(float(probs[j]), 3) for j, label in enumerate(LABELS)})

    def _evidence(self, label: str, text: str, context: str) -> str:
        parts = sentences(text)
        flat = [p.replace("’", "'") for p in parts]
        with_cue = [p for p, f in zip(parts, flat, strict=True) if CUES[label].search(f)]
        if with_cue or len(parts) == 1:
            return (with_cue or parts)[0]
        j = LABELS.index(label)
        scores = self.model.scores(featurize(self.encoder, parts, [context] * len(parts)))[:, j]
        return parts[int(np.argmax(scores))]


WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "tagger.npz"


def train_default(encoder: Encoder) -> TaggerModel:
    """Train on the training split of the project's exemplars (never on the test split)."""
    train_split, _ = split(all_exemplars())
    model = train(encoder, train_split)
    model.fingerprint = _expected_fingerprint()
    return model


def _expected_fingerprint() -> str:
    return f"{fingerprint(split(all_exemplars())[0])}-f{FEATURE_VERSION}"


def load_tagger(encoder: Encoder | None = None, path: Path = WEIGHTS_PATH) -> SkillTagger:
    """The shipped tagger; retrained in memory if its weights are missing or stale."""
    if encoder is None:
        from rag.embeddings import shared_encoder

        encoder = shared_encoder()
    expected = _expected_fingerprint()
    if path.exists():
        model = TaggerModel.load(path)
        if model.fingerprint == expected:
            return SkillTagger(encoder, model)
    return SkillTagger(encoder, train_default(encoder))
