"""Rewrite a tagger encoder from the exported graph into the compact one (`encoder_graph`).

Tagger encoders written before the compact graph existed are the packaged encoder's exported
graph with the tuned weights in it: attention spelt out in some seventy small nodes, matrices
int8 per output column, embedding tables uint8. This reads the weights back exactly (each
matrix is found by the bias its product is added to) and writes them as the compact graph, whose
int8 matrices hold the same values. The tagger's head is not touched. Its fingerprint names the
encoder file's checksum, so with `--in-place` the shipped encoder is replaced and the shipped
head stamped for it, provided the head was current for the encoder it replaces.

    .venv/bin/python tools/compact_encoder.py EXPORTED.onnx OUT.onnx
    .venv/bin/python tools/compact_encoder.py --in-place     # rehearsal/data/tagger-encoder.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
from encoder_graph import LAYER_VECTORS, LAYERS, EncoderWeights, write_int8
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rehearsal.tagger import LINE_ENCODER_PATH, WEIGHTS_PATH, TaggerModel, expected_fingerprint

MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")
# the bias that follows a layer's matrix product names the matrix: initialiser suffix -> role
BIAS_ROLES = {
    "attention.self.query.bias": "wq",
    "attention.self.key.bias": "wk",
    "attention.self.value.bias": "wv",
    "attention.output.dense.bias": "wo",
    "intermediate.dense.bias": "wi",
    "output.dense.bias": "wf",  # checked after attention.output.dense.bias, which ends the same way
}


def read_exported(path: Path) -> EncoderWeights:
    model = onnx.load(str(path))
    init = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def dequantised(base: str) -> np.ndarray:
        q, scale, zero = (init[base + s] for s in ("_quantized", "_scale", "_zero_point"))
        return np.asarray((q.astype(np.float32) - zero.astype(np.float32)) * scale, dtype=np.float32)

    def role_of(output: str) -> tuple[int, str] | None:
        """Follow the product's output (through casts and scale products) to the bias added to it."""
        frontier = [output]
        for _ in range(4):
            following = []
            for name in frontier:
                for node in consumers.get(name, []):
                    for bias in node.input:
                        if not bias.startswith("inner.encoder.layer."):
                            continue
                        suffix = bias.split(".", 4)[4]
                        if suffix in BIAS_ROLES:
                            return int(bias.split(".")[3]), BIAS_ROLES[suffix]
                    following += list(node.output)
            frontier = following
        return None

    layers: list[dict[str, np.ndarray]] = [
        {key: init[f"inner.encoder.layer.{i}.{name}"] for key, name in LAYER_VECTORS.items()} for i in range(LAYERS)
    ]
    for node in model.graph.node:
        if node.op_type not in MATMULS:
            continue
        base = next(n for n in node.input if n in init and n.endswith("_quantized"))[: -len("_quantized")]
        found = role_of(node.output[0])
        if found is None:
            raise SystemExit(f"{path}: no layer bias follows the product of {base}")
        layer, role = found
        if role in layers[layer]:
            raise SystemExit(f"{path}: layer {layer} has two {role} matrices")
        layers[layer][role] = dequantised(base)
    missing = [(i, r) for i, layer in enumerate(layers) for r in BIAS_ROLES.values() if r not in layer]
    if missing:
        raise SystemExit(f"{path}: matrices not found: {missing}")
    names = {"word": "word_embeddings.weight", "position": "position_embeddings.weight"}
    embeddings = {key: dequantised("inner.embeddings." + name) for key, name in names.items()}
    embeddings["token_type"] = dequantised("inner.embeddings.token_type_embeddings.weight")
    embeddings["ln_w"] = init["inner.embeddings.LayerNorm.weight"]
    embeddings["ln_b"] = init["inner.embeddings.LayerNorm.bias"]
    eps = next(
        a.f
        for node in model.graph.node
        if node.op_type in ("LayerNormalization", "SkipLayerNormalization")
        for a in node.attribute
        if a.name == "epsilon"
    )
    return EncoderWeights(embeddings, layers, eps)


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
    head = TaggerModel.load(WEIGHTS_PATH)
    if head.kind != "tuned" or head.fingerprint != expected_fingerprint("tuned"):
        print(f"{WEIGHTS_PATH} is not current for {LINE_ENCODER_PATH}; retune with `make finetune` instead")
        return 1
    weights = read_exported(LINE_ENCODER_PATH)
    write_int8(weights, LINE_ENCODER_PATH)
    head.fingerprint = expected_fingerprint("tuned")
    head.save(WEIGHTS_PATH)
    print(f"wrote {LINE_ENCODER_PATH} ({LINE_ENCODER_PATH.stat().st_size / 1e6:.1f} MB); {WEIGHTS_PATH} restamped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
