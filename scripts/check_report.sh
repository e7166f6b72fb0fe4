#!/usr/bin/env bash
# Renders the training and evaluation reports in headless Chromium and checks what it shows.
#
#   scripts/check_report.sh [--screenshots DIR]
#
# Builds the release binary, trains on the shipped sample data (data/train.csv) with
# --report and evaluates on data/test.csv with --report, in a temporary directory. Then, for
# each report.html, Chromium (Debian's `chromium`, headless, no network) loads the file and
#   - dumps the DOM it built: the page must have its sections and as many <svg> charts as
#     the file holds;
#   - lays the page out and measures every chart: none may have a zero width or height;
#   - takes a full-page screenshot (kept in DIR with --screenshots, e.g. docs/).
# Prints one line per check on stdout; exit 0 when all pass, 1 when one fails, 2 on a usage
# or setup error (no chromium: `apt-get install chromium`). Not run in CI, which has no browser.
# RNN_SENTIMENT_BIN=PATH uses that binary instead of building.
set -euo pipefail

die() {
    echo "check_report.sh: error: $*" >&2
    exit 2
}

log() {
    echo "check_report.sh: $*" >&2
}

SHOTS=""
while [ $# -gt 0 ]; do
    case "$1" in
        --screenshots)
            [ $# -ge 2 ] || die "--screenshots needs a directory"
            SHOTS="$2"
            shift 2
            ;;
        -h | --help)
            sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^#   /usage: /'
            exit 0
            ;;
        *) die "unknown argument $1" ;;
    esac
done

CHROMIUM="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$CHROMIUM" ] || die "no chromium on PATH; install it with: apt-get install chromium"

DATA_ARG=""
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="$REPO/target/release/rnn-sentiment"
build_binary
if [ -n "$SHOTS" ]; then
    mkdir -p "$SHOTS"
    SHOTS="$(cd "$SHOTS" && pwd -P)"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
log "training on data/train.csv and evaluating on data/test.csv in $WORK"
"$BIN" train --quiet -o model.json --report train-report "$REPO/data/train.csv" >/dev/null
"$BIN" eval -m model.json --report eval-report "$REPO/data/test.csv" >/dev/null 2>&1

# Chromium as the probe of this machine starts it: no sandbox (root), no GPU, and none of the
# background connections a closed network refuses.
chromium() {
    local profile
    profile="$(mktemp -d -p "$WORK")"
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$profile" "$@" 2>"$profile.log"
}

failures=0
check() {
    local ok="$1" what="$2"
    if [ "$ok" = 1 ]; then
        echo "ok    $what"
    else
        echo "FAIL  $what"
        failures=$((failures + 1))
    fi
}

for name in train eval; do
    page="$WORK/$name-report/report.html"
    [ -f "$page" ] || die "$name --report wrote no $page"
    in_file="$(grep -o '<svg' "$page" | wc -l)"
    # The rendered DOM, after Chromium parsed the page.
    chromium --dump-dom "file://$page" >"$WORK/$name.dom"
    in_dom="$(grep -o '<svg' "$WORK/$name.dom" | wc -l)"
    check "$([ "$in_dom" -eq "$in_file" ] && [ "$in_file" -ge 4 ] && echo 1 || echo 0)" \
        "$name report: Chromium built $in_dom of $in_file charts"
    sections="$(grep -o '<section id="[a-z]*"' "$WORK/$name.dom" | sed 's/.*id="\(.*\)"/\1/' | tr '\n' ' ')"
    check "$([ -n "$sections" ] && echo 1 || echo 0)" "$name report: sections ${sections% }"
    # Laid-out sizes: a copy of the page with a script that writes each chart's rendered box
    # into the title, which --dump-dom then shows (the report itself has no scripts).
    sed 's#</body>#<script>document.title=[...document.querySelectorAll("svg")].map(s=>{const r=s.getBoundingClientRect();return Math.round(r.width)+"x"+Math.round(r.height)}).join(" ")</script></body>#' \
        "$page" >"$WORK/$name-sized.html"
    sizes="$(chromium --dump-dom "file://$WORK/$name-sized.html" | sed -n 's#.*<title>\(.*\)</title>.*#\1#p')"
    zero="$(echo "$sizes" | tr ' ' '\n' | grep -c -E '^0x|x0$' || true)"
    count="$(echo "$sizes" | wc -w)"
    check "$([ "$count" -eq "$in_file" ] && [ "$zero" -eq 0 ] && echo 1 || echo 0)" \
        "$name report: every chart laid out with a size ($sizes)"
    shot="$WORK/$name.png"
    chromium --window-size=1280,2400 --screenshot="$shot" "file://$page" >/dev/null
    check "$([ -s "$shot" ] && echo 1 || echo 0)" "$name report: screenshot $(stat -c %s "$shot" 2>/dev/null || echo 0) bytes"
    if [ -n "$SHOTS" ]; then
        cp "$shot" "$SHOTS/report-$name.png"
        log "screenshot saved to $SHOTS/report-$name.png"
    fi
done

[ "$failures" -eq 0 ] || exit 1
