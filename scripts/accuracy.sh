#!/usr/bin/env bash
# Dev-set accuracy benchmark for rnn-sentiment (and, optionally, the PyTorch and fastText baselines).
#
#   scripts/accuracy.sh [--baselines] [--seeds "1 2 3"] [--cells "lstm gru rnn"]
#                       [--sets "sst2-glue mr cr imdb sst2-sent"] [--quick] [DATA_DIR]
#                       [--train-args "ARGS" --label NAME] [--lm-baseline CORPUS]
#
# For every dataset folder, cell and seed: `rnn-sentiment train` with default options (only
# --cell/--seed are set) on DATA_DIR/SET/train.csv, then `rnn-sentiment eval` on dev.csv. A set
# without dev.csv (IMDB) gets a deterministic split: the last 10% of train.csv's rows are dev,
# the first 90% train. Prints a header and a markdown table (medians over seeds) on stdout;
# progress goes to stderr. DATA_DIR defaults to ../shared/data relative to the repo root.
# K-class sets (sst3, sst5) report macro F1 in the F1 column.
# RNN_SENTIMENT_BIN=PATH in the environment skips the build and uses that binary.
# Exit status: 0 when every run succeeded, 1 when some run failed (the rest still ran), 2 on a
# usage or build error.
#
#   --baselines  also run ../shared/baselines/torch_rnn.py (per cell and seed, default options)
#                and ../shared/baselines/fasttext_sup.py (per seed)
#   --quick      test the script itself: --epochs 1, first 2000 train rows and 500 dev rows
#   --train-args more options for every `train` (split on spaces), e.g. "--init base.json" or
#                "--embeddings glove.6B.50d.txt"; --label names them in the system column
#   --lm-baseline CORPUS  also run ../shared/baselines/torch_lm.py (LSTM language-model
#                pretraining on CORPUS, then fine-tuning) per seed; it pretrains again for
#                every set and seed, about 6 minutes per run on the IMDB texts here
#
# Train seconds: rnn-sentiment = wall clock of the whole `train` command (loading, tokenizing,
# the per-epoch validation pass, saving); the baselines = their own `train_seconds` (training
# loop only; PyTorch excludes its per-epoch test pass).
set -euo pipefail

usage() {
    sed -n '4,5p' "${BASH_SOURCE[0]}" | sed '1s/^#   /usage: /; 2s/^#/    /' >&2
}

die() {
    echo "accuracy.sh: error: $*" >&2
    exit 2
}

log() {
    echo "accuracy.sh: $*" >&2
}

BASELINES=0
QUICK=0
SEEDS="1 2 3"
CELLS="lstm gru rnn"
SETS="sst2-glue mr cr imdb sst2-sent"
TRAIN_ARGS=""
LABEL=""
LM_CORPUS=""
DATA_ARG=""
ORIG_ARGS=("$@")

while [ $# -gt 0 ]; do
    case "$1" in
        --baselines) BASELINES=1 ;;
        --quick) QUICK=1 ;;
        --seeds) [ $# -ge 2 ] || die "--seeds needs a value"; SEEDS="$2"; shift ;;
        --seeds=*) SEEDS="${1#*=}" ;;
        --cells) [ $# -ge 2 ] || die "--cells needs a value"; CELLS="$2"; shift ;;
        --cells=*) CELLS="${1#*=}" ;;
        --sets) [ $# -ge 2 ] || die "--sets needs a value"; SETS="$2"; shift ;;
        --sets=*) SETS="${1#*=}" ;;
        --train-args) [ $# -ge 2 ] || die "--train-args needs a value"; TRAIN_ARGS="$2"; shift ;;
        --label) [ $# -ge 2 ] || die "--label needs a value"; LABEL="$2"; shift ;;
        --lm-baseline) [ $# -ge 2 ] || die "--lm-baseline needs a corpus"; LM_CORPUS="$2"; shift ;;
        -h | --help) usage; exit 0 ;;
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

command -v python3 >/dev/null || die "python3 is required (JSON parsing, medians, the IMDB split)"

# Validate the lists before spending time on a build.
read -r -a SEED_LIST <<<"$SEEDS"
read -r -a CELL_LIST <<<"$CELLS"
read -r -a SET_LIST <<<"$SETS"
[ ${#SEED_LIST[@]} -gt 0 ] || die "--seeds is empty"
[ ${#CELL_LIST[@]} -gt 0 ] || die "--cells is empty"
[ ${#SET_LIST[@]} -gt 0 ] || die "--sets is empty"
read -r -a EXTRA_TRAIN <<<"$TRAIN_ARGS"
[ -z "$LM_CORPUS" ] || [ -f "$LM_CORPUS" ] || die "--lm-baseline: no corpus file $LM_CORPUS"
SYSTEM="rnn-sentiment${LABEL:+ $LABEL}"
for s in "${SEED_LIST[@]}"; do
    [[ "$s" =~ ^[0-9]+$ ]] || die "seed \"$s\" is not a non-negative integer"
done
for c in "${CELL_LIST[@]}"; do
    case "$c" in lstm | gru | rnn) ;; *) die "cell \"$c\" is not one of lstm, gru, rnn" ;; esac
done
for d in "${SET_LIST[@]}"; do
    [ -f "$DATA_DIR/$d/train.csv" ] || die "no $DATA_DIR/$d/train.csv (dataset \"$d\")"
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/accuracy.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
RESULTS="$TMP/results.tsv"
: >"$RESULTS"
NOTES="$TMP/notes.txt"
: >"$NOTES"

note() {
    log "$*"
    echo "$*" >>"$NOTES"
}

now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.3f}")' "$1" "$2"; }

# record DATA SYSTEM SEED STATUS ACCURACY F1 SECONDS
record() {
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

# ---- build -----------------------------------------------------------------------------------
build_binary  # scripts/common.sh

# ---- baselines available? --------------------------------------------------------------------
RUN_TORCH=0
RUN_FASTTEXT=0
if [ "$BASELINES" = 1 ]; then
    if [ ! -f "$BASELINE_DIR/torch_rnn.py" ]; then
        note "note: pytorch baseline skipped: $BASELINE_DIR/torch_rnn.py not found"
    elif ! err="$(python3 -c "import torch" 2>&1)"; then
        note "note: pytorch baseline skipped: python3 -c \"import torch\" failed: $(tail -n1 <<<"$err")"
    else
        RUN_TORCH=1
    fi
    if [ ! -f "$BASELINE_DIR/fasttext_sup.py" ]; then
        note "note: fasttext baseline skipped: $BASELINE_DIR/fasttext_sup.py not found"
    elif ! err="$(python3 -c "import fasttext" 2>&1)"; then
        note "note: fasttext baseline skipped: python3 -c \"import fasttext\" failed: $(tail -n1 <<<"$err") (pip install fasttext-wheel)"
    else
        RUN_FASTTEXT=1
    fi
fi

# ---- data preparation ------------------------------------------------------------------------
# prepare SET -> writes $TMP/data/SET/{train,dev}.csv when they must differ from the originals
# (IMDB split, --quick heads) and prints "TRAIN<TAB>DEV" paths to use.
PREP_PY="$TMP/prep.py"
cat >"$PREP_PY" <<'EOF'
import csv, sys

src_train, src_dev, out_train, out_dev, quick = sys.argv[1:6]
quick = quick == "1"


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        sys.exit(f"{path}: empty file")
    return rows[0], rows[1:]


def write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)  # excel dialect: QUOTE_MINIMAL, CRLF, as the shipped files
        w.writerow(header)
        w.writerows(rows)


header, train = read(src_train)
if src_dev:
    dev_header, dev = read(src_dev)
else:
    # Deterministic split of an already shuffled file: last 10% of rows = dev, first 90% = train.
    n_dev = len(train) // 10
    if n_dev == 0:
        sys.exit(f"{src_train}: too few rows ({len(train)}) for a 90/10 split")
    dev_header, dev = header, train[len(train) - n_dev:]
    train = train[:len(train) - n_dev]
if quick:
    train, dev = train[:2000], dev[:500]
write(out_train, header, train)
write(out_dev, dev_header, dev)
print(f"{len(train)}\t{len(dev)}")
EOF

# ---- result parsing ----------------------------------------------------------------------------
# json_get: see scripts/common.sh.

# torch_accuracy FILE DEV: final_test_accuracy[DEV] from torch_rnn.py's last JSON line.
torch_accuracy() {
    python3 - "$1" "$2" <<'EOF'
import json, sys

path, dev = sys.argv[1], sys.argv[2]
doc = None
with open(path, encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if "final_test_accuracy" in d:
                doc = d
if doc is None:
    sys.exit("no final JSON line with final_test_accuracy")
acc = doc["final_test_accuracy"]
if dev in acc:
    value = acc[dev]
elif len(acc) == 1:
    value = next(iter(acc.values()))
else:
    sys.exit(f"no accuracy for {dev} in {sorted(acc)}")
print(f"{value}\t{doc['train_seconds']}")
EOF
}

# tail_err FILE: the last non-empty lines of a log, indented, for an error message.
tail_err() {
    grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 5 | sed 's/^/    /' >&2 || true
}

# ---- runs --------------------------------------------------------------------------------------
EPOCH_ARGS=()
[ "$QUICK" = 1 ] && EPOCH_ARGS=(--epochs 1)
FAILED=0

for set in "${SET_LIST[@]}"; do
    src_train="$DATA_DIR/$set/train.csv"
    src_dev="$DATA_DIR/$set/dev.csv"
    [ -f "$src_dev" ] || src_dev=""
    if [ -z "$src_dev" ] || [ "$QUICK" = 1 ]; then
        mkdir -p "$TMP/data/$set"
        train="$TMP/data/$set/train.csv"
        dev="$TMP/data/$set/dev.csv"
        if [ -z "$src_dev" ]; then
            log "$set: no dev.csv; splitting train.csv: last 10% of rows = dev, first 90% = train"
        fi
        if ! counts="$(python3 "$PREP_PY" "$src_train" "$src_dev" "$train" "$dev" "$QUICK")"; then
            log "FAILED: $set: could not prepare the train/dev files; skipping the dataset"
            record "$set" "(data)" - failed "" "" ""
            FAILED=$((FAILED + 1))
            continue
        fi
        log "$set: $(cut -f1 <<<"$counts") train rows, $(cut -f2 <<<"$counts") dev rows$([ "$QUICK" = 1 ] && echo " (--quick)")"
    else
        train="$src_train"
        dev="$src_dev"
    fi

    for cell in "${CELL_LIST[@]}"; do
        for seed in "${SEED_LIST[@]}"; do
            run="$TMP/runs/$set-$cell-$seed"
            mkdir -p "$run"
            tag="$set / $SYSTEM $cell / seed $seed"
            log "$tag: training"
            t0="$(now)"
            if "$BIN" train --cell "$cell" --seed "$seed" --quiet --json ${EPOCH_ARGS[@]+"${EPOCH_ARGS[@]}"} \
                ${EXTRA_TRAIN[@]+"${EXTRA_TRAIN[@]}"} \
                -o "$run/model.json" "$train" >"$run/train.json" 2>"$run/train.err"; then
                t1="$(now)"
                secs="$(elapsed "$t0" "$t1")"
                if "$BIN" eval --json -m "$run/model.json" "$dev" >"$run/eval.json" 2>"$run/eval.err" &&
                    acc="$(json_get "$run/eval.json" accuracy 2>"$run/parse.err")" &&
                    { f1="$(json_get "$run/eval.json" f1 2>>"$run/parse.err")" ||
                        f1="$(json_get "$run/eval.json" macro_f1 2>>"$run/parse.err")"; }; then
                    record "$set" "$SYSTEM $cell" "$seed" ok "$acc" "$f1" "$secs"
                    log "$tag: accuracy $(printf '%.4f' "$acc"), F1 $(printf '%.4f' "$f1"), train ${secs}s"
                else
                    log "FAILED: $tag: eval on $dev failed:"
                    tail_err "$run/eval.err"
                    tail_err "$run/parse.err"
                    record "$set" "$SYSTEM $cell" "$seed" failed "" "" ""
                    FAILED=$((FAILED + 1))
                fi
            else
                status=$?
                log "FAILED: $tag: training exited with status $status:"
                tail_err "$run/train.err"
                record "$set" "$SYSTEM $cell" "$seed" failed "" "" ""
                FAILED=$((FAILED + 1))
            fi
            rm -f "$run/model.json" # IMDB models are tens of MB
        done
    done

    if [ "$RUN_TORCH" = 1 ]; then
        for cell in "${CELL_LIST[@]}"; do
            for seed in "${SEED_LIST[@]}"; do
                run="$TMP/runs/$set-torch-$cell-$seed"
                mkdir -p "$run"
                tag="$set / pytorch $cell / seed $seed"
                log "$tag: training"
                if python3 "$BASELINE_DIR/torch_rnn.py" --train "$train" --test "$dev" --cell "$cell" --seed "$seed" \
                    ${EPOCH_ARGS[@]+"${EPOCH_ARGS[@]}"} >"$run/out.json" 2>"$run/err" &&
                    res="$(torch_accuracy "$run/out.json" "$dev" 2>"$run/parse.err")"; then
                    acc="$(cut -f1 <<<"$res")"
                    secs="$(cut -f2 <<<"$res")"
                    record "$set" "pytorch $cell" "$seed" ok "$acc" "" "$secs"
                    log "$tag: accuracy $(printf '%.4f' "$acc"), train ${secs}s"
                else
                    log "FAILED: $tag: torch_rnn.py failed:"
                    tail_err "$run/err"
                    tail_err "$run/parse.err"
                    record "$set" "pytorch $cell" "$seed" failed "" "" ""
                    FAILED=$((FAILED + 1))
                fi
            done
        done
    fi

    if [ -n "$LM_CORPUS" ]; then
        for seed in "${SEED_LIST[@]}"; do
            run="$TMP/runs/$set-torch-lm-$seed"
            mkdir -p "$run"
            tag="$set / pytorch lm / seed $seed"
            log "$tag: pretraining on $LM_CORPUS, then fine-tuning"
            lm_epochs=()
            [ "$QUICK" = 1 ] && lm_epochs=(--epochs 1 --max-corpus-tokens 100000)
            if python3 "$BASELINE_DIR/torch_lm.py" --corpus "$LM_CORPUS" --train "$train" --test "$dev" \
                --seed "$seed" ${lm_epochs[@]+"${lm_epochs[@]}"} >"$run/out.json" 2>"$run/err" &&
                res="$(python3 -c 'import json, sys
d = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
print(f"{list(d[\"final_test_accuracy\"].values())[0]}\t{d.get(\"lm_seconds\", \"\")}")' "$run/out.json" 2>"$run/parse.err")"; then
                acc="$(cut -f1 <<<"$res")"
                record "$set" "pytorch lm (lstm)" "$seed" ok "$acc" "" "$(cut -f2 <<<"$res")"
                log "$tag: accuracy $(printf '%.4f' "$acc")"
            else
                log "FAILED: $tag: torch_lm.py failed:"
                tail_err "$run/err"
                tail_err "$run/parse.err"
                record "$set" "pytorch lm (lstm)" "$seed" failed "" "" ""
                FAILED=$((FAILED + 1))
            fi
        done
    fi

    if [ "$RUN_FASTTEXT" = 1 ]; then
        for seed in "${SEED_LIST[@]}"; do
            run="$TMP/runs/$set-fasttext-$seed"
            mkdir -p "$run"
            tag="$set / fasttext / seed $seed"
            log "$tag: training"
            if python3 "$BASELINE_DIR/fasttext_sup.py" --train "$train" --test "$dev" --seed "$seed" \
                >"$run/out.json" 2>"$run/err" &&
                acc="$(json_get "$run/out.json" test_accuracy 2>"$run/parse.err")" &&
                secs="$(json_get "$run/out.json" train_seconds 2>>"$run/parse.err")"; then
                record "$set" "fasttext" "$seed" ok "$acc" "" "$secs"
                log "$tag: accuracy $(printf '%.4f' "$acc"), train ${secs}s"
            else
                log "FAILED: $tag: fasttext_sup.py failed:"
                tail_err "$run/err"
                tail_err "$run/parse.err"
                record "$set" "fasttext" "$seed" failed "" "" ""
                FAILED=$((FAILED + 1))
            fi
        done
    fi
done

# ---- report ------------------------------------------------------------------------------------
cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
[ -n "$cpu" ] || cpu="unknown"
cmdline="$(python3 -c 'import shlex, sys; print(shlex.join(sys.argv[1:]))' "$0" ${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"})"

echo "## rnn-sentiment dev-set accuracy"
echo
echo "- date: $(date '+%Y-%m-%d %H:%M:%S %z')"
echo "- commit: $commit"
echo "- version: $version$([ -n "${RNN_SENTIMENT_BIN:-}" ] && echo " (binary $BIN, not built by this run)")"
echo "- rustc: $rustc_version"
echo "- CPU: $cpu, nproc $(nproc 2>/dev/null || echo unknown)"
echo "- command: \`$cmdline\`"
echo "- data: $DATA_DIR; seeds: ${SEED_LIST[*]}$([ "$QUICK" = 1 ] && echo "; --quick: 1 epoch, first 2000 train / 500 dev rows")"
echo "- train seconds: rnn-sentiment = wall clock of \`train\`; baselines = their reported \`train_seconds\` (training loop only); pytorch lm = its pretraining seconds"
[ -z "$TRAIN_ARGS" ] || echo "- train options: \`$TRAIN_ARGS\`"
if [ -s "$NOTES" ]; then
    sed 's/^/- /' "$NOTES"
fi
echo

python3 - "$RESULTS" <<'EOF'
import statistics, sys

rows = {}
order = []
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        data, system, seed, status, acc, f1, secs = line.rstrip("\n").split("\t")
        key = (data, system)
        if key not in rows:
            rows[key] = []
            order.append(key)
        rows[key].append((status, acc, f1, secs))

print("| data | system | accuracy median | min | max | F1 median | train seconds median |")
print("|---|---|---:|---:|---:|---:|---:|")
for key in order:
    runs = rows[key]
    ok = [r for r in runs if r[0] == "ok"]
    if not ok:
        print(f"| {key[0]} | {key[1]} | failed | failed | failed | failed | failed |")
        continue
    accs = [float(r[1]) for r in ok]
    f1s = [float(r[2]) for r in ok if r[2] != ""]
    secs = [float(r[3]) for r in ok if r[3] != ""]
    med = f"{statistics.median(accs):.4f}"
    if len(ok) < len(runs):
        med += f" ({len(runs) - len(ok)} of {len(runs)} failed)"
    f1 = f"{statistics.median(f1s):.4f}" if f1s else "n/a"
    sec = f"{statistics.median(secs):.2f}" if secs else "n/a"
    print(f"| {key[0]} | {key[1]} | {med} | {min(accs):.4f} | {max(accs):.4f} | {f1} | {sec} |")
EOF

log "done"
if [ "$FAILED" -gt 0 ]; then
    log "$FAILED run(s) failed; see the messages above (exit status 1)"
    exit 1
fi
