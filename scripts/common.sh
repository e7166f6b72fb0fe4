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
