#!/usr/bin/env python3
"""The service a user would build instead of `rnn-sentiment serve`: the same model file loaded
into torch.nn (scripts/torch_load.py) behind FastAPI on uvicorn, answering the same
`POST /v1/predict {"text": ...}` with {"text", "label", "probability"}. The baseline of
scripts/bench_serve.sh:

    MODEL=model.json uvicorn --app-dir scripts serve_torch:app --port 8001 --workers 2

Each uvicorn worker loads the model and scores on TORCH_THREADS threads (default 1: with one
worker per core, that is the fastest setting on a small machine). Tokens come from a Python
regex tokenizer close to rnn-sentiment's (lowercase, words with an inner apostrophe, each
punctuation mark alone, HTML tags stripped, cut to max_len): a service cannot shell out to
`rnn-sentiment tokenize` per request as torch_load.py's command line does.
"""
import json
import os
import re
import sys

import torch
from fastapi import FastAPI
from pydantic import BaseModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_load  # noqa: E402

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
PATH = os.environ["MODEL"]
NET, CONFIG = torch_load.load(PATH)
with open(PATH) as f:
    FILE = json.load(f)
INDEX = {token: i for i, token in enumerate(FILE["vocab"])}
TOKENIZER = FILE["tokenizer"]
TOKEN = re.compile(r"\w+(?:'\w+)?|[^\w\s]")
TAG = re.compile(r"<[^>]*>")
THRESHOLD = CONFIG.get("threshold", 0.5)
del FILE

app = FastAPI()


class Request(BaseModel):
    text: str


def ids(text):
    if TOKENIZER.get("strip_html"):
        text = TAG.sub(" ", text)
    if TOKENIZER.get("lowercase"):
        text = text.lower()
    return [INDEX.get(t, 1) for t in TOKEN.findall(text)][: TOKENIZER["max_len"]]


@app.post("/v1/predict")
def predict(request: Request):
    p = torch_load.probabilities(NET, CONFIG, ids(request.text))[0]
    return {"text": request.text, "label": "positive" if p >= THRESHOLD else "negative", "probability": p}
