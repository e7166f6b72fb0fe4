#!/usr/bin/env python3
"""Score a text column of a CSV or Parquet data set with rnn-sentiment on Apache Spark.

Each partition is piped through one `rnn-sentiment predict` process (RDD.pipe's mechanism,
written out so that the shipped binary's path is resolved on each executor): the partition's
rows go in as JSON lines {"key": .., "text": ..}, and `predict --input-format jsonl --keep key`
answers one JSON line per row, in order, with the key carried through. The binary and the
model file are shipped to the executors with SparkContext.addFile (the same as
`spark-submit --files rnn-sentiment,model.json`) and found there with SparkFiles.get.

A null text is scored as the empty text. The output has one row per input row: the key (--key-column, or `row`, the row's 0-based
position in the input), label, probability and, for a K-class model, probabilities (a JSON
object {class: p}); written as CSV (with a header) or Parquet under --output.

Local, on two cores (after scripts/setup_spark.sh):
    .venv-spark/bin/python scripts/spark_predict.py --master 'local[2]' \\
        --binary target/release/rnn-sentiment --model model.json \\
        --input reviews.csv --output scored/
On a cluster:
    spark-submit --master yarn --deploy-mode cluster \\
        --files target/release/rnn-sentiment,model.json \\
        scripts/spark_predict.py --binary rnn-sentiment --model model.json \\
        --input hdfs:///data/reviews.parquet --output hdfs:///data/scored/
With --files, --binary and --model name the shipped files (their base names); the binary must
be built for the executors' platform (a static musl build runs on any Linux).
"""

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--binary", required=True, help="the rnn-sentiment executable")
    p.add_argument("--model", required=True, help="the model file (model.json)")
    p.add_argument("--input", required=True, help="CSV (with a header row) or Parquet input")
    p.add_argument("--output", required=True, help="output directory (overwritten)")
    p.add_argument("--input-format", choices=["csv", "parquet"],
                   help="default: by the input's name (.parquet, else csv)")
    p.add_argument("--output-format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--text-column", default="text", help="column holding the text")
    p.add_argument("--key-column",
                   help="column carried through to identify each row (default: `row`, the "
                        "row's position in the input)")
    p.add_argument("--partitions", type=int, default=0,
                   help="partitions to score (default: the default parallelism)")
    p.add_argument("--threads", type=int, default=1,
                   help="--threads of each predict process (default 1: one core per task)")
    p.add_argument("--master", help="Spark master, e.g. local[2] (default: spark-submit's)")
    return p.parse_args(argv)


def read_input(spark, args):
    fmt = args.input_format or ("parquet" if args.input.rstrip("/").endswith(".parquet")
                                else "csv")
    if fmt == "parquet":
        return spark.read.parquet(args.input)
    # RFC 4180, as rnn-sentiment reads CSV: quoted fields may hold line breaks and "" quotes.
    return (spark.read.option("header", True).option("multiLine", True)
            .option("quote", '"').option("escape", '"').option("mode", "FAILFAST")
            .csv(args.input))


def ship(spark, path):
    """The name to give SparkFiles.get for `path`: shipped here unless spark-submit --files
    already did."""
    from pyspark import SparkFiles
    name = os.path.basename(path)
    shipped = [os.path.basename(f) for f in spark.conf.get("spark.files", "").split(",") if f]
    if name not in shipped:
        spark.sparkContext.addFile(path)
    return name


def executable(path):
    """`path`, or an executable copy when shipping dropped its execute bit."""
    if os.access(path, os.X_OK):
        return path
    copy = os.path.join(tempfile.mkdtemp(prefix="rnn-sentiment-"), os.path.basename(path))
    shutil.copyfile(path, copy)
    os.chmod(copy, os.stat(copy).st_mode | stat.S_IXUSR)
    return copy


def score_partition(binary_name, model_name, threads):
    """The function each task runs: its rows through one predict process, in order."""
    def score(rows):
        from pyspark import SparkFiles
        rows = iter(rows)
        first = next(rows, None)
        if first is None:  # an empty partition starts no process
            return
        command = [executable(SparkFiles.get(binary_name)), "predict",
                   "-m", SparkFiles.get(model_name), "--input-format", "jsonl",
                   "--keep", "key", "--threads", str(threads)]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        errors = []

        def feed():
            try:
                for key, text in _chain(first, rows):
                    line = json.dumps({"key": key, "text": text}, ensure_ascii=False)
                    proc.stdin.write(line.encode("utf-8") + b"\n")
                proc.stdin.close()
            except BrokenPipeError:  # predict stopped; its stderr says why
                pass
            except Exception as e:  # noqa: BLE001 - reported with the task's failure
                errors.append(e)

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        stderr = []
        reader = threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)
        reader.start()
        for line in proc.stdout:
            record = json.loads(line)
            probabilities = record.get("probabilities")
            yield (record["key"], record["label"], record["probability"],
                   json.dumps(probabilities) if probabilities is not None else None)
        writer.join()
        reader.join()
        code = proc.wait()
        if code != 0 or errors:
            message = b"".join(stderr).decode("utf-8", "replace").strip()
            raise RuntimeError(f"rnn-sentiment predict exited {code}: {message} {errors}")
    return score


def _chain(first, rows):
    yield first
    yield from rows


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T

    builder = (SparkSession.builder.appName("rnn-sentiment predict")
               .config("spark.ui.showConsoleProgress", "false"))
    if args.master:
        builder = builder.master(args.master)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    binary_name = ship(spark, args.binary)
    model_name = ship(spark, args.model)

    started = time.perf_counter()
    df = read_input(spark, args)
    if args.text_column not in df.columns:
        sys.exit(f"error: {args.input} has no column {args.text_column!r}; its columns are "
                 f"{', '.join(df.columns)}; choose one with --text-column")
    if args.key_column:
        key_name = args.key_column
        pairs = df.select(df[args.key_column].cast("string"), df[args.text_column]).rdd \
            .map(lambda r: (r[0], r[1] if r[1] is not None else ""))
    else:
        key_name = "row"
        pairs = df.select(df[args.text_column]).rdd.zipWithIndex() \
            .map(lambda r: (r[1], r[0][0] if r[0][0] is not None else ""))
    partitions = args.partitions or spark.sparkContext.defaultParallelism
    # A CSV with quoted line breaks is read as one partition: spread it over the cores.
    pairs = pairs.repartition(partitions)
    scored = pairs.mapPartitions(score_partition(binary_name, model_name, args.threads))
    key_type = T.StringType() if args.key_column else T.LongType()
    schema = T.StructType([
        T.StructField(key_name, key_type, False),
        T.StructField("label", T.StringType(), False),
        T.StructField("probability", T.DoubleType(), False),
        T.StructField("probabilities", T.StringType(), True),
    ])
    out = spark.createDataFrame(scored, schema)
    writer = out.write.mode("overwrite")
    if args.output_format == "parquet":
        writer.parquet(args.output)
    else:
        writer.option("header", True).csv(args.output)
    seconds = time.perf_counter() - started
    rows = spark.read.parquet(args.output).count() if args.output_format == "parquet" \
        else spark.read.option("header", True).csv(args.output).count()
    print(f"scored {rows} rows in {seconds:.2f} s ({rows / seconds:,.0f} rows/s) on "
          f"{partitions} partitions, master {spark.sparkContext.master}", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
