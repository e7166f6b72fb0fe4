#!/usr/bin/env python3
"""Loads an rnn-sentiment model file into torch.nn modules and prints predict's probability.

    python3 scripts/torch_load.py model.json "I love this movie" ["another text" ...]

A binary model prints one probability per text (sigmoid of its one logit). A K-class model (its
config names its "classes") has K outputs in `fc`; it prints, per text, each class's softmax
probability as `name=p`, tab-separated, in the model's class order.

The ids come from `rnn-sentiment tokenize` so the Python side needs no tokenizer; the point is
that the weights and the math are PyTorch's own. The core of it is the snippet in README.md.
"""
import json, subprocess, sys

import torch


def load(path):
    m = json.load(open(path))
    c = m["config"]
    cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[c["cell"]]
    bi = c.get("bidirectional", False)
    width = (2 if bi else 1) * c["hidden_dim"] * (2 if c.get("pooling") == "last-max" else 1)
    net = torch.nn.ModuleDict({
        "embedding": torch.nn.Embedding(c["vocab_size"], c["embed_dim"], padding_idx=0),
        "rnn": cell(c["embed_dim"], c["hidden_dim"], num_layers=c.get("layers", 1), bidirectional=bi, batch_first=True),
        "fc": torch.nn.Linear(width, len(c.get("classes", [])) or 1),  # K outputs, or 1 logit
    })
    net.load_state_dict({k: torch.tensor(w["data"]).reshape(w["shape"]) for k, w in m["weights"].items()})
    return net.eval(), c


def probabilities(net, c, ids):
    """sigmoid of the one logit (binary), or softmax over the K logits; as a list."""
    with torch.no_grad():
        if not ids:  # an empty text pools to zeros in rnn-sentiment: its logits are fc.bias
            return squash(c, net["fc"].bias[None, :])
        out, h = net["rnn"](net["embedding"](torch.tensor([ids])))  # one text: no padding
        h = h[0] if isinstance(h, tuple) else h                      # LSTM returns (h_n, c_n)
        last = torch.cat([h[-2], h[-1]], 1) if c.get("bidirectional") else h[-1]
        pooled = {"last": last, "mean": out.mean(1), "max": out.max(1).values,
                  "last-max": torch.cat([last, out.max(1).values], 1)}[c.get("pooling", "last")]
        return squash(c, net["fc"](pooled))


def squash(c, z):
    return (torch.softmax(z, 1) if c.get("classes") else torch.sigmoid(z))[0].tolist()


def main():
    path, texts = sys.argv[1], sys.argv[2:]
    net, c = load(path)
    lines = subprocess.check_output(["rnn-sentiment", "tokenize", "-m", path, *texts], text=True).splitlines()
    for line in lines:
        p = probabilities(net, c, json.loads(line)["ids"])
        if c.get("classes"):
            print("\t".join(f"{name}={q:.6f}" for name, q in zip(c["classes"], p)))
        else:
            print(f"{p[0]:.6f}")


if __name__ == "__main__":
    main()
