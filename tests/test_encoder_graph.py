"""The compact encoder graph computes BERT: checked against a plain NumPy forward pass."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from encoder_graph import HEADS, HIDDEN, LAYERS, EncoderWeights, float_graph, write_int8

VOCAB, INNER = 64, 4 * HIDDEN
EPS = 1e-3  # not the kernels' default (1e-12), so an epsilon left out or hard-coded shows


def random_weights(seed: int = 0) -> EncoderWeights:
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float = 0.05) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    def norm_weight() -> np.ndarray:
        return (1.0 + normal(HIDDEN, scale=0.1)).astype(np.float32)

    embeddings = {
        "word": normal(VOCAB, HIDDEN, scale=0.5),
        "position": normal(512, HIDDEN, scale=0.5),
        "token_type": normal(2, HIDDEN, scale=0.5),
        "ln_w": norm_weight(),
        "ln_b": normal(HIDDEN),
    }
    layers = []
    for _ in range(LAYERS):
        layer = {m: normal(HIDDEN, HIDDEN) for m in ("wq", "wk", "wv", "wo")}
        layer |= {"wi": normal(HIDDEN, INNER), "wf": normal(INNER, HIDDEN)}
        layer |= {b: normal(HIDDEN) for b in ("bq", "bk", "bv", "bo", "bf", "ln1b", "ln2b")}
        layer |= {"bi": normal(INNER), "ln1w": norm_weight(), "ln2w": norm_weight()}
        layers.append(layer)
    return EncoderWeights(embeddings, layers, EPS)


def reference(w: EncoderWeights, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BERT as written in the papers: post-LayerNorm, erf GELU, padded keys masked out."""

    def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        centred = x - x.mean(-1, keepdims=True)
        return np.asarray(centred / np.sqrt((centred**2).mean(-1, keepdims=True) + w.eps) * weight + bias)

    erf = np.vectorize(math.erf)
    e = w.embeddings
    n, length = ids.shape
    x = layer_norm(e["word"][ids] + e["position"][:length] + e["token_type"][0], e["ln_w"], e["ln_b"])
    d = HIDDEN // HEADS
    blocked = np.where(mask[:, None, None, :] > 0, 0.0, -1e9)
    for p in w.layers:

        def heads(m: np.ndarray) -> np.ndarray:
            return m.reshape(n, length, HEADS, d).transpose(0, 2, 1, 3)

        q, k, v = (heads(x @ p["w" + c] + p["b" + c]) for c in "qkv")
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + blocked
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, length, HIDDEN)
        x = layer_norm(x + ctx @ p["wo"] + p["bo"], p["ln1w"], p["ln1b"])
        inner = x @ p["wi"] + p["bi"]
        inner = 0.5 * inner * (1.0 + erf(inner / math.sqrt(2.0)))
        x = layer_norm(x + inner @ p["wf"] + p["bf"], p["ln2w"], p["ln2b"])
    return x


def run(path_or_model: object, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    source = path_or_model.SerializeToString() if hasattr(path_or_model, "SerializeToString") else str(path_or_model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    return np.asarray(session.run(None, feeds)[0])


@pytest.fixture(scope="module")
def weights() -> EncoderWeights:
    return random_weights()


# two lines of different lengths, the shorter padded: padding must change nothing in either
IDS = np.array([[1, 17, 42, 8, 63, 5, 2], [1, 30, 9, 2, 0, 0, 0]], dtype=np.int64)
MASK = (np.arange(7)[None, :] < np.array([[7], [4]])).astype(np.int64)


def test_float_graph_matches_the_reference(weights: EncoderWeights) -> None:
    ours = run(float_graph(weights), IDS, MASK)
    theirs = reference(weights, IDS, MASK)
    valid = MASK.astype(bool)
    assert np.abs(ours[valid] - theirs[valid]).max() < 1e-4


def test_padding_changes_nothing(weights: EncoderWeights) -> None:
    model = float_graph(weights)
    batch = run(model, IDS, MASK)
    alone = run(model, IDS[1:, :4], MASK[1:, :4])
    assert np.abs(batch[1, :4] - alone[0]).max() < 1e-4


def test_int8_file_stays_close_to_the_reference(weights: EncoderWeights, tmp_path: Path) -> None:
    path = tmp_path / "encoder.onnx"
    write_int8(weights, path)
    ours = run(path, IDS, MASK)
    theirs = reference(weights, IDS, MASK)
    valid = MASK.astype(bool)
    a, b = ours[valid], theirs[valid]
    cosine = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    assert cosine.min() > 0.98
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    ops = [node.op_type for node in model.graph.node]
    assert ops.count("QAttention") == LAYERS  # fused attention, with int8 weights
    stored = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    assert stored["layer0.qkv_quantized"].dtype == np.int8
    assert stored["layer0.qkv_scale"].shape == (3 * HIDDEN,)  # one scale per output column
    assert stored["word_embeddings_quantized"].dtype == np.uint8
    assert path.stat().st_size < 0.4 * len(float_graph(weights).SerializeToString())
