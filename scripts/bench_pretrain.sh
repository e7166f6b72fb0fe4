#!/usr/bin/env bash
# Pretraining speed: `rnn-sentiment pretrain` against ../shared/baselines/torch_lm.py --head
# sampled, the same sizes, the same texts, in one run.
#
#   scripts/bench_pretrain.sh [--texts N] [--runs R] [--threads T] [DATA_DIR]
#
# Both train a one-direction LSTM language model (E 128, H 256, one layer) for one epoch over
# the first N (default 2000) texts of DATA_DIR/imdb/train.csv: truncated BPTT of 64 steps,
# batch 32, a sampled softmax of 1024 candidates drawn from unigram^0.75 with the log-Q
# correction, dropout 0.2 on the embeddings and the outputs, Adam at 2e-3, a vocabulary of at
# most 30,000 entries. rnn-sentiment runs with --valid-split 0, so both time the training loop
# alone (torch_lm.py's tokens/s is its LM loop's; its fine-tuning step, on 100 MR rows, is not
# timed). R (default 3) interleaved pairs; prints each run and the medians' ratio on stdout.
# Tokens per second are stream positions per second for both. Peak RSS of each process from
# /usr/bin/time. RNN_SENTIMENT_BIN=PATH uses that binary instead of building one.
# Exit status: 0 when every run succeeded, 1 when one failed, 2 on a usage or build error.
set -euo pipefail

die() {
    echo "bench_pretrain.sh: error: $*" >&2
    exit 2
}

log() {
    echo "bench_pretrain.sh: $*" >&2
}

TEXTS=2000
RUNS=3
THREADS=0
DATA_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
        --texts) [ $# -ge 2 ] || die "--texts needs a value"; TEXTS="$2"; shift ;;
        --runs) [ $# -ge 2 ] || die "--runs needs a value"; RUNS="$2"; shift ;;
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; THREADS="$2"; shift ;;
        -h | --help) sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) [ -z "$DATA_ARG" ] || die "at most one DATA_DIR"; DATA_ARG="$1" ;;
    esac
    shift
done
for v in "$TEXTS" "$RUNS" "$THREADS"; do
    [[ "$v" =~ ^[0-9]+$ ]] || die "\"$v\" is not a non-negative integer"
done
[ "$TEXTS" -gt 0 ] && [ "$RUNS" -gt 0 ] || die "--texts and --runs must be positive"

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_paths
[ -f "$DATA_DIR/imdb/train.csv" ] || die "no $DATA_DIR/imdb/train.csv"
[ -f "$DATA_DIR/mr/train.csv" ] || die "no $DATA_DIR/mr/train.csv (torch_lm.py's fine-tuning step)"
[ -f "$BASELINE_DIR/torch_lm.py" ] || die "no $BASELINE_DIR/torch_lm.py"
python3 -c "import torch" 2>/dev/null || die "python3 cannot import torch (pip install torch numpy)"
[ -x /usr/bin/time ] || die "/usr/bin/time is required (peak RSS)"
build_binary # scripts/common.sh

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bench_pretrain.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
python3 - "$DATA_DIR" "$TMP" "$TEXTS" <<'EOF'
import csv, sys

data, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for src, dst, k in [(f"{data}/imdb/train.csv", f"{tmp}/corpus.csv", n),
                    (f"{data}/mr/train.csv", f"{tmp}/small.csv", 100)]:
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[: k + 1])
EOF

TORCH_THREADS=()
OUR_THREADS=()
if [ "$THREADS" -gt 0 ]; then
    TORCH_THREADS=(--threads "$THREADS")
    OUR_THREADS=(--threads "$THREADS")
fi

# peak_rss FILE: /usr/bin/time -v's maximum resident set size, in MB.
peak_rss() {
    awk -F: '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"
}

ours=()
theirs=()
FAILED=0
echo "| run | tool | tokens/s | peak RSS (MB) |"
echo "|---|---|---:|---:|"
for run in $(seq 1 "$RUNS"); do
    log "run $run of $RUNS: rnn-sentiment pretrain"
    if /usr/bin/time -v -o "$TMP/ours.time" "$BIN" pretrain --quiet --json --no-bidirectional \
        --embed-dim 128 --hidden-dim 256 --bptt 64 --batch-size 32 --samples 1024 \
        --proposal unigram --embed-dropout 0.2 --dropout 0.2 --lr 0.002 --max-vocab 30000 \
        --valid-split 0 --epochs 1 ${OUR_THREADS[@]+"${OUR_THREADS[@]}"} \
        -o "$TMP/base.json" "$TMP/corpus.csv" >"$TMP/ours.json" 2>"$TMP/ours.err"; then
        tps="$(json_get "$TMP/ours.json" tokens_per_s)"
        ours+=("$tps")
        echo "| $run | rnn-sentiment | $(printf '%.0f' "$tps") | $(peak_rss "$TMP/ours.time") |"
    else
        log "rnn-sentiment failed:"; tail -n 5 "$TMP/ours.err" >&2; FAILED=1
    fi
    log "run $run of $RUNS: torch_lm.py --head sampled"
    if /usr/bin/time -v -o "$TMP/torch.time" python3 "$BASELINE_DIR/torch_lm.py" \
        --corpus "$TMP/corpus.csv" --train "$TMP/small.csv" --test "$TMP/small.csv" \
        --head sampled --samples 1024 --bptt 64 --lm-batch 32 --emb 128 --hidden 256 \
        --lm-epochs 1 --epochs 1 ${TORCH_THREADS[@]+"${TORCH_THREADS[@]}"} \
        >"$TMP/torch.out" 2>"$TMP/torch.err"; then
        tps="$(python3 -c 'import json, sys
print([json.loads(l) for l in open(sys.argv[1]) if "lm_epoch" in l][-1]["tokens_per_s"])' "$TMP/torch.out")"
        theirs+=("$tps")
        echo "| $run | torch_lm.py | $tps | $(peak_rss "$TMP/torch.time") |"
    else
        log "torch_lm.py failed:"; tail -n 5 "$TMP/torch.err" >&2; FAILED=1
    fi
done
[ ${#ours[@]} -gt 0 ] && [ ${#theirs[@]} -gt 0 ] || exit 1
python3 - "${ours[*]}" "${theirs[*]}" <<'EOF'
import statistics, sys

ours = [float(x) for x in sys.argv[1].split()]
theirs = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(ours), statistics.median(theirs)
print(f"\nmedian tokens/s: rnn-sentiment {a:,.0f}, torch_lm.py {b:,.0f}; ratio {a / b:.2f}x")
EOF
exit "$FAILED"
