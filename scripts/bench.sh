#!/usr/bin/env bash
# Speed and memory benchmark: rnn-sentiment side by side with the PyTorch baseline, in one run.
#
#   scripts/bench.sh [--quick] [--cells "lstm gru rnn"] [--threads N] [--simd LEVEL] [--torch-bucket] [DATA_DIR]
#
# Builds the release binary, then for each cell measures (rnn-sentiment vs
# ../shared/baselines/torch_rnn.py, E=H=128, one layer, one direction, last state, no dropout):
#   a. training throughput on the synthetic shape (batch 64, 32 tokens, vocabulary 20,000):
#      the median of 3 runs of each tool, interleaved (1 with --quick);
#   b. one epoch of sst2-glue, wall clock including loading, and (f) its peak RSS;
#   c. one epoch of IMDB at max-len 400 (only when --cells has lstm, and not with --quick);
#   d. batch predict throughput on sst2-glue dev texts repeated to 100,000 lines;
#   e. cold-start latency of `predict` on one sentence (median of 20 processes);
#   g. K-class against binary training throughput on the same texts (SST-5's, 5 classes against
#      the same rows labelled positive/negative), median of 3 interleaved runs of each (1 with
#      --quick); skipped without DATA_DIR/sst5/train.csv.
# Prints a header and a markdown table on stdout (ratio > 1: rnn-sentiment is better); progress
# goes to stderr. DATA_DIR defaults to ../shared/data relative to the repo root. Not run in CI.
# RNN_SENTIMENT_BIN=PATH in the environment skips the build and uses that binary.
# Exit status: 0 when every measurement ran, 1 when some failed (the rest still ran), 2 on a
# usage or build error.
#
#   --quick         test the script itself (about a minute per cell): 2,000 synthetic rows, the
#                   first 5,000 sst2-glue rows, 10,000 predict lines, 5 latency runs, no IMDB
#   --cells LIST    cells to measure, from lstm, gru, rnn (default: all three)
#   --threads N     threads for both tools (rnn-sentiment train --threads N and RAYON_NUM_THREADS
#                   for predict; torch_rnn.py --threads N, torch.set_num_threads). Default 0: each
#                   tool's default, all cores. On a machine other jobs share, PyTorch's threads
#                   wait for each other and it slows down many times over: use --threads 1 there.
#   --simd LEVEL    run rnn-sentiment at most at LEVEL, avx512, avx2 or baseline (it exports
#                   RNN_SENTIMENT_SIMD=LEVEL; the results are the same bits at every level, only
#                   the speed changes): what the tool costs on a CPU without the wider
#                   instructions. Default: RNN_SENTIMENT_SIMD as set, else the widest the CPU has
#   --torch-bucket  run torch_rnn.py's data runs with --bucket (length-bucketed batches, its
#                   fastest setup); the default compares both tools' defaults
set -euo pipefail

usage() {
    sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /' >&2
}

die() {
    echo "bench.sh: error: $*" >&2
    exit 2
}

log() {
    echo "bench.sh: $*" >&2
}

QUICK=0
CELLS="lstm gru rnn"
TORCH_BUCKET=0
THREADS=0
DATA_ARG=""
ORIG_ARGS=("$@")

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --cells) [ $# -ge 2 ] || die "--cells needs a value"; CELLS="$2"; shift ;;
        --cells=*) CELLS="${1#*=}" ;;
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; THREADS="$2"; shift ;;
        --threads=*) THREADS="${1#*=}" ;;
        --simd) [ $# -ge 2 ] || die "--simd needs a value"; export RNN_SENTIMENT_SIMD="$2"; shift ;;
        --simd=*) export RNN_SENTIMENT_SIMD="${1#*=}" ;;
        --torch-bucket) TORCH_BUCKET=1 ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
        --) shift; [ $# -le 1 ] || { usage; die "at most one DATA_DIR"; }; DATA_ARG="${1:-}"; break ;;
        -*) usage; die "unknown option $1" ;;
        *) [ -z "$DATA_ARG" ] || { usage; die "at most one DATA_DIR"; }; DATA_ARG="$1" ;;
    esac
    shift
done

# Paths (REPO, DATA_DIR, BASELINE_DIR, BIN): see resolve_paths in scripts/common.sh.
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_paths

command -v python3 >/dev/null || die "python3 is required (synthetic data, timing, JSON parsing)"
[[ "$THREADS" =~ ^[0-9]+$ ]] || die "--threads \"$THREADS\" is not a non-negative integer"
read -r -a CELL_LIST <<<"$CELLS"
[ ${#CELL_LIST[@]} -gt 0 ] || die "--cells is empty"
for c in "${CELL_LIST[@]}"; do
    case "$c" in lstm | gru | rnn) ;; *) die "cell \"$c\" is not one of lstm, gru, rnn" ;; esac
done
SST2_TRAIN_SRC="$DATA_DIR/sst2-glue/train.csv"
SST2_DEV="$DATA_DIR/sst2-glue/dev.csv"
IMDB_SRC="$DATA_DIR/imdb/train.csv"
SST5_SRC="$DATA_DIR/sst5/train.csv"
[ -f "$SST2_TRAIN_SRC" ] || die "no $SST2_TRAIN_SRC"
[ -f "$SST2_DEV" ] || die "no $SST2_DEV"

# Sizes.
if [ "$QUICK" = 1 ]; then
    SYNTH_ROWS=2000 SST2_ROWS=5000 PREDICT_LINES=10000 LATENCY_RUNS=5 SYNTH_PAIRS=1
else
    SYNTH_ROWS=20000 SST2_ROWS=0 PREDICT_LINES=100000 LATENCY_RUNS=20 SYNTH_PAIRS=3
fi
RUN_IMDB=0
if [ "$QUICK" = 0 ] && [[ " ${CELL_LIST[*]} " == *" lstm "* ]]; then
    [ -f "$IMDB_SRC" ] || die "no $IMDB_SRC (needed for the IMDB measure; use --quick to skip it)"
    RUN_IMDB=1
fi

# The architecture torch_rnn.py builds: one layer, one direction, the last hidden state, no
# dropout. Spelled out so that a change of rnn-sentiment's defaults cannot change the comparison.
ARCH=(--layers 1 --no-bidirectional --pooling last --dropout 0 --embed-dropout 0
    --embed-dim 128 --hidden-dim 128 --batch-size 64 --threads "$THREADS")
# Thread settings for the other commands: predict (rayon's global pool) and PyTorch.
PREDICT_ENV=()
TORCH_THREADS=()
if [ "$THREADS" -gt 0 ]; then
    PREDICT_ENV=(env "RAYON_NUM_THREADS=$THREADS")
    TORCH_THREADS=(--threads "$THREADS")
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
K_RESULTS="$TMP/k-results.tsv"
: >"$K_RESULTS"
NOTES="$TMP/notes.txt"
: >"$NOTES"
FAILED=0

note() {
    log "$*"
    echo "$*" >>"$NOTES"
}

# record MEASURE CELL OURS TORCH BETTER UNIT: one table row. OURS/TORCH are numbers, "" for
# n/a or "failed"; BETTER is "high" (throughput) or "low" (time, memory).
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }

# median_of VALUES...: their median, or "failed" when there are none.
median_of() {
    [ $# -gt 0 ] || { echo failed; return; }
    python3 -c 'import statistics, sys; print(statistics.median(float(v) for v in sys.argv[1:]))' "$@"
}

# tail_err FILE: the last non-empty lines of a log, indented, for an error message.
tail_err() {
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 5 | sed 's/^/    /' >&2 || true
}

fail() {
    log "FAILED: $*"
    FAILED=$((FAILED + 1))
}

# ---- build -----------------------------------------------------------------------------------
build_binary  # scripts/common.sh

# A level the CPU lacks, or an unknown one, stops the binary before any run.
"$BIN" completions bash >/dev/null 2>"$TMP/simd.err" ||
    { tail_err "$TMP/simd.err"; die "$BIN refuses RNN_SENTIMENT_SIMD=${RNN_SENTIMENT_SIMD:-}"; }

# ---- tools available? --------------------------------------------------------------------------
RUN_TORCH=0
torch_version="not importable"
if [ ! -f "$BASELINE_DIR/torch_rnn.py" ]; then
    note "PyTorch cells are n/a: $BASELINE_DIR/torch_rnn.py not found"
elif ! out="$(python3 -c "import torch; print(torch.__version__, torch.get_num_threads())" 2>&1)"; then
    note "PyTorch cells are n/a: python3 -c \"import torch\" failed: $(tail -n1 <<<"$out") (pip install torch numpy)"
else
    RUN_TORCH=1
    read -r torch_version torch_threads <<<"$(tail -n1 <<<"$out")"
    [ "$THREADS" = 0 ] || torch_threads="$THREADS"
    torch_version="$torch_version (threads: $torch_threads)"
fi
TORCH_DATA_ARGS=()
[ "$TORCH_BUCKET" = 1 ] && TORCH_DATA_ARGS=(--bucket)

TIME_BIN=""
RSS_FAIL="" # what a failed run's peak RSS shows: n/a without /usr/bin/time
if [ -x /usr/bin/time ] && /usr/bin/time -v true >/dev/null 2>&1; then
    TIME_BIN=/usr/bin/time
    RSS_FAIL=failed
else
    note "peak RSS is n/a: no GNU /usr/bin/time (apt-get install -y time)"
fi

# ---- helpers (python) --------------------------------------------------------------------------
# json_get: see scripts/common.sh.

# max_rss_mb FILE: "Maximum resident set size" of a `/usr/bin/time -v -o FILE` report, in MB;
# "" when there is no such report (no /usr/bin/time). Never fails.
max_rss_mb() {
    [ -n "$TIME_BIN" ] || return 0
    awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); printf "%.1f\n", $2 / 1024; found = 1 }
             END { if (!found) print "failed" }' "$1" 2>/dev/null || echo failed
}

# timed_run LOG RSS_FILE CMD...: runs CMD with stdout to LOG.out, stderr to LOG.err, under
# /usr/bin/time -v when available; prints the wall seconds. Fails with CMD's status.
timed_run() {
    local logbase="$1" rss="$2"
    shift 2
    local t0 t1 status=0
    t0="$(now)"
    if [ -n "$TIME_BIN" ]; then
        "$TIME_BIN" -v -o "$rss" "$@" >"$logbase.out" 2>"$logbase.err" || status=$?
    else
        "$@" >"$logbase.out" 2>"$logbase.err" || status=$?
    fi
    t1="$(now)"
    [ "$status" = 0 ] || return "$status"
    elapsed "$t0" "$t1"
}

# ---- data --------------------------------------------------------------------------------------
PREP_PY="$TMP/prep.py"
cat >"$PREP_PY" <<'EOF'
"""Writes the benchmark inputs: synthetic CSV, sst2-glue subset, predict lines, IMDB torch test."""
import csv, random, sys

what = sys.argv[1]
if what == "synthetic":
    # rows of 32 tokens from a 20,000-word vocabulary w0..w19999, labels 0/1; seeded.
    out, rows, texts = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    rng = random.Random(13)
    with open(out, "w", newline="", encoding="utf-8") as f, open(texts, "w", encoding="utf-8") as t:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(rows):
            text = " ".join(f"w{rng.randrange(20000)}" for _ in range(32))
            w.writerow([text, rng.randrange(2)])
            t.write(text + "\n")
elif what == "head":
    # the header and the first N rows of a CSV (N = 0: all rows)
    src, out, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    body = rows[1:] if n == 0 else rows[1:n + 1]
    with open(out, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([rows[0]] + body)
    print(len(body))
elif what == "lines":
    # the texts of a CSV, one per line, repeated to N lines; also the texts once
    src, out, once, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    with open(src, newline="", encoding="utf-8") as f:
        texts = [r["text"] for r in csv.DictReader(f)]
    if any("\n" in t or "\r" in t for t in texts):
        sys.exit(f"{src}: a text contains a line break")
    with open(once, "w", encoding="utf-8") as f:
        f.writelines(t + "\n" for t in texts)
    with open(out, "w", encoding="utf-8") as f:
        f.writelines(texts[i % len(texts)] + "\n" for i in range(n))
elif what == "classes":
    # the same texts twice: with their K labels, and labelled positive/negative (the label
    # names "positive" or "very positive" are positive); the first N rows (0: all)
    src, k_out, b_out, n = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    with open(src, newline="", encoding="utf-8") as f:
        rows = [(r["text"], r["label"]) for r in csv.DictReader(f)]
    rows = rows if n == 0 else rows[:n]
    for out, label in ((k_out, lambda l: l),
                       (b_out, lambda l: "positive" if l.endswith("positive") else "negative")):
        with open(out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((t, label(l)) for t, l in rows)
    print(len(rows), len({l for _, l in rows}))
elif what == "count":
    # tokens the model sees in N lines cycling over the texts: `tokenize` JSON lines on stdin
    import json
    n = int(sys.argv[2])
    counts = [len(json.loads(line)["ids"]) for line in sys.stdin]
    print(sum(counts[i % len(counts)] for i in range(n)))
else:
    sys.exit(f"unknown step {what}")
EOF

log "writing the synthetic CSV ($SYNTH_ROWS rows x 32 tokens, vocabulary w0..w19999)"
SYNTH="$TMP/synthetic.csv"
SYNTH_TEXTS="$TMP/synthetic.txt"
python3 "$PREP_PY" synthetic "$SYNTH" "$SYNTH_ROWS" "$SYNTH_TEXTS" || die "cannot write $SYNTH"

if [ "$SST2_ROWS" -gt 0 ]; then
    SST2_TRAIN="$TMP/sst2-train.csv"
    n="$(python3 "$PREP_PY" head "$SST2_TRAIN_SRC" "$SST2_TRAIN" "$SST2_ROWS")" || die "cannot write $SST2_TRAIN"
    log "sst2-glue: first $n training rows (--quick)"
else
    SST2_TRAIN="$SST2_TRAIN_SRC"
fi
sst2_rows="$(($(wc -l <"$SST2_TRAIN") - 1))"

PREDICT_FILE="$TMP/predict.txt"
DEV_TEXTS="$TMP/dev-texts.txt"
python3 "$PREP_PY" lines "$SST2_DEV" "$PREDICT_FILE" "$DEV_TEXTS" "$PREDICT_LINES" ||
    die "cannot write $PREDICT_FILE"

K_TRAIN="" B_TRAIN=""
if [ -f "$SST5_SRC" ]; then
    K_TRAIN="$TMP/k-classes.csv" B_TRAIN="$TMP/k-binary.csv"
    read -r k_rows k_count <<<"$(python3 "$PREP_PY" classes "$SST5_SRC" "$K_TRAIN" "$B_TRAIN" \
        "$([ "$QUICK" = 1 ] && echo 2000 || echo 0)")" || die "cannot write $K_TRAIN"
    log "sst5: $k_rows rows, $k_count classes, and the same rows as binary"
else
    note "[g] is n/a: no $SST5_SRC"
fi

if [ "$RUN_IMDB" = 1 ] && [ "$RUN_TORCH" = 1 ]; then
    # torch_rnn.py needs a --test file; IMDB ships none here. Its scoring is outside `seconds`.
    IMDB_TORCH_TEST="$TMP/imdb-test.csv"
    python3 "$PREP_PY" head "$IMDB_SRC" "$IMDB_TORCH_TEST" 500 >/dev/null || die "cannot write $IMDB_TORCH_TEST"
fi

# PyTorch batch inference on the same lines as `predict`: torch_rnn.py's tokenizer and model
# (untrained: speed does not depend on the weights; vocabulary from the same training rows),
# batches of 256 texts sorted by length like rnn-sentiment's, no_grad. Times reading the file,
# tokenizing, encoding and the forward passes; not Python start-up, `import torch` or building
# the vocabulary.
TORCH_INFER_PY="$TMP/torch_infer.py"
cat >"$TORCH_INFER_PY" <<'EOF'
import json, sys, time
from collections import Counter

baselines, train_csv, lines, cell, max_len, threads = sys.argv[1:7]
sys.path.insert(0, baselines)
import torch
import torch_rnn as tr

if int(threads):
    torch.set_num_threads(int(threads))

toks, _ = tr.read_csv(train_csv)
counts = Counter(t for s in toks for t in s)
index = {w: i + 2 for i, (w, _) in enumerate(counts.most_common())}
model = tr.Classifier(len(index) + 2, 128, 128, cell).eval()
max_len = int(max_len)

t0 = time.perf_counter()
with open(lines, encoding="utf-8") as f:
    texts = f.read().split("\n")[:-1]
ids = [[index.get(t, 1) for t in tr.tokenize(x)][:max_len] or [1] for x in texts]
order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
tokens = 0
with torch.no_grad():
    for start in range(0, len(order), 256):
        chunk = [ids[i] for i in order[start:start + 256]]
        lengths = torch.tensor([len(c) for c in chunk])
        x = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)
        for row, s in enumerate(chunk):
            x[row, :len(s)] = torch.tensor(s)
        model(x, lengths)
        tokens += int(lengths.sum())
dt = time.perf_counter() - t0
print(json.dumps({"texts": len(texts), "tokens": tokens, "seconds": dt,
                  "tokens_per_s": tokens / dt, "texts_per_s": len(texts) / dt}))
EOF

# latency N CMD...: median wall milliseconds of N runs of CMD (after one untimed run that warms
# the page cache), each a new process.
LATENCY_PY="$TMP/latency.py"
cat >"$LATENCY_PY" <<'EOF'
import statistics, subprocess, sys, time

n, cmd = int(sys.argv[1]), sys.argv[2:]
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
times = []
for _ in range(n):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    times.append(time.perf_counter() - t0)
print(f"{1000 * statistics.median(times):.2f}")
EOF
latency() { python3 "$LATENCY_PY" "$@"; }

# cpu_busy: percent of all cores busy over one second (other jobs, before and after the runs).
cpu_busy() {
    python3 - <<'PY' 2>/dev/null || echo "?"
import time

def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]  # total, idle + iowait

t0, i0 = sample()
time.sleep(1)
t1, i1 = sample()
print(f"{100 * (1 - (i1 - i0) / max(t1 - t0, 1)):.0f}")
PY
}
busy_before="$(cpu_busy)"
if [ "$busy_before" != "?" ] && [ "$busy_before" -ge 20 ]; then
    note "WARNING: the CPU was ${busy_before}% busy before the runs started: other jobs share the cores, and PyTorch's multi-threaded kernels slow down many times over then; rerun on an idle machine$([ "$THREADS" = 1 ] || echo ", or with --threads 1")"
fi

# ---- PyTorch start-up floor (once) -------------------------------------------------------------
torch_import_ms=""
if [ "$RUN_TORCH" = 1 ]; then
    log "timing python3 -c \"import torch\" (the floor of any PyTorch cold start)"
    torch_import_ms="$(latency 2 python3 -c "import torch" 2>"$TMP/import.err")" ||
        { fail "python3 -c \"import torch\" timing"; tail_err "$TMP/import.err"; torch_import_ms=""; }
fi

# ---- per cell ----------------------------------------------------------------------------------
for cell in "${CELL_LIST[@]}"; do
    run="$TMP/runs/$cell"
    mkdir -p "$run"

    # a. synthetic training throughput -----------------------------------------------------------
    # SYNTH_PAIRS runs of each tool, interleaved (ours, PyTorch, ours, ...), and the median of
    # each: PyTorch's figure alone moved between 71k and 119k tokens/s within minutes here.
    ours_runs=() theirs_runs=() infer_runs=()
    for pair in $(seq "$SYNTH_PAIRS"); do
        log "$cell: synthetic training $pair/$SYNTH_PAIRS, rnn-sentiment ($SYNTH_ROWS rows x 32 tokens, 1 epoch)"
        if "$BIN" train --json --quiet --epochs 1 --valid-split 0 --max-len 32 --max-vocab 20002 \
            --cell "$cell" "${ARCH[@]}" -o "$run/synthetic.json" "$SYNTH" >"$run/synth.out" 2>"$run/synth.err" &&
            value="$(json_get "$run/synth.out" tokens_per_s 2>"$run/parse.err")"; then
            log "$cell: rnn-sentiment synthetic: $(printf '%.0f' "$value") tokens/s"
            ours_runs+=("$value")
        else
            fail "$cell: rnn-sentiment synthetic training"; tail_err "$run/synth.err"; tail_err "$run/parse.err"
        fi
        if [ "$RUN_TORCH" = 1 ]; then
            log "$cell: synthetic training $pair/$SYNTH_PAIRS, PyTorch (torch_rnn.py --synthetic --batch 64 --seq-len 32)"
            if python3 "$BASELINE_DIR/torch_rnn.py" --synthetic --cell "$cell" --batch 64 --seq-len 32 \
                ${TORCH_THREADS[@]+"${TORCH_THREADS[@]}"} \
                >"$run/torch-synth.out" 2>"$run/torch-synth.err" &&
                value="$(json_get "$run/torch-synth.out" train_tokens_per_s 2>"$run/parse.err")" &&
                infer="$(json_get "$run/torch-synth.out" infer_tokens_per_s 2>"$run/parse.err")"; then
                log "$cell: PyTorch synthetic: train $value, inference $infer tokens/s"
                theirs_runs+=("$value") infer_runs+=("$infer")
            else
                fail "$cell: torch_rnn.py --synthetic"; tail_err "$run/torch-synth.err"; tail_err "$run/parse.err"
            fi
        fi
    done
    ours="$(median_of ${ours_runs[@]+"${ours_runs[@]}"})"
    theirs="" theirs_infer=""
    if [ "$RUN_TORCH" = 1 ]; then
        theirs="$(median_of ${theirs_runs[@]+"${theirs_runs[@]}"})"
        theirs_infer="$(median_of ${infer_runs[@]+"${infer_runs[@]}"})"
    fi
    if [ "$SYNTH_PAIRS" -gt 1 ]; then
        note "[a] $cell, runs in order: rnn-sentiment ${ours_runs[*]:-none}; PyTorch ${theirs_runs[*]:-none}"
    fi
    record "train tokens/s, synthetic B=64 T=32 [a]" "$cell" "$ours" "$theirs" high "tok/s"

    # b + f. one epoch of sst2-glue ------------------------------------------------------------------
    model="$run/sst2.json"
    log "$cell: sst2-glue 1 epoch, rnn-sentiment ($sst2_rows rows)"
    ours_wall="" ours_rss=""
    if ours_wall="$(timed_run "$run/sst2" "$run/sst2.time" "$BIN" train --json --quiet --epochs 1 \
        --valid-split 0 --cell "$cell" "${ARCH[@]}" -o "$model" "$SST2_TRAIN")"; then
        ours_rss="$(max_rss_mb "$run/sst2.time")"
        log "$cell: rnn-sentiment sst2-glue: ${ours_wall}s wall, ${ours_rss:-n/a} MB peak RSS"
    else
        fail "$cell: rnn-sentiment train on $SST2_TRAIN"; tail_err "$run/sst2.err"
        ours_wall=failed ours_rss="$RSS_FAIL"
    fi
    t_epoch="" t_wall="" t_rss=""
    if [ "$RUN_TORCH" = 1 ]; then
        log "$cell: sst2-glue 1 epoch, PyTorch"
        if t_wall="$(timed_run "$run/torch-sst2" "$run/torch-sst2.time" python3 "$BASELINE_DIR/torch_rnn.py" \
            --train "$SST2_TRAIN" --test "$SST2_DEV" --epochs 1 --cell "$cell" \
            ${TORCH_DATA_ARGS[@]+"${TORCH_DATA_ARGS[@]}"} ${TORCH_THREADS[@]+"${TORCH_THREADS[@]}"})" &&
            t_epoch="$(json_get "$run/torch-sst2.out" seconds 2>"$run/parse.err")"; then
            t_rss="$(max_rss_mb "$run/torch-sst2.time")"
            log "$cell: PyTorch sst2-glue: epoch ${t_epoch}s, process ${t_wall}s, ${t_rss:-n/a} MB peak RSS"
        else
            fail "$cell: torch_rnn.py on $SST2_TRAIN"; tail_err "$run/torch-sst2.err"; tail_err "$run/parse.err"
            t_epoch=failed t_wall=failed t_rss="$RSS_FAIL"
        fi
    fi
    record "sst2-glue 1 epoch, s: ours wall vs torch epoch \`seconds\` [b]" "$cell" "$ours_wall" "$t_epoch" low s
    record "sst2-glue 1 epoch, s: both whole-process wall [b]" "$cell" "$ours_wall" "$t_wall" low s
    record "peak RSS training sst2-glue 1 epoch, MB [f]" "$cell" "$ours_rss" "$t_rss" low MB

    # c. IMDB ------------------------------------------------------------------------------------------
    if [ "$RUN_IMDB" = 1 ] && [ "$cell" = lstm ]; then
        log "$cell: IMDB 1 epoch at max-len 400, rnn-sentiment (several minutes)"
        i_wall="" i_rss=""
        if i_wall="$(timed_run "$run/imdb" "$run/imdb.time" "$BIN" train --json --quiet --epochs 1 \
            --valid-split 0 --max-len 400 --cell "$cell" "${ARCH[@]}" -o "$run/imdb.json" "$IMDB_SRC")"; then
            i_rss="$(max_rss_mb "$run/imdb.time")"
            log "$cell: rnn-sentiment IMDB: ${i_wall}s wall, ${i_rss:-n/a} MB peak RSS"
        else
            fail "$cell: rnn-sentiment train on $IMDB_SRC"; tail_err "$run/imdb.err"; i_wall=failed i_rss="$RSS_FAIL"
        fi
        rm -f "$run/imdb.json"
        ti_epoch="" ti_wall="" ti_rss=""
        if [ "$RUN_TORCH" = 1 ]; then
            log "$cell: IMDB 1 epoch at max-len 400, PyTorch (several minutes)"
            if ti_wall="$(timed_run "$run/torch-imdb" "$run/torch-imdb.time" python3 "$BASELINE_DIR/torch_rnn.py" \
                --train "$IMDB_SRC" --test "$IMDB_TORCH_TEST" --epochs 1 --max-len 400 --cell "$cell" \
                ${TORCH_DATA_ARGS[@]+"${TORCH_DATA_ARGS[@]}"} ${TORCH_THREADS[@]+"${TORCH_THREADS[@]}"})" &&
                ti_epoch="$(json_get "$run/torch-imdb.out" seconds 2>"$run/parse.err")"; then
                ti_rss="$(max_rss_mb "$run/torch-imdb.time")"
                log "$cell: PyTorch IMDB: epoch ${ti_epoch}s, process ${ti_wall}s, ${ti_rss:-n/a} MB peak RSS"
            else
                fail "$cell: torch_rnn.py on $IMDB_SRC"; tail_err "$run/torch-imdb.err"; tail_err "$run/parse.err"
                ti_epoch=failed ti_wall=failed ti_rss="$RSS_FAIL"
            fi
        fi
        record "IMDB 1 epoch max-len 400, s: ours wall vs torch epoch \`seconds\` [c]" "$cell" "$i_wall" "$ti_epoch" low s
        record "IMDB 1 epoch max-len 400, s: both whole-process wall [c]" "$cell" "$i_wall" "$ti_wall" low s
        record "peak RSS training IMDB 1 epoch, MB [c]" "$cell" "$i_rss" "$ti_rss" low MB
    fi

    # d. batch predict ---------------------------------------------------------------------------------
    p_tok="" p_txt="" s_tok=""
    if [ -f "$model" ]; then
        log "$cell: batch predict, rnn-sentiment ($PREDICT_LINES lines)"
        if tokens="$("$BIN" tokenize -m "$model" --file "$DEV_TEXTS" 2>"$run/tok.err" |
            python3 "$PREP_PY" count "$PREDICT_LINES")" &&
            wall="$(timed_run "$run/predict" /dev/null ${PREDICT_ENV[@]+"${PREDICT_ENV[@]}"} "$BIN" predict -m "$model" --file "$PREDICT_FILE")"; then
            p_tok="$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.0f}")' "$tokens" "$wall")"
            p_txt="$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.0f}")' "$PREDICT_LINES" "$wall")"
            log "$cell: rnn-sentiment predict: ${wall}s for $PREDICT_LINES lines, $tokens tokens"
        else
            fail "$cell: rnn-sentiment predict/tokenize"; tail_err "$run/tok.err"; tail_err "$run/predict.err"
            p_tok=failed p_txt=failed
        fi
    else
        p_tok=failed p_txt=failed
    fi
    if [ -f "$run/synthetic.json" ]; then
        log "$cell: batch predict on the synthetic texts, rnn-sentiment ($SYNTH_ROWS lines x 32 tokens)"
        if wall="$(timed_run "$run/predict-synth" /dev/null ${PREDICT_ENV[@]+"${PREDICT_ENV[@]}"} "$BIN" predict -m "$run/synthetic.json" --file "$SYNTH_TEXTS")"; then
            s_tok="$(python3 -c 'import sys; print(f"{int(sys.argv[1]) * 32 / float(sys.argv[2]):.0f}")' "$SYNTH_ROWS" "$wall")"
        else
            fail "$cell: rnn-sentiment predict on the synthetic texts"; tail_err "$run/predict-synth.err"; s_tok=failed
        fi
    else
        s_tok=failed
    fi
    t_tok="" t_txt=""
    if [ "$RUN_TORCH" = 1 ]; then
        log "$cell: batch inference on the same lines, PyTorch"
        if python3 "$TORCH_INFER_PY" "$BASELINE_DIR" "$SST2_TRAIN" "$PREDICT_FILE" "$cell" 400 "$THREADS" \
            >"$run/torch-infer.out" 2>"$run/torch-infer.err" &&
            t_tok="$(json_get "$run/torch-infer.out" tokens_per_s 2>"$run/parse.err")" &&
            t_txt="$(json_get "$run/torch-infer.out" texts_per_s 2>"$run/parse.err")"; then
            log "$cell: PyTorch inference: $(printf '%.0f' "$t_tok") tokens/s"
        else
            fail "$cell: PyTorch batch inference"; tail_err "$run/torch-infer.err"; tail_err "$run/parse.err"
            t_tok=failed t_txt=failed
        fi
    fi
    record "batch predict tokens/s, sst2-glue dev x $PREDICT_LINES lines [d]" "$cell" "$p_tok" "$t_tok" high "tok/s"
    record "batch predict texts/s, sst2-glue dev x $PREDICT_LINES lines [d]" "$cell" "$p_txt" "$t_txt" high "texts/s"
    record "inference tokens/s, 32-token texts vs torch synthetic B=64 T=32 [d']" "$cell" "$s_tok" "$theirs_infer" high "tok/s"

    # e. cold-start latency ----------------------------------------------------------------------------
    lat=""
    if [ -f "$model" ]; then
        log "$cell: predict cold-start latency ($LATENCY_RUNS processes)"
        lat="$(latency "$LATENCY_RUNS" ${PREDICT_ENV[@]+"${PREDICT_ENV[@]}"} "$BIN" predict -m "$model" "a fine movie" 2>"$run/latency.err")" ||
            { fail "$cell: predict latency"; tail_err "$run/latency.err"; lat=failed; }
    else
        lat=failed
    fi
    record "predict 1 sentence, cold process, median ms vs \`python3 -c 'import torch'\` [e]" "$cell" "$lat" \
        "$([ "$RUN_TORCH" = 1 ] && echo "${torch_import_ms:-failed}")" low ms

    # g. K classes against binary -------------------------------------------------------------------
    if [ -n "$K_TRAIN" ]; then
        k_runs=() b_runs=()
        for pair in $(seq "$SYNTH_PAIRS"); do
            for kind in binary classes; do
                data="$B_TRAIN"
                [ "$kind" = classes ] && data="$K_TRAIN"
                log "$cell: sst5 1 epoch as $kind $pair/$SYNTH_PAIRS"
                if "$BIN" train --json --quiet --epochs 1 --valid-split 0 --cell "$cell" "${ARCH[@]}" \
                    -o "$run/$kind.json" "$data" >"$run/$kind.out" 2>"$run/$kind.err" &&
                    value="$(json_get "$run/$kind.out" tokens_per_s 2>"$run/parse.err")"; then
                    if [ "$kind" = classes ]; then k_runs+=("$value"); else b_runs+=("$value"); fi
                else
                    fail "$cell: rnn-sentiment train on $data"; tail_err "$run/$kind.err"
                fi
            done
        done
        note "[g] $cell, runs in order: binary ${b_runs[*]:-none}; K classes ${k_runs[*]:-none}"
        printf '%s\t%s\t%s\n' "$cell" "$(median_of ${b_runs[@]+"${b_runs[@]}"})" \
            "$(median_of ${k_runs[@]+"${k_runs[@]}"})" >>"$K_RESULTS"
    fi
done

# ---- report ------------------------------------------------------------------------------------
busy_after="$(cpu_busy)"
if [ "$busy_after" != "?" ] && [ "$busy_after" -ge 20 ]; then
    note "WARNING: the CPU was ${busy_after}% busy right after the runs: other jobs may have shared the cores during them"
fi
cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
[ -n "$cpu" ] || cpu="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)"
[ -n "$cpu" ] || cpu="unknown"
cmdline="$(python3 -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$0" ${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"})"
model_info=""
for cell in "${CELL_LIST[@]}"; do
    m="$TMP/runs/$cell/sst2.json"
    if [ -f "$m" ]; then
        v="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["config"]["vocab_size"])' "$m" 2>/dev/null || echo "?")"
        model_info="$model_info $cell: vocabulary $v, $(($(stat -c %s "$m") / 1024)) KiB;"
    fi
done

echo "## rnn-sentiment speed and memory vs PyTorch"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- commit: $commit; version: $version$([ -n "${RNN_SENTIMENT_BIN:-}" ] && echo " (binary $BIN, not built by this run)")"
echo "- rustc: $rustc_version"
echo "- CPU: $cpu, nproc $(nproc 2>/dev/null || echo unknown)"
echo "- torch: $torch_version"
echo "- command: \`$cmdline\`"
echo "- sizes: synthetic $SYNTH_ROWS rows, median of $SYNTH_PAIRS interleaved runs per tool; sst2-glue $sst2_rows training rows; predict $PREDICT_LINES lines; latency median of $LATENCY_RUNS$([ "$QUICK" = 1 ] && echo " (--quick)")"
echo "- both: E=H=128, one layer, one direction, last state, no dropout, batch 64, Adam"
if [ "$THREADS" = 0 ]; then
    echo "- threads: each tool's default, all cores (rnn-sentiment \`--threads 0\`, PyTorch's intra-op default)"
else
    echo "- threads: $THREADS for both (--threads $THREADS)"
fi
# The level the synthetic training reported (`simd` in train --json).
simd_level="$(python3 - "$TMP"/runs/*/synth.out <<'PY' 2>/dev/null || echo "?"
import json, sys
for path in sys.argv[1:]:
    try:
        line = open(path, encoding="utf-8").read().strip().splitlines()[-1]
        print(json.loads(line).get("simd", "not reported (a binary from before RNN_SENTIMENT_SIMD)"))
        break
    except (OSError, IndexError, ValueError):
        continue
else:
    print("?")
PY
)"
echo "- rnn-sentiment vector instructions: $simd_level (RNN_SENTIMENT_SIMD=${RNN_SENTIMENT_SIMD:-unset}; each level gives the same results)"
echo "- CPU busy with other jobs: ${busy_before}% before the runs, ${busy_after}% after"
if [ -n "$model_info" ]; then
    echo "- sst2-glue models used by [d] and [e]:${model_info%;}"
fi
echo "- ratio: > 1 means rnn-sentiment is better (throughput: ours / PyTorch; time, memory: PyTorch / ours)"
echo
python3 - "$RESULTS" <<'EOF'
import sys

def fmt(v, unit):
    if v == "":
        return "n/a"
    if v == "failed":
        return "failed"
    x = float(v)
    if unit in ("tok/s", "texts/s"):
        return f"{x:,.0f}"
    if unit == "MB":
        return f"{x:,.0f} MB"
    if unit == "ms":
        return f"{x:,.1f} ms"
    return f"{x:,.2f} s"

print("| measure | cell | rnn-sentiment | PyTorch | ratio |")
print("|---|---|---:|---:|---:|")
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        measure, cell, ours, theirs, better, unit = line.rstrip("\n").split("\t")
        ratio = "n/a"
        try:
            o, t = float(ours), float(theirs)
            r = o / t if better == "high" else t / o
            ratio = f"{r:.2f}x"
        except (ValueError, ZeroDivisionError):
            pass
        print(f"| {measure} | {cell} | {fmt(ours, unit)} | {fmt(theirs, unit)} | {ratio} |")
EOF
if [ -s "$K_RESULTS" ]; then
    echo
    echo "K classes against binary, training tokens/s on the same $k_rows texts [g]"
    echo
    python3 - "$K_RESULTS" "$k_count" <<'EOF'
import sys

print(f"| cell | binary | {sys.argv[2]} classes | K / binary |")
print("|---|---:|---:|---:|")
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        cell, binary, classes = line.rstrip("\n").split("\t")
        try:
            b, k = float(binary), float(classes)
            print(f"| {cell} | {b:,.0f} | {k:,.0f} | {k / b:.3f} |")
        except ValueError:
            print(f"| {cell} | {binary} | {classes} | n/a |")
EOF
fi
echo
echo "Notes"
echo
echo "- [a] rnn-sentiment: \`train --json --epochs 1 --valid-split 0 --max-len 32 --max-vocab 20002\` on a"
echo "  seeded CSV of 32-token texts over w0..w19999; its \`tokens_per_s\` (real tokens / time in"
echo "  the epoch's steps: batching, forward, backward, clipping, Adam; not reading, tokenizing or"
echo "  building the vocabulary). PyTorch: \`torch_rnn.py --synthetic"
echo "  --batch 64 --seq-len 32\`, \`train_tokens_per_s\` (50 timed steps on one fixed batch, no"
echo "  clipping). rnn-sentiment updates only the embedding rows a batch uses (its default"
echo "  without \`--dense-embedding-updates\`); PyTorch's Adam updates all 20,000 rows every step."
echo "- [b] rnn-sentiment: wall clock of the whole \`train --epochs 1 --valid-split 0\` process (reading,"
echo "  tokenizing, training, saving), default \`--bucket\` and max-len 400. PyTorch:"
echo "  \`torch_rnn.py --epochs 1\`$([ "$TORCH_BUCKET" = 1 ] && echo " --bucket"), either epoch 1's \`seconds\` (the training loop only) or the whole"
echo "  process (Python start, \`import torch\`, reading, the loop, scoring dev.csv). The tools"
echo "  tokenize differently, so their token counts differ; compare times, not tokens/s."
echo "- [c] as [b] on imdb/train.csv (25,000 reviews) with max-len 400; torch_rnn.py scores the first"
echo "  500 rows as its required --test file (outside \`seconds\`, inside the process time)."
echo "- [d] rnn-sentiment: \`predict -m MODEL --file F >/dev/null\`, whole process (model load,"
echo "  tokenizing, scoring, output); tokens = ids \`tokenize\` reports for F's lines. PyTorch:"
echo "  torch_rnn.py's tokenizer and Classifier (untrained; vocabulary from the same training rows)"
echo "  on the same lines, batches of 256 sorted by length, no_grad; timed in-process from reading"
echo "  F (excludes Python start, \`import torch\`, building the vocabulary)."
echo "- [d'] a different measure on each side, for reference: rnn-sentiment \`predict --file\` on the"
echo "  synthetic CSV's $SYNTH_ROWS texts of 32 tokens with the model from [a] (whole process);"
echo "  PyTorch \`torch_rnn.py --synthetic\`'s \`infer_tokens_per_s\` (forward only on one fixed"
echo "  64 x 32 id tensor, no tokenizing, no process start)."
echo "- [e] rnn-sentiment: \`predict -m MODEL \"a fine movie\"\` with the sst2-glue model from [b], new"
echo "  process each time, wall clock via Python's perf_counter around subprocess.run. PyTorch:"
echo "  median of 2 runs of \`python3 -c \"import torch\"\`: a floor, not a prediction."
echo "- [f] peak RSS = \"Maximum resident set size\" of \`/usr/bin/time -v\` for the runs of [b]."
echo "- [g] rnn-sentiment \`train --json --epochs 1 --valid-split 0\` with the architecture above on"
echo "  sst5/train.csv (K classes: softmax head, cross-entropy) and on the same texts labelled"
echo "  positive/negative (one logit, BCE); \`tokens_per_s\` of each, median of interleaved runs."
if [ -s "$NOTES" ]; then
    sed 's/^/- /' "$NOTES"
fi

log "done"
if [ "$FAILED" -gt 0 ]; then
    log "$FAILED measurement(s) failed; see the messages above (exit status 1)"
    exit 1
fi
