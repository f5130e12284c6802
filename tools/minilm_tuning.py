"""The packaged MiniLM encoder as a trainable PyTorch model, and back to the app's ONNX form.

For tools that fine-tune a copy of the encoder for one task (`finetune_encoder.py`, for the
skill tagger):

- `read_onnx` dequantises the shipped int8 graph's weights and `Bert` runs them in PyTorch;
- `Bert.encoder_weights` hands tuned weights to `encoder_graph.write_int8`, which writes them as
  a compact int8 graph (fused attention, activations quantised per call);
- `match_float_head` corrects a linear head so that over the int8 encoder's vectors it gives the
  logits the float model gave; `parity` checks the app's runtime against the PyTorch model.

Needs PyTorch (the `train` extra), which the app itself never imports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from encoder_graph import (  # noqa: E402
    EMBEDDINGS,
    HEADS,
    HIDDEN,
    LAYER_MATRICES,
    LAYER_VECTORS,
    LAYERS,
    EncoderWeights,
    layer_norm_epsilon,
)

from rag.embeddings import MiniLMEncoder  # noqa: E402


def read_onnx(path: Path) -> tuple[dict[str, np.ndarray], list[str], float]:
    """The packaged graph's initialisers (int8 ones, stored as `name_q` times `name_scale`,
    dequantised under their base names), the order of the per-layer matrices, and the LayerNorm
    epsilon."""
    model = onnx.load(str(path))
    raw = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    weights: dict[str, np.ndarray] = {}
    matrices: list[str] = []
    for name, value in raw.items():
        if name.endswith("_q"):
            base = name[:-2]
            weights[base] = value.astype(np.float32) * raw[base + "_scale"]
            if not base.startswith("inner."):
                matrices.append(base)
        elif not name.endswith("_scale"):
            weights[name] = value
    return weights, matrices, layer_norm_epsilon(model)


# the quantised matrices carry generated names; within a layer they come in LAYER_MATRICES' order


class Bert(nn.Module):
    """BERT as in the ONNX graph: post-LayerNorm, erf GELU, mean pooling left to the caller."""

    def __init__(self, weights: dict[str, np.ndarray], matrices: list[str], eps: float):
        super().__init__()
        self.eps, self.matrices = eps, matrices
        self.embeddings = nn.ParameterDict(
            {key: _param(weights[name]) for key, name in self._embedding_names().items()}
        )
        self.layers = nn.ModuleList(
            nn.ParameterDict({key: _param(weights[name]) for key, name in self._layer_names(i).items()})
            for i in range(LAYERS)
        )

    @staticmethod
    def _embedding_names() -> dict[str, str]:
        return {key: "inner.embeddings." + name for key, name in EMBEDDINGS.items()}

    def _layer_names(self, i: int) -> dict[str, str]:
        names = {key: f"inner.encoder.layer.{i}.{name}" for key, name in LAYER_VECTORS.items()}
        mine = self.matrices[i * len(LAYER_MATRICES) : (i + 1) * len(LAYER_MATRICES)]
        return names | dict(zip(LAYER_MATRICES, mine, strict=True))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, length = ids.shape
        ln = nn.functional.layer_norm
        e = self.embeddings
        x = e["word"][ids] + e["position"][:length][None] + e["token_type"][0][None, None]
        x = ln(x, (HIDDEN,), e["ln_w"], e["ln_b"], self.eps)
        bias = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        d = HIDDEN // HEADS
        for w in self.layers:
            q = (x @ w["wq"] + w["bq"]).view(n, length, HEADS, d).transpose(1, 2)
            k = (x @ w["wk"] + w["bk"]).view(n, length, HEADS, d).transpose(1, 2)
            v = (x @ w["wv"] + w["bv"]).view(n, length, HEADS, d).transpose(1, 2)
            att = torch.softmax(q @ k.transpose(-1, -2) / d**0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(n, length, HIDDEN)
            x = ln(x + ctx @ w["wo"] + w["bo"], (HIDDEN,), w["ln1w"], w["ln1b"], self.eps)
            inner = nn.functional.gelu(x @ w["wi"] + w["bi"])
            x = ln(x + inner @ w["wf"] + w["bf"], (HIDDEN,), w["ln2w"], w["ln2b"], self.eps)
        return x

    def encoder_weights(self) -> EncoderWeights:
        """The weights by role, as `encoder_graph` writes them."""

        def arrays(params: nn.ParameterDict) -> dict[str, np.ndarray]:
            return {key: value.detach().numpy().astype(np.float32) for key, value in params.items()}

        return EncoderWeights(arrays(self.embeddings), [arrays(layer) for layer in self.layers], self.eps)


def add_training_arguments(parser: argparse.ArgumentParser, epochs: int) -> None:
    """The options every fine-tune of the encoder takes."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frozen-layers", type=int, default=2, help="lowest encoder layers left as shipped")


def trainable_bert(weights: dict[str, np.ndarray], matrices: list[str], eps: float, frozen_layers: int) -> Bert:
    """The shipped encoder with its embeddings and lowest `frozen_layers` layers frozen."""
    bert = Bert(weights, matrices, eps)
    for frozen in bert.embeddings.values():
        frozen.requires_grad_(False)
    for layer in bert.layers[:frozen_layers]:
        for frozen in layer.values():
            frozen.requires_grad_(False)
    return bert


def optimiser(bert: Bert, head: nn.Module, lr: float) -> torch.optim.Optimizer:
    """AdamW: the encoder's trainable weights at `lr`, a fresh head much faster."""
    return torch.optim.AdamW(
        [
            {"params": [p for p in bert.parameters() if p.requires_grad], "lr": lr},
            {"params": list(head.parameters()), "lr": 2e-3},
        ],
        weight_decay=0.01,
    )


def _param(value: np.ndarray) -> nn.Parameter:
    return nn.Parameter(torch.tensor(np.array(value), dtype=torch.float32))


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask[:, :, None].float()
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, dim=-1)


class Tokens:
    """The app's own tokenizer (checksum-verified, padding to the longest in a batch), as tensors."""

    def __init__(self) -> None:
        self.tokenizer = MiniLMEncoder().tokenizer

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tokenizer.encode_batch(texts)
        return torch.tensor([e.ids for e in enc]), torch.tensor([e.attention_mask for e in enc])


def match_float_head(
    head: np.ndarray, features: np.ndarray, float_logits: np.ndarray, ridge: float = 1e-3
) -> np.ndarray:
    """`head` (bias last) corrected so that over `features` (the int8 encoder's) its logits match
    `float_logits` in least squares, pulled towards the float head by a small ridge."""
    x = np.hstack([features, np.ones((len(features), 1))]).astype(np.float64)
    residual = float_logits - x @ head.T
    delta = np.linalg.solve(x.T @ x + ridge * len(x) * np.eye(x.shape[1]), x.T @ residual).T
    return np.asarray(head + delta)


MIN_PARITY = 0.95
"""A written encoder whose vectors fall below this cosine with the trained model's is refused:
the head would be matched to vectors that no longer mean what it was trained on. Written
encoders have given 0.96-0.99."""


def checked_parity(bert: Bert, tokens: Tokens, onnx_path: Path, texts: list[str]) -> float:
    """`parity`, or SystemExit naming the file when it is below `MIN_PARITY`."""
    value = parity(bert, tokens, onnx_path, texts)
    if value < MIN_PARITY:
        raise SystemExit(
            f"refused: {onnx_path.name} gives a lowest cosine of {value:.5f} with the trained model "
            f"(at least {MIN_PARITY} is needed); nothing was replaced"
        )
    return value


def parity(bert: Bert, tokens: Tokens, onnx_path: Path, texts: list[str]) -> float:
    """Lowest cosine between this model's sentence vectors and those the app computes from
    `onnx_path`, one line per call as the app encodes a user's line (an int8 graph quantises
    activations per call, so a batch would give other numbers)."""
    app = MiniLMEncoder(model_path=onnx_path)
    theirs = torch.tensor(np.vstack([app.encode([text]) for text in texts]))
    ids, mask = tokens(texts)
    with torch.no_grad():
        ours = mean_pool(bert(ids, mask), mask)
    return float((theirs * ours).sum(-1).min())
