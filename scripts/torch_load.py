#!/usr/bin/env python3
"""Loads an rnn-sentiment model file into torch.nn modules and prints predict's probability.

    python3 scripts/torch_load.py model.json "I love this movie"

The tokens come from `rnn-sentiment tokenize` so the Python side needs no tokenizer; the point
is that the weights and the math are PyTorch's own. This is the snippet shown in README.md.
"""
import json, subprocess, sys

import torch

path, text = sys.argv[1], sys.argv[2]
m = json.load(open(path))
c = m["config"]
cell = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[c["cell"]]
net = torch.nn.ModuleDict({
    "embedding": torch.nn.Embedding(c["vocab_size"], c["embed_dim"], padding_idx=0),
    "rnn": cell(c["embed_dim"], c["hidden_dim"], batch_first=True),
    "fc": torch.nn.Linear(c["hidden_dim"], 1),
})
net.load_state_dict({k: torch.tensor(w["data"]).reshape(w["shape"]) for k, w in m["weights"].items()})

ids = json.loads(subprocess.check_output(["rnn-sentiment", "tokenize", "-m", path, text]))["ids"]
with torch.no_grad():
    x = net["embedding"](torch.tensor([ids]))
    _, h = net["rnn"](x)
    h = h[0] if isinstance(h, tuple) else h  # LSTM returns (h_n, c_n)
    p = torch.sigmoid(net["fc"](h[-1])).item()
print(f"{p:.6f}")
