#!/usr/bin/env python3
"""Recorded sweep behind rnn-sentiment's default training recipe.

    python3 scripts/sweep.py [--data ../shared/data] [--sets mr cr sst2-sent] [--seeds 1]
                             [--recipes NAME ...] [--out results.tsv]

Each recipe is a list of `train` options added to the defaults of the binary being run;
every (recipe, set, seed) trains on train.csv and is scored on dev.csv (for sets without
dev.csv, such as imdb, the last 10% of train.csv rows are held out, as scripts/accuracy.sh does).
Prints one TSV line per run (and appends them to --out), then a summary per recipe: mean dev
accuracy over sets and seeds, and the worst set. Not part of CI.
"""
import argparse, csv, json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "rnn-sentiment")

RECIPES = {
    "baseline-uni-last": [],
    "uni-max-d5": ["--pooling", "max", "--dropout", "0.5"],
    "bi-max-d5": ["--bidirectional", "--pooling", "max", "--dropout", "0.5"],
    "bi-lastmax-d5": ["--bidirectional", "--pooling", "last-max", "--dropout", "0.5"],
    "bi-max-d5-e2": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-dropout", "0.2"],
    "bi-mean-d5": ["--bidirectional", "--pooling", "mean", "--dropout", "0.5"],
    "bi-max-d5-lr1": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--lr", "0.001"],
    "bi-max-d5-wd": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--weight-decay", "0.01"],
    "bi-max-d5-mc2": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--min-count", "2"],
    "bi-max-d5-cos": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--lr-schedule", "cosine", "--warmup", "0.05"],
    "uni-last-ei1": ["--embed-init", "0.1"],
    "bi-max-d5-ei1": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1"],
    "bi-max-d5-ei05": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.05"],
    "bi-max-d5-ei1-e3": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3"],
    "uni-max-d5-ei1": ["--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1"],
    "B-e3": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3"],
    "B-e3-wd": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--weight-decay", "0.05"],
    "B-e3-lr1": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--lr", "0.001"],
    "B-e3-b64": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--batch-size", "64"],
    "B-e3-h64": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--hidden-dim", "64"],
    "B-e3-p2": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--patience", "2"],
    "B-e3-p2-lin4": ["--bidirectional", "--pooling", "max", "--dropout", "0.5", "--embed-init", "0.1", "--embed-dropout", "0.3", "--epochs", "4", "--lr-schedule", "linear"],
    "bi-gru-max-d5": ["--cell", "gru", "--bidirectional", "--pooling", "max", "--dropout", "0.5"],
    # K classes (SST-3, SST-5), added to the default recipe above (B-e3-p2).
    "K-default": [],
    "K-p4": ["--patience", "4", "--epochs", "20"],
    "K-lr1": ["--lr", "0.001"],
    "K-lr1-p4": ["--lr", "0.001", "--patience", "4", "--epochs", "20"],
    "K-h64": ["--hidden-dim", "64"],
    "K-mean": ["--pooling", "mean"],
    "K-gru": ["--cell", "gru"],
    "K-wd": ["--weight-decay", "0.01"],
    "K-ed5": ["--embed-dropout", "0.5"],
    "K-b64": ["--batch-size", "64"],
    "K-uni": ["--no-bidirectional"],
    "K-mc2": ["--min-count", "2"],
    "K-lin6": ["--epochs", "6", "--lr-schedule", "linear"],
    "K-l2": ["--layers", "2"],
    "K-e300": ["--embed-dim", "300"],
    "K-ei05": ["--embed-init", "0.05"],
    "K-b16": ["--batch-size", "16"],
    "K-ed5-b64": ["--embed-dropout", "0.5", "--batch-size", "64"],
    "K-ed5-h64": ["--embed-dropout", "0.5", "--hidden-dim", "64"],
    "K-ed5-d6": ["--embed-dropout", "0.5", "--dropout", "0.6"],
    "K-ed6": ["--embed-dropout", "0.6"],
    "K-ed5-e300": ["--embed-dropout", "0.5", "--embed-dim", "300"],
}


def split_train(path, tmp):
    rows = list(csv.reader(open(path, newline="", encoding="utf-8")))
    header, body = rows[0], rows[1:]
    cut = len(body) - len(body) // 10
    out = []
    for name, part in (("train.csv", body[:cut]), ("dev.csv", body[cut:])):
        p = os.path.join(tmp, name)
        with open(p, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(part)
        out.append(p)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--sets", nargs="+", default=["mr", "cr", "sst2-sent"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="options added to every run")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    results = {}
    for name in args.recipes:
        for data in args.sets:
            train, dev = os.path.join(args.data, data, "train.csv"), os.path.join(args.data, data, "dev.csv")
            if not os.path.exists(dev):
                d = os.path.join(tmp, data)
                os.makedirs(d, exist_ok=True)
                if not os.path.exists(os.path.join(d, "dev.csv")):
                    split_train(train, d)
                train, dev = os.path.join(d, "train.csv"), os.path.join(d, "dev.csv")
            for seed in args.seeds:
                model = os.path.join(tmp, "m.json")
                cmd = [BIN, "train", "--quiet", "--json", "--seed", str(seed), "-o", model, *RECIPES[name], *args.extra, train]
                t0 = time.time()
                r = subprocess.run(cmd, capture_output=True, text=True)
                secs = time.time() - t0
                if r.returncode != 0:
                    print(f"FAILED {name} {data} {seed}: {r.stderr.strip()}", file=sys.stderr)
                    continue
                report = json.loads(r.stdout)
                ev = json.loads(subprocess.run([BIN, "eval", "--json", "-m", model, dev], capture_output=True, text=True, check=True).stdout)
                line = "\t".join(str(x) for x in [name, data, seed, f"{ev['accuracy']:.4f}", f"{ev.get('f1', ev.get('macro_f1')):.4f}",
                                                   report["best_epoch"], report["epochs_run"], f"{secs:.1f}",
                                                   f"{report['tokens_per_s']:.0f}", " ".join(RECIPES[name] + args.extra)])
                print(line, flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(line + "\n")
                results.setdefault(name, {}).setdefault(data, []).append(ev["accuracy"])
    print("\nrecipe\tmean\t" + "\t".join(args.sets))
    for name, per in results.items():
        means = {d: statistics.mean(v) for d, v in per.items()}
        print(f"{name}\t{statistics.mean(means.values()):.4f}\t" + "\t".join(f"{means.get(d, float('nan')):.4f}" for d in args.sets))


if __name__ == "__main__":
    main()
