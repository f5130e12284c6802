"""Rewrite a tagger encoder from the exported graph into the compact one (`encoder_graph`).

Tagger encoders written before the compact graph existed are the packaged encoder's exported
graph with the tuned weights in it: attention spelt out in some seventy small nodes, matrices
int8 per output column, embedding tables uint8. This reads the weights back exactly (each
matrix is found by the bias its product is added to) and writes them as the compact graph, whose
int8 matrices hold the same values. The tagger's head is not touched. Its fingerprint names the
encoder file's checksum, so with `--in-place` the shipped encoder is replaced and the shipped
head stamped for it, provided the head was current for the encoder it replaces and no exemplar's
vector moves below a cosine of 0.95. (The head's least-squares correction was fitted to the old
graph's int8 vectors; the new graph's differ by the noise of quantising activations per call.)

    .venv/bin/python tools/compact_encoder.py EXPORTED.onnx OUT.onnx
    .venv/bin/python tools/compact_encoder.py --in-place     # rehearsal/data/tagger-encoder.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from encoder_graph import (
    EMBEDDINGS,
    HIDDEN,
    LAYER_MATRICES,
    LAYER_VECTORS,
    LAYERS,
    EncoderWeights,
    layer_norm_epsilon,
    write_int8,
)
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.embeddings import MiniLMEncoder
from rehearsal.exemplars import all_exemplars
from rehearsal.files import staged
from rehearsal.tagger import LINE_ENCODER_PATH, WEIGHTS_PATH, TaggerModel, expected_fingerprint

LAYER_BIASES = ("bq", "bk", "bv", "bo", "bi", "bf")  # the bias added to each of those products

MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")
# the bias added to a layer's matrix product names the matrix: initialiser name -> matrix role
BIAS_ROLES = {LAYER_VECTORS[bias]: matrix for matrix, bias in zip(LAYER_MATRICES, LAYER_BIASES, strict=True)}
SHAPES = {"wq": (HIDDEN, HIDDEN), "wk": (HIDDEN, HIDDEN), "wv": (HIDDEN, HIDDEN), "wo": (HIDDEN, HIDDEN)}
SHAPES |= {"wi": (HIDDEN, 4 * HIDDEN), "wf": (4 * HIDDEN, HIDDEN)}
PARITY_FLOOR = 0.95  # lowest cosine allowed between the old and new encoder's vectors of an exemplar


class NotExported(SystemExit):
    """The file is not an exported encoder graph with int8 matrices."""


def read_exported(path: Path) -> EncoderWeights:
    """The weights of an exported encoder graph with int8 matrices, exactly as stored."""
    model = onnx.load(str(path))
    if any(node.op_type in ("Attention", "QAttention") for node in model.graph.node):
        raise NotExported(f"{path} is already a compact graph")
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def stored(name: str) -> np.ndarray:
        if name not in init:
            raise NotExported(f"{path} has no initialiser {name}")
        return init[name]

    def dequantised(base: str) -> np.ndarray:
        q, scale, zero = (stored(base + s) for s in ("_quantized", "_scale", "_zero_point"))
        return np.asarray((q.astype(np.float32) - zero.astype(np.float32)) * scale, dtype=np.float32)

    def layer_bias(node: onnx.NodeProto) -> tuple[int, str] | None:
        for name in node.input:
            parts = name.split(".", 4)
            if name.startswith("inner.encoder.layer.") and len(parts) == 5 and parts[4] in BIAS_ROLES:
                return int(parts[3]), BIAS_ROLES[parts[4]]
        return None

    def role_of(product: onnx.NodeProto) -> tuple[int, str] | None:
        """The bias the product carries itself, or the first one added after it (through casts and
        scale products)."""
        frontier = [product]
        for _ in range(5):
            following: list[onnx.NodeProto] = []
            for node in frontier:
                found = layer_bias(node)
                if found is not None:
                    return found
                following += [c for output in node.output for c in consumers.get(output, [])]
            frontier = following
        return None

    layers: list[dict[str, np.ndarray]] = [
        {key: stored(f"inner.encoder.layer.{i}.{name}") for key, name in LAYER_VECTORS.items()} for i in range(LAYERS)
    ]
    for node in model.graph.node:
        if node.op_type not in MATMULS:
            continue
        quantised = next((n for n in node.input if n in init and n.endswith("_quantized")), None)
        if quantised is None:
            raise NotExported(f"{path}: the product {node.name} has no int8 matrix")
        base = quantised[: -len("_quantized")]
        found = role_of(node)
        if found is None:
            raise NotExported(f"{path}: no layer bias follows the product of {base}")
        layer, role = found
        if not 0 <= layer < LAYERS or role in layers[layer]:
            raise NotExported(f"{path}: layer {layer} has a second or unexpected {role} matrix ({base})")
        matrix = dequantised(base)
        if matrix.shape != SHAPES[role]:
            raise NotExported(f"{path}: {base} ({role} of layer {layer}) is {matrix.shape}, not {SHAPES[role]}")
        layers[layer][role] = matrix
    missing = [(i, r) for i, layer in enumerate(layers) for r in SHAPES if r not in layer]
    if missing:
        raise NotExported(f"{path}: matrices not found: {missing}")
    embeddings = {key: dequantised("inner.embeddings." + EMBEDDINGS[key]) for key in ("word", "position", "token_type")}
    embeddings |= {key: stored("inner.embeddings." + EMBEDDINGS[key]) for key in ("ln_w", "ln_b")}
    return EncoderWeights(embeddings, layers, layer_norm_epsilon(model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("exported", type=Path, nargs="?")
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--in-place", action="store_true", help="replace the shipped encoder and restamp its head")
    args = parser.parse_args(argv)
    if args.in_place:
        return replace_shipped()
    if args.exported is None or args.out is None:
        parser.error("give EXPORTED and OUT, or --in-place")
    write_int8(read_exported(args.exported), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


def replace_shipped() -> int:
    """Rewrite the shipped encoder in place, if its head is current and the vectors barely move."""
    head = TaggerModel.load(WEIGHTS_PATH)
    if head.kind != "tuned" or head.fingerprint != expected_fingerprint("tuned", encoder=LINE_ENCODER_PATH):
        print(f"{WEIGHTS_PATH} is not current for {LINE_ENCODER_PATH}; retune with `make finetune` instead")
        return 1
    weights = read_exported(LINE_ENCODER_PATH)
    with staged(LINE_ENCODER_PATH, WEIGHTS_PATH) as (new_encoder, new_weights):
        write_int8(weights, new_encoder)
        texts = [example.text for example in all_exemplars()]
        old = MiniLMEncoder(model_path=LINE_ENCODER_PATH).encode(texts, with_max=True)
        new = MiniLMEncoder(model_path=new_encoder).encode(texts, with_max=True)
        half = old.shape[1] // 2  # mean-pooled and max-pooled halves, each unit length
        lowest = float(min((old[:, :half] * new[:, :half]).sum(1).min(), (old[:, half:] * new[:, half:]).sum(1).min()))
        print(f"old and new encoder over {len(texts)} exemplars: lowest cosine {lowest:.4f}")
        if lowest < PARITY_FLOOR:  # raised inside the block, so staged() moves nothing
            raise SystemExit(f"below {PARITY_FLOOR}: the shipped files are left as they were")
        head.fingerprint = expected_fingerprint("tuned", encoder=new_encoder)
        head.save(new_weights)
    print(f"wrote {LINE_ENCODER_PATH} ({LINE_ENCODER_PATH.stat().st_size / 1e6:.1f} MB); {WEIGHTS_PATH} restamped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
