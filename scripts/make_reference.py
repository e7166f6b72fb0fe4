#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/integration/reference.rs compares against.

    pip install torch numpy
    python3 scripts/make_reference.py            # writes tests/fixtures/reference_*.json

Run once; the JSON files are committed so that `cargo test` needs no Python. Everything is in
float64, so the Rust side can compare with tight tolerances. For each configuration (CASES) the
fixture holds: the weights (PyTorch state_dict names, row-major), a padded batch with unsorted
lengths including a length-1 row, the logits and mean BCE loss, the gradient of every parameter,
and the losses and final weights of a few Adam/AdamW steps (with global-norm clipping) and
SGD-momentum steps.

The model is exactly rnn-sentiment's: Embedding(padding_idx=0) -> nn.RNN/LSTM/GRU (num_layers,
bidirectional) over a packed batch -> pooling over the real tokens (last: h_n of the top layer,
both directions; mean; max; last-max) -> Linear(P, 1) -> BCEWithLogitsLoss(pos_weight).

K-class fixtures (KCASES, reference_k*.json) end in Linear(P, K) -> CrossEntropyLoss(weight=w),
whose mean divides by the summed weights of the rows' targets; their "logits" are (B, K) and
their "labels" class indices. They hold Adam steps only (the optimizers are the binary ones').
"""
import json
import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

V, E, H = 12, 5, 4
IDS = [
    [3, 7, 2, 9, 0, 0],
    [11, 0, 0, 0, 0, 0],
    [4, 4, 5, 1, 8, 10],
    [6, 2, 1, 0, 0, 0],
    [9, 8, 7, 6, 5, 3],
]
LENGTHS = [4, 1, 6, 3, 6]
LABELS = [1.0, 0.0, 1.0, 0.0, 1.0]
STEPS = 5
# name: (cell, layers, bidirectional, pooling, pos_weight, weight_decay)
CASES = {
    "rnn": ("rnn", 1, False, "last", 1.0, 0.0),
    "lstm": ("lstm", 1, False, "last", 1.0, 0.0),
    "gru": ("gru", 1, False, "last", 1.0, 0.0),
    "lstm_l2_bi_last": ("lstm", 2, True, "last", 1.0, 0.0),
    "gru_l2_bi_mean": ("gru", 2, True, "mean", 1.0, 0.1),
    "rnn_bi_max": ("rnn", 1, True, "max", 2.0, 0.0),
    "lstm_bi_last_max_posweight": ("lstm", 1, True, "last-max", 3.0, 0.05),
    "gru_l2_max": ("gru", 2, False, "max", 1.0, 0.0),
}
# name: (cell, layers, bidirectional, pooling, class weights or None, weight_decay, labels);
# K = len(class names). Every class occurs among the labels.
KCASES = {
    "k3_rnn": ("rnn", 1, False, "last", None, 0.0, [2, 0, 1, 0, 2]),
    "k3_lstm_weighted": ("lstm", 1, False, "last", [1.0, 2.5, 0.5], 0.0, [1, 0, 2, 1, 0]),
    "k4_gru_mean": ("gru", 1, False, "mean", None, 0.0, [3, 1, 0, 2, 3]),
    "k3_lstm_bi_max_weighted": ("lstm", 1, True, "max", [0.5, 1.5, 3.0], 0.05, [0, 2, 2, 1, 0]),
    "k5_gru_l2_last_max_weighted": ("gru", 2, False, "last-max", [1.0, 0.25, 2.0, 1.0, 4.0], 0.0, [4, 3, 0, 1, 2]),
}
CLASS_NAMES = ["very negative", "negative", "neutral", "positive", "very positive"]


class Classifier(nn.Module):
    def __init__(self, cell, layers, bidirectional, pooling, outputs=1):
        super().__init__()
        self.outputs = outputs
        self.directions = 2 if bidirectional else 1
        self.pooling = pooling
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](
            E, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        width = self.directions * H * (2 if pooling == "last-max" else 1)
        self.fc = nn.Linear(width, outputs)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        out, h = self.rnn(packed)
        if isinstance(h, tuple):  # LSTM returns (h_n, c_n)
            h = h[0]
        # h_n is (layers * D, B, H), layer-major: the top layer's directions are the last D.
        last = torch.cat([h[-2], h[-1]], dim=1) if self.directions == 2 else h[-1]
        padded, _ = pad_packed_sequence(out, batch_first=True)  # zeros after each row's end
        mask = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
        mean = padded.sum(dim=1) / lengths[:, None].to(padded.dtype)
        mx = padded.masked_fill(~mask[:, :, None], float("-inf")).max(dim=1).values
        v = {"last": last, "mean": mean, "max": mx, "last-max": torch.cat([last, mx], dim=1)}[self.pooling]
        z = self.fc(v)
        return z.squeeze(-1) if self.outputs == 1 else z  # (B) binary, (B, K) K classes


def tensors(named):
    return {k: {"shape": list(v.shape), "data": v.detach().reshape(-1).tolist()} for k, v in named}


def run_steps(case, state, opt_name, settings, loss_fn, outputs=1, labels=None):
    model = Classifier(*case[:4], outputs=outputs).double()
    model.load_state_dict(state)
    # Weight decay on matrices only, as rnn-sentiment does.
    wd = settings["weight_decay"]
    groups = [
        {"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": wd},
        {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0},
    ]
    if opt_name == "adam":
        opt = torch.optim.AdamW(groups, lr=settings["lr"]) if wd else torch.optim.Adam(model.parameters(), lr=settings["lr"])
    else:
        opt = torch.optim.SGD(groups, lr=settings["lr"], momentum=settings["momentum"])
    ids, lengths, binary_labels = batch()
    labels = binary_labels if labels is None else labels
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = loss_fn(model(ids, lengths), labels)
        losses.append(loss.item())
        loss.backward()
        if settings["clip_norm"] is not None:
            nn.utils.clip_grad_norm_(model.parameters(), settings["clip_norm"])
        opt.step()
    with torch.no_grad():
        losses.append(loss_fn(model(ids, lengths), labels).item())
    return dict(settings, steps=STEPS, losses=losses, weights_after=tensors(model.state_dict().items()))


def batch():
    return (torch.tensor(IDS), torch.tensor(LENGTHS), torch.tensor(LABELS, dtype=torch.float64))


def write(out_dir, name, fixture, loss):
    path = os.path.join(out_dir, f"reference_{name}.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: loss {loss:.6f}")


def k_class_fixture(seed, case):
    """A K-class fixture: the model with a softmax head and CrossEntropyLoss(weight=)."""
    cell, layers, bidirectional, pooling, class_weights, weight_decay, labels = case
    k = max(len(class_weights or []), max(labels) + 1)
    torch.manual_seed(seed)
    model = Classifier(*case[:4], outputs=k).double()
    with torch.no_grad():
        for p in model.rnn.parameters():
            p.mul_(2.0)
    state = {key: v.clone() for key, v in model.state_dict().items()}
    ids, lengths, _ = batch()
    targets = torch.tensor(labels)
    weight = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float64)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    logits = model(ids, lengths)
    loss = loss_fn(logits, targets)
    loss.backward()
    fixture = {
        "generator": "scripts/make_reference.py",
        "torch_version": torch.__version__,
        "cell": cell,
        "layers": layers,
        "bidirectional": bidirectional,
        "pooling": pooling,
        "classes": CLASS_NAMES[:k],
        "class_weights": class_weights,
        "vocab_size": V,
        "embed_dim": E,
        "hidden_dim": H,
        "ids": IDS,
        "lengths": LENGTHS,
        "labels": labels,
        "weights": tensors(state.items()),
        "logits": logits.tolist(),
        "loss": loss.item(),
        "grads": tensors((key, p.grad) for key, p in model.named_parameters()),
        "adam": run_steps(case, state, "adam", {"lr": 0.05, "clip_norm": 0.5, "weight_decay": weight_decay},
                          loss_fn, outputs=k, labels=targets),
    }
    return fixture, loss.item()


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    # Seeds of their own (100 + i), so adding K-class cases changes no binary fixture.
    for i, (name, case) in enumerate(KCASES.items()):
        write(out_dir, name, *k_class_fixture(100 + i, case))
    for seed, (name, case) in enumerate(CASES.items()):
        cell, layers, bidirectional, pooling, pos_weight, weight_decay = case
        torch.manual_seed(seed)
        model = Classifier(*case[:4]).double()
        # Larger recurrent weights than the default init so every gate is exercised well away
        # from its linear region.
        with torch.no_grad():
            for p in model.rnn.parameters():
                p.mul_(2.0)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        ids, lengths, labels = batch()
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([pos_weight], dtype=torch.float64))
        logits = model(ids, lengths)
        loss = loss_fn(logits, labels)
        loss.backward()
        fixture = {
            "generator": "scripts/make_reference.py",
            "torch_version": torch.__version__,
            "cell": cell,
            "layers": layers,
            "bidirectional": bidirectional,
            "pooling": pooling,
            "pos_weight": pos_weight,
            "vocab_size": V,
            "embed_dim": E,
            "hidden_dim": H,
            "ids": IDS,
            "lengths": LENGTHS,
            "labels": LABELS,
            "weights": tensors(state.items()),
            "logits": logits.tolist(),
            "loss": loss.item(),
            "grads": tensors((k, p.grad) for k, p in model.named_parameters()),
            "adam": run_steps(case, state, "adam", {"lr": 0.05, "clip_norm": 0.5, "weight_decay": weight_decay}, loss_fn),
            "sgd": run_steps(case, state, "sgd", {"lr": 0.3, "momentum": 0.9, "clip_norm": None, "weight_decay": weight_decay}, loss_fn),
        }
        write(out_dir, name, fixture, loss.item())


if __name__ == "__main__":
    main()
