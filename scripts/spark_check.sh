#!/usr/bin/env bash
# Scores a CSV once with a single `rnn-sentiment predict --file` and once with
# scripts/spark_predict.py on Spark (local[N]), checks that every row gets the same label and
# the same probability (bit for bit, as f64), and prints both timings. Not run in CI: it needs
# a JVM and PySpark (scripts/setup_spark.sh) and about a minute of Spark start-up.
#
#   scripts/setup_spark.sh
#   scripts/spark_check.sh MODEL [DATA.csv]       # DATA: ../shared/data/imdb/train.csv
#
# Environment: BIN (default target/release/rnn-sentiment), MASTER (local[2]), THREADS (2, the
# single process's --threads), PARTITIONS (default parallelism), OUT (a temporary directory),
# SPARK_PYTHON (.venv-spark/bin/python), INPUT_FORMAT (csv; parquet: the CSV is first
# converted to one Parquet file with Spark, untimed, and Spark scores the Parquet).
set -euo pipefail

die() { echo "spark_check: $*" >&2; exit 2; }
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
[ $# -ge 1 ] || die "usage: scripts/spark_check.sh MODEL [DATA.csv]"
MODEL="$1"
DATA="${2:-$REPO/../shared/data/imdb/train.csv}"
BIN="${BIN:-$REPO/target/release/rnn-sentiment}"
MASTER="${MASTER:-local[2]}"
THREADS="${THREADS:-2}"
SPARK_PYTHON="${SPARK_PYTHON:-$REPO/.venv-spark/bin/python}"
OUT="${OUT:-$(mktemp -d)}"
[ -x "$BIN" ] || die "no binary at $BIN; run cargo build --release, or set BIN"
[ -f "$MODEL" ] || die "no model at $MODEL"
[ -f "$DATA" ] || die "no data at $DATA"
[ -x "$SPARK_PYTHON" ] || die "no PySpark at $SPARK_PYTHON; run scripts/setup_spark.sh"
mkdir -p "$OUT"

seconds() { python3 -c 'import time; print(time.perf_counter())'; }

echo "machine: $(nproc) cores, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary: $("$BIN" --version), commit $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"

start="$(seconds)"
"$BIN" predict -m "$MODEL" --file "$DATA" --threads "$THREADS" > "$OUT/single.csv"
single_wall="$(python3 -c "import time; print(f'{time.perf_counter() - $start:.2f}')")"
echo "single predict --file (--threads $THREADS): $single_wall s wall"

SPARK_INPUT="$DATA"
if [ "${INPUT_FORMAT:-csv}" = parquet ]; then
    SPARK_INPUT="$OUT/input.parquet"
    "$SPARK_PYTHON" - "$DATA" "$SPARK_INPUT" <<'EOF' 2> "$OUT/convert.log"
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.master("local[1]").getOrCreate()
(spark.read.option("header", True).option("multiLine", True).option("escape", '"')
 .csv(sys.argv[1]).coalesce(1).write.mode("overwrite").parquet(sys.argv[2]))
spark.stop()
EOF
    echo "converted $DATA to $SPARK_INPUT"
fi

start="$(seconds)"
"$SPARK_PYTHON" "$REPO/scripts/spark_predict.py" --master "$MASTER" \
    --binary "$BIN" --model "$MODEL" --input "$SPARK_INPUT" --output "$OUT/spark" \
    ${PARTITIONS:+--partitions "$PARTITIONS"} 2> "$OUT/spark.log" || {
    tail -n 30 "$OUT/spark.log" >&2; die "spark_predict.py failed (log: $OUT/spark.log)"; }
spark_wall="$(python3 -c "import time; print(f'{time.perf_counter() - $start:.2f}')")"
grep -o 'scored .*' "$OUT/spark.log" || true
echo "spark_predict.py ($MASTER, ${INPUT_FORMAT:-csv} input), whole process with the JVM's start: $spark_wall s wall"

python3 - "$OUT/single.csv" "$OUT/spark" "$single_wall" "$spark_wall" <<'EOF'
import csv, glob, sys
csv.field_size_limit(1 << 30)
single_path, spark_dir, single_wall, spark_wall = sys.argv[1:]
with open(single_path, newline="", encoding="utf-8") as f:
    single = [(r["label"], float(r["probability"])) for r in csv.DictReader(f)]
spark = {}
for part in sorted(glob.glob(f"{spark_dir}/part-*.csv")):
    with open(part, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            spark[int(r["row"])] = (r["label"], float(r["probability"]))
same = sum(1 for i, row in enumerate(single) if spark.get(i) == row)
n = len(single)
print(f"rows: single {n}, spark {len(spark)}; identical label and probability: {same} of {n}")
print(f"throughput: single {n / float(single_wall):,.0f} rows/s, "
      f"spark whole process {n / float(spark_wall):,.0f} rows/s")
if same != n or len(spark) != n:
    diff = [i for i, row in enumerate(single) if spark.get(i) != row][:5]
    sys.exit(f"spark_check: results differ, first rows: {[(i, single[i], spark.get(i)) for i in diff]}")
EOF
