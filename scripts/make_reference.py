#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/integration/reference.rs compares against.

    pip install torch numpy
    python3 scripts/make_reference.py            # writes tests/fixtures/reference_{rnn,lstm,gru}.json

Run once; the JSON files are committed so that `cargo test` needs no Python. Everything is in
float64, so the Rust side can compare with tight tolerances (1e-9). For each cell the fixture
holds: the weights (PyTorch state_dict names, row-major), a padded batch with unsorted lengths
including a length-1 row, the logits and mean BCE loss, the gradient of every parameter, and the
losses and final weights of a few Adam steps (with global-norm clipping) and SGD-momentum steps.

The model is exactly rnn-sentiment's: Embedding(padding_idx=0) -> nn.RNN/LSTM/GRU over a packed
batch -> hidden state after each row's last real token -> Linear(H, 1) -> BCEWithLogitsLoss.
"""
import json
import os

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence

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
ADAM = {"lr": 0.05, "clip_norm": 0.5}
SGD = {"lr": 0.3, "momentum": 0.9, "clip_norm": None}


class Classifier(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.embedding = nn.Embedding(V, E, padding_idx=0)
        self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](E, H, batch_first=True)
        self.fc = nn.Linear(H, 1)

    def forward(self, ids, lengths):
        packed = pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)
        if isinstance(h, tuple):  # LSTM returns (h_n, c_n)
            h = h[0]
        return self.fc(h[-1]).squeeze(-1)


def tensors(named):
    return {k: {"shape": list(v.shape), "data": v.detach().reshape(-1).tolist()} for k, v in named}


def run_steps(cell, state, opt_name, settings):
    model = Classifier(cell).double()
    model.load_state_dict(state)
    if opt_name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    else:
        opt = torch.optim.SGD(model.parameters(), lr=settings["lr"], momentum=settings["momentum"])
    ids, lengths, labels = batch()
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = nn.BCEWithLogitsLoss()(model(ids, lengths), labels)
        losses.append(loss.item())
        loss.backward()
        if settings["clip_norm"] is not None:
            nn.utils.clip_grad_norm_(model.parameters(), settings["clip_norm"])
        opt.step()
    with torch.no_grad():
        losses.append(nn.BCEWithLogitsLoss()(model(ids, lengths), labels).item())
    return dict(settings, steps=STEPS, losses=losses, weights_after=tensors(model.state_dict().items()))


def batch():
    return (torch.tensor(IDS), torch.tensor(LENGTHS), torch.tensor(LABELS, dtype=torch.float64))


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    for seed, cell in enumerate(["rnn", "lstm", "gru"]):
        torch.manual_seed(seed)
        model = Classifier(cell).double()
        # Larger recurrent weights than the default init so every gate is exercised well away
        # from its linear region.
        with torch.no_grad():
            for name, p in model.rnn.named_parameters():
                p.mul_(2.0)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        ids, lengths, labels = batch()
        logits = model(ids, lengths)
        loss = nn.BCEWithLogitsLoss()(logits, labels)
        loss.backward()
        fixture = {
            "generator": "scripts/make_reference.py",
            "torch_version": torch.__version__,
            "cell": cell,
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
            "adam": run_steps(cell, state, "adam", ADAM),
            "sgd": run_steps(cell, state, "sgd", SGD),
        }
        path = os.path.join(out_dir, f"reference_{cell}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        print(f"wrote {os.path.normpath(path)}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
