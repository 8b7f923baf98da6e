"""Time our scripts against the articles' own code, on the same machine, data and settings.

Runs, alternating, each article's program (transcribed to Keras 3 beside this file) and
our script with the same network and settings, several times each, as whole processes.
Prints for each: wall time (median and range), time inside fit, peak memory, median
accuracy, and the ratios ours / article. The article's code is unseeded, so each of its
runs draws new weights; ours runs with seeds 1, 2, 3, ... to sample the same spread. A benchmark, not a test: it prints figures, asserts nothing.

    python benchmarks/compare_with_articles.py               # both pairs, 3 runs each
    python benchmarks/compare_with_articles.py --only pima --repeats 5

Reads the real data from ../shared/data (or $SHARED_DATA_DIR, or --data-dir).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

PAIRS = {  # name: (data file, article's program, our script and flags, what accuracy means)
    "pima": ("pima-indians-diabetes.data.csv", "article_b_pima.py", ["pima_binary.py"],
             "article: on the rows it trained on; ours: held-out (training rows in brackets)"),
    "mnist": ("mnist-real-10k.npz", "article_a_mnist.py", ["mnist_dense.py", "--network", "first"],
              "both: test digits"),
}


def run_once(command):
    """Wall seconds and peak resident memory (MiB) of one whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{output[-2000:]}")
    return wall, usage.ru_maxrss / 1024, output


def measure_article(program, data):
    wall, memory, output = run_once([sys.executable, HERE / program, data])
    result = json.loads(output.strip().splitlines()[-1])
    return dict(wall=wall, memory=memory, fit=result["fit_seconds"], accuracy=result["accuracy"])


def measure_ours(script_and_flags, data, seed):
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, ROOT / script_and_flags[0], *script_and_flags[1:],
                   "--data", data, "--seed", str(seed), "--out", out]
        wall, memory, _ = run_once(command)
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    return dict(wall=wall, memory=memory, fit=metrics["fit_seconds"],
                accuracy=metrics["test_accuracy"], train_accuracy=metrics["train_accuracy"])


def spread(values):
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def report(name, note, runs):
    print(f"\n{name}: {len(runs['article'])} runs each, alternating; accuracy {note}")
    print(f"{'':8} {'wall s, median (range)':>24} {'fit s, median (range)':>24} {'peak MiB':>9} {'accuracy':>16}")
    for who in ["article", "ours"]:
        rows = runs[who]
        accuracy = f"{statistics.median(r['accuracy'] for r in rows):.4f}"
        if "train_accuracy" in rows[0] and name == "pima":
            accuracy += f" ({statistics.median(r['train_accuracy'] for r in rows):.4f})"
        print(f"{who:8} {spread([r['wall'] for r in rows]):>24} {spread([r['fit'] for r in rows]):>24} "
              f"{max(r['memory'] for r in rows):9.0f} {accuracy:>16}")
    ratio = {key: statistics.median(r[key] for r in runs["ours"]) /
             statistics.median(r[key] for r in runs["article"]) for key in ["wall", "fit"]}
    print(f"ours / article: wall {ratio['wall']:.2f}, fit {ratio['fit']:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data")),
                        help="folder holding the real Pima CSV and mnist-real-10k.npz")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each program")
    parser.add_argument("--only", choices=PAIRS, help="one pair only")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; data from {args.data_dir}")
    for name in [args.only] if args.only else PAIRS:
        data_file, article, ours, note = PAIRS[name]
        data = args.data_dir / data_file
        if not data.is_file():
            print(f"\n{name}: skipped, {data} is absent")
            continue
        runs = {"article": [], "ours": []}
        for repeat in range(args.repeats):
            runs["article"].append(measure_article(article, data))
            # The article's code draws new weights every run; ours gets seeds 1, 2, 3, ...
            runs["ours"].append(measure_ours(ours, data, seed=repeat + 1))
            print(f"  {name} run {repeat + 1}/{args.repeats}: article {runs['article'][-1]['wall']:.1f} s, "
                  f"ours {runs['ours'][-1]['wall']:.1f} s", flush=True)
        report(name, note, runs)


if __name__ == "__main__":
    main()
