#!/usr/bin/env bash
# Prints the README's pasted transcripts, run for real: the quick tour on the shipped sample
# data (train with a report, eval with a gate, predict, --json, --explain, inspect), and with
# --sst2 also the explain example on ../shared/data/sst2-sent.
#
#   scripts/readme_tour.sh [--sst2]
#
# Runs in a temporary directory (the shipped data is copied there as data/), with the release
# binary on PATH as `rnn-sentiment` (built unless RNN_SENTIMENT_BIN=PATH is set), and prints
# each command after "$ " with its output (stdout and stderr, as a terminal shows them).
# The model bytes and probabilities are the same on every x86-64 machine; the timings are not.
set -euo pipefail

die() {
    echo "readme_tour.sh: error: $*" >&2
    exit 2
}

log() {
    echo "readme_tour.sh: $*" >&2
}

SST2=0
case "${1:-}" in
    --sst2) SST2=1 ;;
    "") ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown argument $1 (usage: scripts/readme_tour.sh [--sst2])" ;;
esac

DATA_ARG=""
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
resolve_paths 2>/dev/null || REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="$REPO/target/release/rnn-sentiment"
build_binary

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/data"
ln -s "$BIN" "$WORK/bin/rnn-sentiment"
cp "$REPO/data/train.csv" "$REPO/data/test.csv" "$WORK/data/"
export PATH="$WORK/bin:$PATH"
cd "$WORK"

# Runs one command line in the shell and prints it after "$ ", then its output.
show() {
    echo "\$ $1"
    bash -c "$1" 2>&1 || true
}

echo '```text'
show 'rnn-sentiment train data/train.csv --report report'
echo
show 'rnn-sentiment eval data/test.csv --report eval-report --min-accuracy 0.65; echo "exit $?"'
echo
show 'rnn-sentiment predict "What a wonderful, moving film" "The battery died after an hour"'
echo
show 'rnn-sentiment predict --json "Great value for the price"'
echo
show 'echo "The staff were rude and the room was dirty" | rnn-sentiment predict --explain'
echo
show 'rnn-sentiment inspect'
echo '```'

if [ "$SST2" = 1 ]; then
    [ -f "$DATA_DIR/sst2-sent/train.csv" ] || die "no $DATA_DIR/sst2-sent/train.csv"
    ln -s "$DATA_DIR" "$WORK/shared-data"
    echo
    echo '```text'
    echo '$ rnn-sentiment train -q ../shared/data/sst2-sent/train.csv -o sst2.json'
    rnn-sentiment train -q "$WORK/shared-data/sst2-sent/train.csv" -o sst2.json
    show "printf 'a wonderful, moving film\\nzorgblat acting, awful script\\n' | rnn-sentiment predict --explain -m sst2.json"
    echo '```'
fi
