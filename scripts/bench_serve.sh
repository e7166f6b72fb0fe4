#!/usr/bin/env bash
# `rnn-sentiment serve` against what a user would build instead, measured in the same run: the
# same model file loaded into PyTorch behind FastAPI on uvicorn (scripts/serve_torch.py).
# Requests/s and p50/p99 latency of one-sentence requests at each concurrency, from oha (a load
# generator from the Rust registry, installed with `cargo install --locked oha` if missing),
# and each service's peak RSS.
#
#   scripts/bench_serve.sh [--model FILE] [--seconds N] [--concurrency "1 16 64"] [--threads N]
#                          [--torch-workers N]
#
# --model     the model to serve [default: the README's 24 MB model, trained here: one epoch
#             of the sst2-glue training rows ($DATA_DIR/sst2-glue/train.csv, DATA_DIR
#             defaulting to ../shared/data) with the default recipe]
# --seconds   length of each measured run [default 10], after a 3 s warm-up of each service
# --threads   rnn-sentiment serve --threads [default 2: the cores of the machine the README's
#             numbers come from]
# --torch-workers  uvicorn --workers, one torch thread each [default 1: the PyTorch service's
#             fastest setting on that machine; with 2 workers uvicorn answered 22 requests/s at
#             concurrency 1 (44 ms each) and 316 at 16, against 560 and 759 with one]
#
# Needs python3 with torch, fastapi and uvicorn (pip install torch fastapi uvicorn).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=""
SECONDS_EACH=10
CONCURRENCY="1 16 64"
THREADS=2
TORCH_WORKERS=1
DATA_DIR=${DATA_DIR:-../shared/data}
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL=$2; shift 2 ;;
        --seconds) SECONDS_EACH=$2; shift 2 ;;
        --concurrency) CONCURRENCY=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --torch-workers) TORCH_WORKERS=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_serve.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

log() { echo "bench_serve: $*" >&2; }
die() { log "$*"; exit 1; }

command -v oha >/dev/null || cargo install --locked oha
command -v oha >/dev/null || die "oha is not on PATH after cargo install (is ~/.cargo/bin on PATH?)"
python3 -c "import torch, fastapi, uvicorn" 2>/dev/null ||
    die "python3 lacks torch, fastapi or uvicorn: pip install torch fastapi uvicorn"
cargo build --release --quiet
BIN="${CARGO_TARGET_DIR:-target}/release/rnn-sentiment"

TMP=$(mktemp -d)
OURS=""
TORCH=""
cleanup() {
    # Only the two servers this script started, by their process ids.
    for pid in $OURS $TORCH; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

if [ -z "$MODEL" ]; then
    MODEL="$TMP/sst2.json"
    log "training the benchmark model (1 epoch of sst2-glue) into $MODEL"
    "$BIN" train -q --epochs 1 -o "$MODEL" "$DATA_DIR/sst2-glue/train.csv"
fi
MODEL_BYTES=$(stat -c %s "$MODEL")

"$BIN" serve -m "$MODEL" --addr 127.0.0.1:0 --threads "$THREADS" 2>"$TMP/ours.log" &
OURS=$!
for _ in $(seq 300); do
    OURS_ADDR=$(grep -o 'addr=[0-9.:]*' "$TMP/ours.log" | head -n1 | cut -d= -f2) || true
    [ -n "$OURS_ADDR" ] && break
    sleep 0.1
done
[ -n "$OURS_ADDR" ] || die "rnn-sentiment serve did not start: $(tail -n3 "$TMP/ours.log")"

TORCH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MODEL="$MODEL" TORCH_THREADS=1 python3 -m uvicorn --app-dir scripts serve_torch:app \
    --host 127.0.0.1 --port "$TORCH_PORT" --workers "$TORCH_WORKERS" >"$TMP/torch.log" 2>&1 &
TORCH=$!
TORCH_ADDR="127.0.0.1:$TORCH_PORT"

TEXT="a wonderful, moving film with a script that never quite finds its footing"
BODY="{\"text\": \"$TEXT\"}"
post() { curl -sf -H 'content-type: application/json' -d "$BODY" "http://$1/v1/predict"; }
for _ in $(seq 600); do post "$TORCH_ADDR" >/dev/null 2>&1 && break; sleep 0.1; done
# Every uvicorn worker has loaded the model when "startup complete" is logged once per worker.
for _ in $(seq 600); do
    [ "$(grep -c 'Application startup complete' "$TMP/torch.log")" -ge "$TORCH_WORKERS" ] && break
    sleep 0.1
done
log "rnn-sentiment: $(post "$OURS_ADDR")"
log "PyTorch:       $(post "$TORCH_ADDR" || die "the PyTorch service did not start: $(tail -n3 "$TMP/torch.log")")"

LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
# run NAME ADDR C SECONDS: oha's JSON summary in $TMP/NAME-C.json
run() {
    oha --no-tui --output-format json -z "${4}s" -c "$3" -m POST \
        -H 'content-type: application/json' -d "$BODY" "http://$2/v1/predict" >"$TMP/$1-$3.json"
}
for c in $CONCURRENCY; do
    for name in ours torch; do
        addr=$OURS_ADDR; [ $name = torch ] && addr=$TORCH_ADDR
        log "$name: concurrency $c, ${SECONDS_EACH}s"
        run warm "$addr" "$c" 3
        run "$name" "$addr" "$c" "$SECONDS_EACH"
    done
done

# peak RSS in MB: the server, or uvicorn's parent and its workers together
peak() { awk '/VmHWM/ { s += $2 } END { printf "%.0f", s / 1024 }' "$@"; }
OURS_RSS=$(peak "/proc/$OURS/status")
TORCH_RSS=$(peak "/proc/$TORCH/status" $(for p in $(pgrep -P "$TORCH"); do echo "/proc/$p/status"; done))

python3 - "$TMP" "$CONCURRENCY" <<'EOF'
import json, sys
tmp, levels = sys.argv[1], sys.argv[2].split()
def stats(name, c):
    r = json.load(open(f"{tmp}/{name}-{c}.json"))
    codes = r.get("statusCodeDistribution", {})
    ok = codes.get("200", 0)
    # Requests still in flight when a timed run ends are cut off by oha: not failures.
    errors = {e: n for e, n in r.get("errorDistribution", {}).items() if "deadline" not in e}
    bad = sum(n for code, n in codes.items() if code != "200") + sum(errors.values())
    return r["summary"]["requestsPerSec"], r["latencyPercentiles"]["p50"] * 1e3, r["latencyPercentiles"]["p99"] * 1e3, ok, bad
print("| concurrency | rnn-sentiment req/s | p50 ms | p99 ms | PyTorch+FastAPI req/s | p50 ms | p99 ms | throughput ratio |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in levels:
    o, t = stats("ours", c), stats("torch", c)
    print(f"| {c} | {o[0]:,.0f} | {o[1]:.2f} | {o[2]:.2f} | {t[0]:,.0f} | {t[1]:.2f} | {t[2]:.2f} | {o[0] / t[0]:.1f}x |")
    for name, s in (("rnn-sentiment", o), ("PyTorch", t)):
        if s[4]:
            print(f"  {name} at concurrency {c}: {s[4]} failed requests ({s[3]} answered 200)")
EOF
echo
echo "peak RSS: rnn-sentiment serve $OURS_RSS MB; PyTorch (uvicorn, $TORCH_WORKERS worker(s)) $TORCH_RSS MB; model file $((MODEL_BYTES / 1000000)) MB"
echo "run: $(date -u +%F) at commit $(git rev-parse --short HEAD), $(nproc) cores, serve --threads $THREADS," \
     "uvicorn --workers $TORCH_WORKERS, load average before: $LOAD_BEFORE," \
     "$(python3 -c 'import torch; print("torch", torch.__version__)'), $(oha --version), ${SECONDS_EACH}s per run"
