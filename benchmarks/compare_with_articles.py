"""Time our scripts against the articles' own code on the real job: the full MNIST and Pima.

Runs, alternating, each article's program (transcribed to Keras 3 beside this file, on Keras's
default backend, TensorFlow, as the articles ran) and our script with its defaults (on JAX, or
on the backend --backend names), several times each, as whole processes, on the same data.
Prints for each: wall time, time inside fit, seconds per epoch (from Keras's ms/step, over
the epochs after the first, which also builds the graph), peak memory and accuracy; the
ratios ours / article; and, for MNIST, the arithmetic floor of an epoch on this machine.
The article's code is unseeded, so each of its runs draws new weights; ours runs with seeds
1, 2, 3, ... A benchmark, not a test: it prints figures and asserts nothing.

    python benchmarks/compare_with_articles.py                 # both pairs, 3 runs each
    python benchmarks/compare_with_articles.py --backend tensorflow   # ours on TensorFlow too
    python benchmarks/compare_with_articles.py --only pima --repeats 5

Reads the real data from ../shared/data (or $SHARED_DATA_DIR, or --data-dir).
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent

PAIRS = {  # name: (data file, article's program, our script, what accuracy means)
    "mnist": ("mnist.npz", "article_a_mnist.py", "mnist_dense.py", "both: the 10,000 test digits"),
    "pima": (
        "pima-indians-diabetes.data.csv",
        "article_b_pima.py",
        "pima_binary.py",
        "article: on the rows it trained on; ours: held-out (training rows in brackets)",
    ),
}

# Multiply-adds of article A's 784-784-10 network for one digit, forward.
MNIST_LAYERS = [(784, 784), (784, 784), (784, 10)]
FORWARD_MACS = sum(n_in * n_out for n_in, n_out in MNIST_LAYERS)
# Training: the forward pass, the weight gradients (as many multiply-adds again), and the
# gradients passed back through every layer but the first (nothing needs the input's).
TRAIN_FLOP_PER_DIGIT = 2 * (
    2 * FORWARD_MACS + sum(n_in * n_out for n_in, n_out in MNIST_LAYERS[1:])
)


def run_once(command, backend):
    """Wall seconds, peak resident memory (MiB) and stdout of one whole process on a backend."""
    env = {**os.environ, "KERAS_BACKEND": backend}
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{output[-2000:]}")
    return wall, usage.ru_maxrss / 1024, output


def epoch_seconds(output):
    """Seconds per epoch after the first, from Keras's 'N/N ... Xms/step' lines."""
    lines = re.findall(r"(\d+)/\1\b.*?(\d+(?:\.\d+)?)(m|u)s/step", output.replace("\r", "\n"))
    epochs = [line for line in lines if line[0] == lines[0][0]]  # not evaluate()'s line
    per_epoch = [
        int(steps) * float(time) / (1000 if unit == "m" else 1e6) for steps, time, unit in epochs
    ]
    return statistics.mean(per_epoch[1:]) if len(per_epoch) > 1 else float("nan")


def measure_article(program, data):
    wall, memory, output = run_once([sys.executable, HERE / program, data], "tensorflow")
    result = json.loads(output.strip().splitlines()[-1])
    return dict(
        wall=wall,
        memory=memory,
        fit=result["fit_seconds"],
        epoch=epoch_seconds(output),
        accuracy=result["accuracy"],
        digits_per_epoch=result.get("n_fit"),
    )


def measure_ours(script, data, seed, backend):
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, ROOT / script, "--data", data, "--seed", str(seed), "--out", out]
        wall, memory, output = run_once(command, backend)
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    # fit's seconds: each epoch's last line, "N/N ... Xms/step ... val_loss", its steps times that
    ends = re.findall(
        r"(\d+)/\1\b[^\n]*?(\d+(?:\.\d+)?)(m|u)s/step[^\n]*val_loss", output.replace("\r", "\n")
    )
    fit = sum(
        int(steps) * float(time) / (1000 if unit == "m" else 1e6) for steps, time, unit in ends
    )
    with np.load(data) if str(data).endswith(".npz") else contextlib.nullcontext() as npz:
        fitted = round(0.95 * len(npz["y_train"])) if npz is not None else None
    return dict(
        wall=wall,
        memory=memory,
        fit=fit,
        epoch=epoch_seconds(output),
        accuracy=metrics["test_accuracy"],
        train_accuracy=metrics.get("train_accuracy"),
        digits_per_epoch=fitted,  # validation_split=0.05 leaves 95% of the training digits
    )


MATMUL_PROGRAM = """
import os, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
x, w = tf.random.normal((128, 784)), tf.random.normal((784, 784)) / 28

@tf.function
def chain(x):
    for _ in range(50):
        x = tf.matmul(x, w)
    return x

chain(x)
timings = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    chain(x).numpy()
    timings.append(time.perf_counter() - started)
print(50 * 2 * 128 * 784 * 784 / min(timings) / 1e9)
"""


def matmul_gflops(repeats=30):
    """Float32 GFLOP/s of TensorFlow here on the network's own product, a batch of 128 digits
    times a 784x784 weight matrix: the best of `repeats` timings of 50 chained products."""
    result = subprocess.run(
        [sys.executable, "-c", MATMUL_PROGRAM, str(repeats)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def spread(values):
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"


def report(name, note, runs, gflops):
    print(f"\n{name}: {len(runs['article'])} runs each, alternating; accuracy {note}")
    print(
        f"{'':8} {'wall s, median (range)':>24} {'fit s, median (range)':>24} {'s/epoch':>8} "
        f"{'peak MiB':>9} {'accuracy, median':>17}"
    )
    for who in ["article", "ours"]:
        rows = runs[who]
        accuracy = f"{statistics.median(r['accuracy'] for r in rows):.4f}"
        if name == "pima":
            accuracy += (
                f" ({statistics.median(r['train_accuracy'] for r in rows):.4f})"
                if who == "ours"
                else ""
            )
        print(
            f"{who:8} {spread([r['wall'] for r in rows]):>24} "
            f"{spread([r['fit'] for r in rows]):>24} "
            f"{statistics.median(r['epoch'] for r in rows):8.2f} "
            f"{max(r['memory'] for r in rows):9.0f} "
            f"{accuracy:>17}"
        )
    ratio = {
        key: statistics.median(r[key] for r in runs["ours"])
        / statistics.median(r[key] for r in runs["article"])
        for key in ["wall", "fit"]
    }
    print(f"ours / article: wall {ratio['wall']:.2f}, fit {ratio['fit']:.2f}")
    if name == "mnist":
        print(
            f"arithmetic floor: {TRAIN_FLOP_PER_DIGIT / 1e6:.2f} MFLOP to train on one digit "
            f"(forward {2 * FORWARD_MACS / 1e6:.2f}, weight gradients as many, "
            "gradients passed back "
            f"through the last two layers {(TRAIN_FLOP_PER_DIGIT - 4 * FORWARD_MACS) / 1e6:.2f});"
        )
        print(
            "  this machine's TensorFlow multiplies 128x784 by 784x784 at "
            f"{gflops:.0f} GFLOP/s (best of 30)"
        )
        for who in ["article", "ours"]:
            digits = runs[who][0]["digits_per_epoch"]
            floor = digits * TRAIN_FLOP_PER_DIGIT / (gflops * 1e9)
            epoch = statistics.median(r["epoch"] for r in runs[who])
            print(
                f"  {who:8} {digits:,} digits an epoch: floor {floor:.2f} s, "
                f"measured {epoch:.2f} s = {epoch / floor:.2f}x the floor"
            )


def cpu_name():
    """The CPU's model name, and whether it has AVX-512."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown CPU")  # fmt: skip
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return f"{name}, {os.cpu_count()} cores, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


def benchmark_parser(doc):
    """A benchmark's flags: its docstring's first paragraph as help, and --data-dir."""
    parser = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data")),
        help="folder holding the real mnist.npz and Pima CSV",
    )
    return parser


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each program")
    parser.add_argument("--only", choices=PAIRS, help="one pair only")
    parser.add_argument(
        "--backend", choices=["jax", "tensorflow"], default="jax", help="our scripts' backend"
    )
    args = parser.parse_args()
    print(f"{cpu_name()}; Python {sys.version.split()[0]}; data from {args.data_dir}")
    print(f"the articles' code on tensorflow, ours on {args.backend}")
    for name in [args.only] if args.only else PAIRS:
        data_file, article, ours, note = PAIRS[name]
        data = args.data_dir / data_file
        if not data.is_file():
            print(f"\n{name}: skipped, {data} is absent")
            continue
        runs = {"article": [], "ours": []}
        gflops = []
        for repeat in range(args.repeats):
            if name == "mnist":  # measured between the runs, on the machine as it is then
                gflops.append(matmul_gflops())
            runs["article"].append(measure_article(article, data))
            runs["ours"].append(measure_ours(ours, data, repeat + 1, args.backend))
            article_run, our_run = runs["article"][-1], runs["ours"][-1]
            print(
                f"  {name} run {repeat + 1}/{args.repeats}: article {article_run['wall']:.1f} s, "
                f"accuracy {article_run['accuracy']:.4f}; ours {our_run['wall']:.1f} s, "
                f"accuracy {our_run['accuracy']:.4f} (seed {repeat + 1})",
                flush=True,
            )
        report(name, note, runs, max(gflops, default=0))


if __name__ == "__main__":
    main()
