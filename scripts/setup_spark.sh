#!/usr/bin/env bash
# Installs what scripts/spark_predict.py needs to run Spark locally (local[N] mode): a Java
# runtime from Debian's packages and PySpark from the Python registry, into a virtual
# environment (default .venv-spark, or $SPARK_VENV). Run as root (apt-get); idempotent.
#
#   scripts/setup_spark.sh && .venv-spark/bin/python scripts/spark_predict.py --help
set -euo pipefail

venv="${SPARK_VENV:-.venv-spark}"
pyspark_version="${PYSPARK_VERSION:-4.0.5}"

if ! command -v java >/dev/null 2>&1; then
    apt-get update
    apt-get install -y default-jre-headless
fi
java -version 2>&1 | head -1

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet "pyspark==$pyspark_version"
"$venv/bin/python" -c 'import pyspark; print("pyspark", pyspark.__version__)'
