"""MiniLM weights written as a compact ONNX graph that runs in int8 on onnxruntime's CPU kernels.

The graph is built node by node rather than exported, so that each transformer layer is a handful
of fused kernels: one `Attention` (query, key and value in one matrix, the padding mask applied
inside), a matrix product and a `SkipLayerNormalization` (residual, bias and layer norm), and the
feed-forward block as matrix product, `BiasGelu`, matrix product and `SkipLayerNormalization`.
`quantize_dynamic` then stores every matrix as int8 per output column and quantises activations
per call; the word-embedding table is stored as uint8. ("Compact" is the node count: 128 for
MiniLM-L6, against 396 in the exported graph; the file is 23.4 MB, the position table being float.)

The position table has token type 0 added in: the app never sets another token type, and the
graph keeps a `token_type_ids` input only so that callers feed it the same three inputs as the
packaged encoder.

Needs `onnx` (the `dev` and `train` extras) and onnxruntime; not PyTorch.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LAYERS, HIDDEN, HEADS = 6, 384, 12
# Initialiser names in the exported graphs (the packaged encoder's, and tagger encoders written
# before this module): embedding role -> name after "inner.embeddings.", layer vector role -> name
# after "inner.encoder.layer.N.".
# a layer's matrices by role: query, key, value, attention out, intermediate, output (the order
# the packaged graph stores them in; tagger encoders of the old pipeline store key first)
LAYER_MATRICES = ("wq", "wk", "wv", "wo", "wi", "wf")
EMBEDDINGS = {
    "word": "word_embeddings.weight",
    "position": "position_embeddings.weight",
    "token_type": "token_type_embeddings.weight",
    "ln_w": "LayerNorm.weight",
    "ln_b": "LayerNorm.bias",
}
LAYER_VECTORS = {
    "bq": "attention.self.query.bias",
    "bk": "attention.self.key.bias",
    "bv": "attention.self.value.bias",
    "bo": "attention.output.dense.bias",
    "ln1w": "attention.output.LayerNorm.weight",
    "ln1b": "attention.output.LayerNorm.bias",
    "bi": "intermediate.dense.bias",
    "bf": "output.dense.bias",
    "ln2w": "output.LayerNorm.weight",
    "ln2b": "output.LayerNorm.bias",
}


@dataclass
class EncoderWeights:
    """BERT weights by role; matrices are (inputs, outputs), as they multiply from the right."""

    embeddings: dict[str, np.ndarray]
    layers: list[dict[str, np.ndarray]]
    eps: float


def layer_norm_epsilon(model: onnx.ModelProto) -> float:
    """The epsilon of the graph's first layer norm (all of BERT's share one)."""
    for node in model.graph.node:
        if node.op_type in ("LayerNormalization", "SkipLayerNormalization"):
            for attribute in node.attribute:
                if attribute.name == "epsilon":
                    return float(attribute.f)
    raise ValueError("the graph has no layer norm with an epsilon")


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, contrib: bool = False, **attributes: Any) -> str:
        domain = "com.microsoft" if contrib else None
        self.nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attributes))
        return output


def float_graph(weights: EncoderWeights) -> onnx.ModelProto:
    """The encoder in float32: inputs `input_ids`, `attention_mask`, `token_type_ids` (batch,
    sequence; int64), output `last_hidden_state` (batch, sequence, HIDDEN)."""
    g, e, eps = _Graph(), weights.embeddings, weights.eps
    f32 = np.float32
    words = g.node("Gather", [g.const("word_embeddings", e["word"].astype(f32)), "input_ids"], "words")
    length = g.node(
        "Slice",
        [g.node("Shape", ["input_ids"], "ids_shape"), g.const("one", np.array([1])), g.const("two", np.array([2]))],
        "length",
    )
    positions = g.const("positions_type0", (e["position"] + e["token_type"][0]).astype(f32))
    positions = g.node("Slice", [positions, g.const("zero", np.array([0])), length], "positions")
    x = g.node("Add", [words, positions], "embedded")
    x = g.node(
        "LayerNormalization",
        [x, g.const("embeddings_ln_w", e["ln_w"].astype(f32)), g.const("embeddings_ln_b", e["ln_b"].astype(f32))],
        "hidden_0",
        axis=-1,
        epsilon=eps,
    )
    mask = g.node("Cast", ["attention_mask"], "mask", to=TensorProto.INT32)
    for i, w in enumerate(weights.layers):
        last = i == len(weights.layers) - 1

        def c(key: str, value: np.ndarray, i: int = i) -> str:
            return g.const(f"layer{i}.{key}", value.astype(f32))

        qkv = np.concatenate([w["wq"], w["wk"], w["wv"]], axis=1)
        qkv_bias = np.concatenate([w["bq"], w["bk"], w["bv"]])
        attended = g.node(
            "Attention", [x, c("qkv", qkv), c("qkv_b", qkv_bias), mask], f"layer{i}.attended", True, num_heads=HEADS
        )
        attended = g.node("MatMul", [attended, c("wo", w["wo"])], f"layer{i}.attention_out")
        x = g.node(
            "SkipLayerNormalization",
            [attended, x, c("ln1w", w["ln1w"]), c("ln1b", w["ln1b"]), c("bo", w["bo"])],
            f"layer{i}.hidden_mid",
            True,
            epsilon=eps,
        )
        inner = g.node("MatMul", [x, c("wi", w["wi"])], f"layer{i}.inner")
        inner = g.node("BiasGelu", [inner, c("bi", w["bi"])], f"layer{i}.gelu", True)
        out = g.node("MatMul", [inner, c("wf", w["wf"])], f"layer{i}.out")
        x = g.node(
            "SkipLayerNormalization",
            [out, x, c("ln2w", w["ln2w"]), c("ln2b", w["ln2b"]), c("bf", w["bf"])],
            "last_hidden_state" if last else f"layer{i}.hidden",
            True,
            epsilon=eps,
        )
    ids = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask", "token_type_ids")
    ]
    hidden = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])
    graph = helper.make_graph(g.nodes, "minilm", ids, [hidden], g.initializers)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.ir_version = 8  # readable by older onnxruntime releases too (onnx 1.23 would write IR 14)
    return model


def write_int8(weights: EncoderWeights, path: Path) -> None:
    """Write the encoder to `path` with int8 matrices (per output column) and uint8 word embeddings."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    quiet = _DropQuantiserAdvice()
    root.addFilter(quiet)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "float.onnx"
            onnx.save(float_graph(weights), str(plain))
            quantize_dynamic(
                plain,
                path,
                weight_type=QuantType.QInt8,
                per_channel=True,
                # the contrib nodes' outputs have no inferred type; they are all float
                extra_options={"MatMulConstBOnly": True, "DefaultTensorType": TensorProto.FLOAT},
            )
    finally:
        root.removeFilter(quiet)


class _DropQuantiserAdvice(logging.Filter):
    """The quantiser's two generic warnings ("consider pre-processing", "check if already
    quantized") on every call say nothing about this graph; anything else still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(
            ("Please consider to run pre-processing", "Please check if the model is already quantized")
        )
