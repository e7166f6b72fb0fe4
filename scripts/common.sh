# Shared by scripts/accuracy.sh and scripts/bench.sh (sourced, not run).
#
# resolve_paths: the repo root is the parent of this script's folder; a DATA_DIR given on the
# command line ($DATA_ARG) is relative to the caller's cwd, the default is relative to the repo
# root. Sets REPO, DATA_DIR, BASELINE_DIR and BIN; needs `die` from the caller.
resolve_paths() {
    REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
    if [ -n "$DATA_ARG" ]; then
        [ -d "$DATA_ARG" ] || die "DATA_DIR $DATA_ARG is not a directory"
        DATA_DIR="$(cd "$DATA_ARG" && pwd -P)"
    else
        [ -d "$REPO/../shared/data" ] || die "no data directory at $REPO/../shared/data; pass DATA_DIR"
        DATA_DIR="$(cd "$REPO/../shared/data" && pwd -P)"
    fi
    BASELINE_DIR="$REPO/../shared/baselines"
    [ -d "$BASELINE_DIR" ] && BASELINE_DIR="$(cd "$BASELINE_DIR" && pwd -P)"
    BIN="$REPO/target/release/rnn-sentiment"
}

# build_binary: builds the release binary, or uses RNN_SENTIMENT_BIN=PATH instead (named in the
# report header), then records what was built (commit, version, rustc) right away, not after
# hours of runs during which HEAD may move. Sets BIN, commit, version and rustc_version; needs
# `log` and `die` from the caller.
build_binary() {
    if [ -n "${RNN_SENTIMENT_BIN:-}" ]; then
        [ -x "$RNN_SENTIMENT_BIN" ] || die "RNN_SENTIMENT_BIN=$RNN_SENTIMENT_BIN is not an executable"
        BIN="$(cd "$(dirname "$RNN_SENTIMENT_BIN")" && pwd -P)/$(basename "$RNN_SENTIMENT_BIN")"
        log "using $BIN (RNN_SENTIMENT_BIN set; not building)"
    else
        log "building the release binary (cargo build --release) in $REPO"
        if ! (cd "$REPO" && cargo build --release) >&2; then
            die "cargo build --release failed"
        fi
        [ -x "$BIN" ] || die "the build did not produce $BIN"
    fi
    commit="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    version="$("$BIN" --version 2>/dev/null || echo unknown)"
    rustc_version="$(rustc --version 2>/dev/null || echo unknown)"
}

# json_get FILE KEY [KEY...]: the number at that path in the last JSON object line of FILE that
# has the first KEY (a list index may appear in the path). Fails with a message otherwise.
json_get() {
    python3 - "$@" <<'PY'
import json, sys

path, keys = sys.argv[1], sys.argv[2:]
doc = None
with open(path, encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if line.startswith("{"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and keys[0] in d:
                doc = d
if doc is None:
    sys.exit(f"no JSON line with {keys[0]!r} in {path}")
for k in keys:
    doc = doc[int(k)] if isinstance(doc, list) else doc[k]
if not isinstance(doc, (int, float)) or isinstance(doc, bool):
    sys.exit(f"not a number: {doc!r}")
print(doc)
PY
}
