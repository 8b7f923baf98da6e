"""Held-out accuracy of each network of a script over several seeds: one seed proves little.

Runs the script once per network and seed, with its defaults otherwise, one run at a time,
and prints the test accuracy (mean, min and max), the mean accuracy on the training rows in the
last epoch and the mean wall seconds; for Pima also recall, the share of sick patients found.
A benchmark, not a test: it prints figures and asserts nothing.

    python benchmarks/accuracy_over_seeds.py pima_binary.py                   # seeds 1 to 10
    python benchmarks/accuracy_over_seeds.py mnist_dense.py --data ../shared/data/mnist.npz
    python benchmarks/accuracy_over_seeds.py pima_binary.py --flags=--early-stop

Without --data, the script finds or downloads its data as usual; the Pima CSV is read from
../shared/data (or $SHARED_DATA_DIR) when it is there.
"""

import argparse
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))
NETWORKS = {"pima_binary.py": ["first", "dropout"], "mnist_dense.py": ["first", "dropout", "deep"]}


def seeds(text):
    """'1-10' or '7' or '1,3,5'."""
    if "-" in text:
        first, last = map(int, text.split("-"))
        return list(range(first, last + 1))
    return [int(seed) for seed in text.split(",")]


def run(script, network, seed, data, flags):
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            ROOT / script,
            "--network",
            network,
            "--seed",
            str(seed),
            "--out",
            out,
        ]
        if data:
            command += ["--data", data]
        command += flags
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"failed: {' '.join(map(str, command))}\n{result.stderr[-2000:]}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
        return {**metrics, "wall": time.perf_counter() - started}


def recall(confusion):
    """The share of class 1's rows found."""
    (_, _), (missed, found) = confusion
    return found / max(found + missed, 1)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("script", choices=NETWORKS)
    parser.add_argument("--networks", nargs="+", help="default: all of the script's")
    parser.add_argument("--seeds", type=seeds, default=seeds("1-10"), help="e.g. 1-10, 7 or 1,3,5")
    parser.add_argument("--data", type=Path, help="the data file to pass to the script")
    parser.add_argument(
        "--flags", default="", help="more flags for the script, e.g. --flags=--early-stop"
    )
    args = parser.parse_args()
    data = args.data
    if (
        data is None
        and args.script == "pima_binary.py"
        and (SHARED_DATA / "pima-indians-diabetes.data.csv").is_file()
    ):
        data = SHARED_DATA / "pima-indians-diabetes.data.csv"
    from compare_with_articles import cpu_name

    backend = os.environ.get("KERAS_BACKEND", "jax")  # the scripts' default
    versions = ", ".join(
        f"{package} {importlib.metadata.version(package)}" for package in ["keras", backend]
    )
    print(
        f"{args.script} {args.flags} on {data or 'its downloaded data'}, "
        f"seeds {args.seeds[0]} to {args.seeds[-1]}; {cpu_name()}; {versions}"
    )
    print(
        f"{'network':8} {'test accuracy: mean (min-max)':>30} {'training':>9} "
        f"{'wall s':>6} {'epochs':>6}"
        + (f" {'recall':>7} {'baseline':>9}" if args.script == "pima_binary.py" else "")
    )
    for network in args.networks or NETWORKS[args.script]:
        runs = []
        for seed in args.seeds:
            runs.append(run(args.script, network, seed, data, args.flags.split()))
            print(
                f"  {network} seed {seed}: {runs[-1]['test_accuracy']:.4f}",
                file=sys.stderr,
                flush=True,
            )
        test = [r["test_accuracy"] for r in runs]
        line = (
            f"{network:8} {statistics.mean(test):>14.4f} ({min(test):.4f}-{max(test):.4f}) "
            f"{statistics.mean(r['history']['accuracy'][-1] for r in runs):9.4f} "
            f"{statistics.mean(r['wall'] for r in runs):6.1f} "
            f"{statistics.mean(len(r['history']['loss']) for r in runs):6.1f}"
        )
        if args.script == "pima_binary.py":
            line += (
                f" {statistics.mean(recall(r['confusion_matrix']) for r in runs):7.3f}"
                f" {statistics.mean(r['baseline_accuracy'] for r in runs):9.4f}"
            )
        print(line, flush=True)


if __name__ == "__main__":
    main()
