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
