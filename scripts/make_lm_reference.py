#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that tests/integration/lm_reference.rs compares against.

    pip install torch numpy
    python3 scripts/make_lm_reference.py         # writes tests/fixtures/lm_reference_*.json

Run once; the JSON files are committed so that `cargo test` needs no Python. Everything is in
float64. The network is rnn-sentiment's pretraining language model, built here from PyTorch's
own cells: Embedding(padding_idx=0), then for each direction d and layer k a one-direction
nn.RNN/LSTM/GRU holding the classifier's `rnn.*_l{k}[_reverse]` weights, run from a given
initial state over that direction's chunk (the reverse direction's chunk comes from the
reversed stream). Above the first layer of a bidirectional network a cell's input is D*H wide
and the LM fills only its own direction's half (the other half is zeros). The top states go
through the decoder Linear(H, V) shared by both directions, and the loss is the mean over
every position of every direction of:

- full softmax: CrossEntropyLoss over the V scores;
- sampled softmax: with candidates s_j and ln E(c) = ln(S Q(c)), Q(c) = max(count, 1)^0.75
  normalised over ids 1..V-1: scores [z_y - ln E(y), z_s - ln E(s)] with -inf where s_j = y,
  CrossEntropyLoss with the target in column 0.

Each fixture holds the weights (state_dict names; the decoder as decoder.weight/.bias), the
chunks, the initial states, the counts and candidates, the loss and every parameter's gradient.
"""
import json
import math
import os

import torch
import torch.nn as nn

V, E, H, B, T = 11, 5, 4, 2, 4
COUNTS = [0, 30, 9, 14, 2, 7, 1, 22, 5, 3, 11]
CANDIDATES = [3, 7, 2, 3, 9, 1]  # a duplicate; 2, 3 and 7 are also targets (accidental hits)
# name: (cell, layers, bidirectional, softmax)
CASES = {
    "rnn_full": ("rnn", 1, False, "full"),
    "lstm_full": ("lstm", 1, False, "full"),
    "gru_sampled": ("gru", 1, False, "sampled"),
    "lstm_l2_bi_sampled": ("lstm", 2, True, "sampled"),
    "gru_l2_bi_full": ("gru", 2, True, "full"),
}


def stream(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, V, (B, T + 1), generator=g)


def log_expected(ids):
    q = [0.0] + [max(c, 1) ** 0.75 for c in COUNTS[1:]]
    total = sum(q)
    return torch.tensor([math.log(len(CANDIDATES) * q[i] / total) for i in ids], dtype=torch.float64)


def tensors(named):
    return {k: {"shape": list(v.shape), "data": v.detach().reshape(-1).tolist()} for k, v in named}


def case_fixture(seed, cell, layers, bidirectional, softmax):
    torch.manual_seed(seed)
    kind = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
    dirs = 2 if bidirectional else 1
    embedding = nn.Embedding(V, E, padding_idx=0).double()
    with torch.no_grad():
        embedding.weight.mul_(0.5)
    rnn = kind(E, H, num_layers=layers, bidirectional=bidirectional).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            if name.startswith("weight_hh"):
                p.mul_(3.0)  # gates in their nonlinear range
    decoder = nn.Linear(H, V).double()
    chunks = []
    for d in range(dirs):
        s = stream(100 * seed + d)
        chunks.append({"inputs": s[:, :T].tolist(), "targets": s[:, 1:].tolist()})
    states = [[{"h": (0.8 * torch.rand(B, H, dtype=torch.float64) - 0.4).tolist(),
                "c": (0.8 * torch.rand(B, H, dtype=torch.float64) - 0.4).tolist() if cell == "lstm" else [[] for _ in range(B)]}
               for _ in range(layers)] for _ in range(dirs)]

    total = 0.0
    positions = 0
    for d in range(dirs):
        x = embedding(torch.tensor(chunks[d]["inputs"])).transpose(0, 1)  # (T, B, E)
        for k in range(layers):
            suffix = f"l{k}" + ("_reverse" if d == 1 else "")
            width = E if k == 0 else dirs * H
            layer = kind(width, H).double()
            layer.weight_ih_l0 = getattr(rnn, f"weight_ih_{suffix}")
            layer.weight_hh_l0 = getattr(rnn, f"weight_hh_{suffix}")
            layer.bias_ih_l0 = getattr(rnn, f"bias_ih_{suffix}")
            layer.bias_hh_l0 = getattr(rnn, f"bias_hh_{suffix}")
            if k > 0 and dirs == 2:
                zeros = torch.zeros_like(x)
                x = torch.cat([x, zeros] if d == 0 else [zeros, x], dim=2)
            h0 = torch.tensor(states[d][k]["h"], dtype=torch.float64)[None]
            if cell == "lstm":
                c0 = torch.tensor(states[d][k]["c"], dtype=torch.float64)[None]
                x, _ = layer(x, (h0, c0))
            else:
                x, _ = layer(x, h0)
        top = x.reshape(T * B, H)  # time-major, as rnn-sentiment packs
        targets = torch.tensor(chunks[d]["targets"]).transpose(0, 1).reshape(-1)
        z = decoder(top)
        if softmax == "full":
            total = total + nn.functional.cross_entropy(z, targets, reduction="sum")
        else:
            cand = torch.tensor(CANDIDATES)
            true = z.gather(1, targets[:, None]) - log_expected(targets.tolist())[:, None]
            sampled = z[:, cand] - log_expected(CANDIDATES)[None, :]
            sampled = sampled.masked_fill(cand[None, :] == targets[:, None], float("-inf"))
            u = torch.cat([true, sampled], dim=1)
            total = total + nn.functional.cross_entropy(u, torch.zeros(len(targets), dtype=torch.long), reduction="sum")
        positions += len(targets)
    loss = total / positions
    loss.backward()
    named = [("embedding.weight", embedding.weight)] + [(f"rnn.{n}", p) for n, p in rnn.named_parameters()] + \
        [("decoder.weight", decoder.weight), ("decoder.bias", decoder.bias)]
    return {
        "cell": cell, "layers": layers, "bidirectional": bidirectional, "softmax": softmax,
        "vocab": V, "embed_dim": E, "hidden_dim": H,
        "counts": COUNTS, "candidates": CANDIDATES,
        "chunks": chunks, "states": states,
        "weights": tensors(named),
        "loss": loss.item(),
        "grads": {n: {"shape": list(p.shape), "data": p.grad.reshape(-1).tolist()} for n, p in named},
    }


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    for seed, (name, case) in enumerate(CASES.items(), start=1):
        fixture = case_fixture(seed, *case)
        path = os.path.join(out_dir, f"lm_reference_{name}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        print(f"wrote {os.path.normpath(path)}: loss {fixture['loss']:.6f}")


if __name__ == "__main__":
    main()
