"""Where the seconds of a run go: each phase of our scripts and of the articles' code, on each
backend, in one paired run.

For each data set, runs article A's or B's program (beside this file) and our script with its
defaults, on TensorFlow and on JAX, alternating, as whole processes. Each process times its
own phases, each second counted once, in the innermost phase running:

- imports: Python modules, NumPy, Keras and its backend;
- load: reading the data file;
- build: the network defined, compiled (Normalization's adapt included), summarised;
- fit 1st / fit rest: the first epoch, which also traces and compiles, then the others;
- validate: the validation fit runs after each epoch (the articles' code has none);
- evaluate: evaluate and predict after fit;
- pictures: the figures drawn (our scripts; the articles draw none);
- save: files written, the figures rendered into PNGs included;
- other: the rest inside the process (printing, checks), and start: Python starting and ending.

Then the matrix-product floor of this machine (TensorFlow, float32). A benchmark, not a test:
it prints figures and asserts nothing. Results, with the CPU they ran on: README.md here.

    python benchmarks/phases.py                         # both data sets, 2 runs of each
    python benchmarks/phases.py --only pima --repeats 3 --backends jax
"""

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from compare_with_articles import benchmark_parser

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
DATA = {
    "mnist": ("mnist.npz", "article_a_mnist.py", "mnist_dense.py"),
    "pima": ("pima-indians-diabetes.data.csv", "article_b_pima.py", "pima_binary.py"),
}
PHASES = ["start", "imports", "load", "build", "fit 1st", "fit rest", "validate", "evaluate",
          "pictures", "save", "other"]  # fmt: skip


class Clock:
    """Seconds per phase; a phase entered inside another pauses the outer one."""

    def __init__(self):
        self.seconds, self.stack, self.mark = defaultdict(float), [], time.perf_counter()

    def _book(self):
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1]] += now - self.mark
        self.mark = now

    def enter(self, phase):
        self._book()
        self.stack.append(phase)

    def leave(self):
        self._book()
        self.stack.pop()

    def switch(self, phase):
        self._book()
        self.stack[-1] = phase

    def timed(self, phase, function):
        @functools.wraps(function)
        def timed_function(*args, **kwargs):
            self.enter(phase)
            try:
                return function(*args, **kwargs)
            finally:
                self.leave()

        return timed_function


def time_keras(clock, keras):
    """Time Keras's own calls: building, fitting (first epoch apart), evaluating, saving."""
    model = keras.Model
    for name, phase in [("compile", "build"), ("summary", "build"), ("predict", "evaluate"),
                        ("save", "save")]:  # fmt: skip
        setattr(model, name, clock.timed(phase, getattr(model, name)))
    evaluate = model.evaluate

    def timed_evaluate(self, *args, **kwargs):  # fit calls it too, to validate each epoch
        fitting = bool(clock.stack) and clock.stack[-1].startswith("fit")
        clock.enter("validate" if fitting else "evaluate")
        try:
            return evaluate(self, *args, **kwargs)
        finally:
            clock.leave()

    model.evaluate = timed_evaluate
    keras.Sequential = clock.timed("build", keras.Sequential)  # as the programs call it
    keras.layers.Normalization.adapt = clock.timed("build", keras.layers.Normalization.adapt)
    fit = model.fit

    def timed_fit(self, *args, callbacks=None, **kwargs):
        first_epoch_ends = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: epoch == 0 and clock.switch("fit rest")
        )
        return fit(self, *args, callbacks=[*(callbacks or []), first_epoch_ends], **kwargs)

    model.fit = clock.timed("fit 1st", timed_fit)


def child(program, data, out):
    """Run one program with its phases timed; print them as JSON on the last line."""
    started = time.perf_counter()
    clock = Clock()
    sys.path.insert(0, str(ROOT))
    clock.enter("imports")
    if program.parent == HERE:  # an article's program: it imports Keras first thing
        import numpy as np

        import keras

        time_keras(clock, keras)
        np.load, np.loadtxt = clock.timed("load", np.load), clock.timed("load", np.loadtxt)
        clock.leave()
        sys.argv = [str(program), str(data)]
        import runpy

        runpy.run_path(str(program), run_name="__main__")
    else:
        import importlib

        script = importlib.import_module(program.stem)
        helpers = script.helpers
        clock.leave()

        def start_keras(*args, start_keras=helpers.start_keras, **settings):
            keras = start_keras(*args, **settings)
            time_keras(clock, keras)
            return keras

        helpers.start_keras = clock.timed("imports", start_keras)
        for name in ["load_npz", "read_labelled_csv"]:
            if hasattr(script, name):
                setattr(script, name, clock.timed("load", getattr(script, name)))
        for name in ["digit_grid", "confusion_figure", "prediction_pictures"]:
            if hasattr(script, name):
                setattr(script, name, clock.timed("pictures", getattr(script, name)))
        for name in ["network_drawing", "learning_curves"]:
            setattr(helpers, name, clock.timed("pictures", getattr(helpers, name)))
        helpers.save_outputs = clock.timed("save", helpers.save_outputs)
        for name, network in script.NETWORKS.items():
            script.NETWORKS[name] = clock.timed("build", network)
        script.main(["--data", str(data), "--out", str(out)])
    seconds = dict(clock.seconds)
    seconds["other"] = time.perf_counter() - started - sum(seconds.values())
    print(json.dumps(seconds))


def measure(program, data, backend):
    """{phase: seconds} of one whole process, 'start' being what the process did not time."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--child", program, data, out]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"{program} on {backend} failed:\n{result.stderr[-3000:]}")
    seconds = json.loads(result.stdout.strip().splitlines()[-1])
    seconds["start"] = wall - sum(seconds.values())
    seconds["wall"] = wall
    return seconds


def cpu_name():
    """The CPU's model name, and whether it has AVX-512."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown CPU")  # fmt: skip
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    return f"{name}, {os.cpu_count()} cores, {'AVX-512' if 'avx512f' in flags else 'no AVX-512'}"


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each program")
    parser.add_argument("--only", choices=DATA, help="one data set only")
    parser.add_argument("--backends", default="tensorflow,jax", help="comma-separated")
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    backends = args.backends.split(",")
    print(f"{cpu_name()}; Python {sys.version.split()[0]}; seconds, median of {args.repeats}")
    from compare_with_articles import matmul_gflops  # beside this file

    print(f"float32 matrix product 128x784 by 784x784: {matmul_gflops():.0f} GFLOP/s")
    for name in [args.only] if args.only else DATA:
        data_file, article, ours = DATA[name]
        data = args.data_dir / data_file
        if not data.is_file():
            print(f"\n{name}: skipped, {data} is absent")
            continue
        runs = defaultdict(list)
        for _ in range(args.repeats):  # alternating, so that a busy minute hits all alike
            for backend in backends:
                for program in [HERE / article, ROOT / ours]:
                    runs[program.name, backend].append(measure(program, data, backend))
        print(f"\n{name}: {'':24}" + "".join(f"{phase:>9}" for phase in PHASES) + "     wall")
        for (program, backend), measured in runs.items():
            medians = [statistics.median(run.get(phase, 0) for run in measured) for phase in PHASES]
            wall = statistics.median(run["wall"] for run in measured)
            print(f"  {program:20} {backend:10}" + "".join(f"{s:9.2f}" for s in medians)
                  + f" {wall:8.2f}")  # fmt: skip
        for backend in backends:
            ratio = statistics.median(r["wall"] for r in runs[ours, backend]) / statistics.median(
                r["wall"] for r in runs[article, backend]
            )
            print(f"  ours / article on {backend}, wall time: {ratio:.2f}")


if __name__ == "__main__":
    main()
