"""Fine-tune a copy of the packaged MiniLM encoder for the crisis screen, and pair it with the logistic layer.

The crisis screen's logistic layer reads the general-purpose encoder, which places "I won't be
needing my winter coat" (said by someone planning to die) near "I won't need my coat in Spain".
This tool trains a copy of the encoder, end to end, to tell such lines apart:

1. the shipped int8 weights are dequantised into a small PyTorch BERT (`minilm_tuning`);
2. the encoder and one linear head over [line vector, the cue rules' flags] are trained on the
   tuning lines (`rehearsal/data/safety/tune*.jsonl`) plus the everyday rehearsal lines of the
   tagger's training split (all safe), to give 'crisis' and one score per category. A dev share
   (`in_safety_dev`: about 15 %, fixed by a hash of each line's id) is held out and picks the
   epoch. No held-out set (`test*.jsonl`, the tagger's test split) is ever read;
3. the tuned weights are written as a compact int8 graph (`encoder_graph.write_int8`), and the
   head is corrected by least squares to give, over the int8 encoder's vectors, the logits the
   float model gave;
4. the model is paired with the shipped logistic fit (`rehearsal/data/safety.npz`, left as it
   is): the app averages the two models' 'crisis' scores, and the pair's threshold is set on the
   dev share from the logistic procedure's out-of-fold scores and this model's scores, by the
   logistic layer's own budgets (`rehearsal.safety.dev_threshold`). `rehearse safety --train`,
   which refits the logistic layer, sets the pair's threshold again beside its new fit.

Needs PyTorch (the `train` extra); `make finetune-safety` runs it (about 12 minutes on 2 cores):

    .venv/bin/python tools/finetune_safety.py [--epochs 4] [--seed 1] [--out FILE.onnx --weights FILE.npz]
    .venv/bin/python tools/finetune_safety.py --pair-only   # set the pair's threshold again, no training
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import numpy as np
import torch
from encoder_graph import write_int8
from minilm_tuning import (  # before rag and rehearsal: it puts the project root on sys.path
    HIDDEN,
    Bert,
    Tokens,
    add_training_arguments,
    checked_parity,
    match_float_head,
    mean_pool,
    optimiser,
    read_onnx,
    trainable_bert,
)
from torch import nn

from rag.embeddings import MODEL_FILE, MiniLMEncoder, _locate
from rehearsal.cli_safety import HARD_TWINS, format_pair, load_split, pair_beside
from rehearsal.exemplars import all_exemplars, split
from rehearsal.files import staged
from rehearsal.safety import (
    SAFETY_WEIGHTS,
    TUNED_SAFETY_ENCODER,
    TUNED_SAFETY_SCALE,
    TUNED_SAFETY_THREADS,
    TUNED_SAFETY_WEIGHTS,
    Category,
    CrisisDetector,
    TunedSafetyModel,
    cue_features,
    dev_threshold,
    in_safety_dev,
    normalise,
    read_current,
)
from rehearsal.tagger import line_encoder_digest

OUTPUTS = 1 + len(Category)


class Line:
    """One training line: normalised text, cue flags, targets, and which budget its safe case counts in."""

    def __init__(self, key: str, text: str, crisis: bool, category: str | None, kind: str):
        self.key, self.text, self.kind = key, normalise(text), kind
        self.cues = torch.tensor(cue_features(self.text))
        self.target = torch.tensor([float(crisis), *(float(category == c.value) for c in Category)])
        self.crisis = crisis
        self.ruled = CrisisDetector(use_model=False).check_rules(text).crisis


def alone_on_dev(scores: np.ndarray, lines: list[Line]) -> tuple[float, float, float, float]:
    """`dev_threshold` for this model's scores alone, which picks the epoch."""
    crisis = np.array([line.crisis for line in lines])
    return dev_threshold(
        scores,
        np.array([line.ruled for line in lines]),
        crisis,
        np.array([line.kind == "labelled" for line in lines]) & ~crisis,
        np.array([line.kind == "everyday" for line in lines]),
    )


class Screen(nn.Module):
    """The encoder under one linear layer over [mean-pooled line vector * scale, cue flags]."""

    def __init__(self, bert: Bert, cues: int):
        super().__init__()
        self.bert = bert
        self.head = nn.Linear(HIDDEN + cues, OUTPUTS)

    def forward(self, text: tuple[torch.Tensor, torch.Tensor], cues: torch.Tensor) -> torch.Tensor:
        u = mean_pool(self.bert(*text), text[1])
        return self.head(torch.cat([u * TUNED_SAFETY_SCALE, cues], dim=-1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser, epochs=4)
    parser.add_argument("--out", type=Path, default=TUNED_SAFETY_ENCODER, help="the tuned encoder (ONNX)")
    parser.add_argument("--weights", type=Path, default=TUNED_SAFETY_WEIGHTS, help="the head and the pair's threshold")
    parser.add_argument("--logistic", type=Path, default=SAFETY_WEIGHTS, help="the logistic model it is paired with")
    parser.add_argument(
        "--pair-only",
        action="store_true",
        help="no training: pair the tuned model already in --out and --weights beside the logistic fit",
    )
    args = parser.parse_args()
    if (args.out.resolve() == TUNED_SAFETY_ENCODER) != (args.weights.resolve() == TUNED_SAFETY_WEIGHTS):
        parser.error("--out and --weights go together: a head is read only over the encoder it was fit on")
    torch.set_num_threads(args.threads)
    if args.pair_only:
        current, reason = read_current(args.weights, args.out)
        if current is None:
            parser.error(f"cannot pair: {reason}")
        tuned = pair_beside(current, args.logistic)
        with staged(args.weights) as (new_weights,):
            tuned.save(new_weights)
        print(f"{format_pair(tuned)} -> {args.weights}")
        return

    source = _locate(*MODEL_FILE)
    weights, matrices, eps = read_onnx(source)
    tokens = Tokens()
    twins = {row["id"] for row in load_split(HARD_TWINS)}
    lines = [
        Line(row["id"], row["text"], row["crisis"], row["category"], "twin" if row["id"] in twins else "labelled")
        for row in load_split("tune*")
    ]
    lines += [Line(e.id, e.text, False, None, "everyday") for e in split(all_exemplars())[0]]

    fit = [line for line in lines if not in_safety_dev(line.key)]
    dev = [line for line in lines if in_safety_dev(line.key)]
    print(f"fit {len(fit)} lines, dev {len(dev)} lines ({sum(line.crisis for line in dev)} crisis)")

    def predict(model: Screen, rows: list[Line], logits: bool = False) -> np.ndarray:
        model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(rows), 64):
                batch = rows[i : i + 64]
                raw = model(tokens([line.text for line in batch]), torch.stack([line.cues for line in batch]))
                out.append(raw if logits else torch.sigmoid(raw))
        model.train()
        return torch.cat(out).numpy()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    model = Screen(trainable_bert(weights, matrices, eps, args.frozen_layers), len(lines[0].cues))
    adam = optimiser(model.bert, model.head, args.lr)
    targets = torch.stack([line.target for line in fit])
    loss_fn = nn.BCEWithLogitsLoss()
    best: tuple[float, float] = (-1.0, 0.0)
    best_state, best_epoch = None, 0
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = list(range(len(fit)))
        random.shuffle(order)
        total = 0.0
        for i in range(0, len(order), args.batch):
            idx = order[i : i + args.batch]
            batch = [fit[j] for j in idx]
            logits = model(tokens([line.text for line in batch]), torch.stack([line.cues for line in batch]))
            loss = loss_fn(logits, targets[idx])
            adam.zero_grad()
            loss.backward()
            adam.step()
            total += float(loss.detach()) * len(idx)
        _, recall, false_alarm, everyday = alone_on_dev(predict(model, dev)[:, 0], dev)
        print(
            f"epoch {epoch}: loss {total / len(fit):.4f}; dev recall {recall:.3f}, false alarms {false_alarm:.3f}, "
            f"everyday {everyday:.3f} ({time.perf_counter() - start:.0f} s)"
        )
        if (recall, -false_alarm) > best:
            best, best_epoch, best_state = (recall, -false_alarm), epoch, copy.deepcopy(model.state_dict())
    assert best_state is not None
    model.load_state_dict(best_state)
    print(f"kept epoch {best_epoch}")

    # both files replace the shipped pair only at the end: a failure or a refusal leaves the screen as it was
    with staged(args.out, args.weights) as (new_encoder, new_weights):
        write_int8(model.bert.encoder_weights(), new_encoder)
        cosine = checked_parity(model.bert, tokens, new_encoder, [line.text for line in dev[:64]])
        print(
            f"wrote the encoder ({new_encoder.stat().st_size / 1e6:.1f} MB), "
            f"min cosine with the float model {cosine:.5f}"
        )
        head = np.hstack([model.head.weight.detach().numpy(), model.head.bias.detach().numpy()[:, None]])
        screen = TunedSafetyModel(head, 0.5, new_encoder, encoder_digest=line_encoder_digest(new_encoder))
        encoder = MiniLMEncoder(model_path=new_encoder, threads=TUNED_SAFETY_THREADS)
        features = screen.features(encoder, [line.text for line in fit]).astype(np.float64)
        float_logits = predict(model, fit, logits=True).astype(np.float64)
        screen.weights = match_float_head(head, features, float_logits).astype(np.float32)
        threshold, recall, false_alarm, everyday = alone_on_dev(
            screen.scores(screen.features(encoder, [line.text for line in dev]))[:, 0], dev
        )
        print(
            f"alone, through the int8 encoder: threshold {threshold:.2f}, dev recall {recall:.3f}, "
            f"false alarms {false_alarm:.3f}, everyday {everyday:.3f}"
        )
        print(f"pairing it beside the logistic fit in {args.logistic} (its out-of-fold scores on the dev share) ...")
        paired = pair_beside(screen, args.logistic)
        paired.save(new_weights)
    print(f"{format_pair(paired)} -> {args.out}, {args.weights}")


if __name__ == "__main__":
    main()
