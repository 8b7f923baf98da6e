"""What Python's exit costs a run, and what shell.py's gc.freeze at exit saves of it.

Runs pima_binary.py with its defaults on the real Pima CSV (or mnist_dense.py on the full
MNIST), each run a fresh Python, alternating two ways:

- as it is: shell.run registers gc.freeze with atexit, so Python's last garbage
  collections skip the objects TensorFlow and Keras made;
- unfrozen: the same run with that one atexit handler unregistered before the script starts.

It prints each run's wall time and the seconds of its exit alone (from the script's end to the
process's), their medians, and whether both ways wrote the same test loss.
The CPU is named beside the figures, as they hold for it only. A benchmark, not a test: it
prints figures and asserts nothing. Results: README.md here, "Exit".

    python benchmarks/exit_cost.py --repeats 3
    python benchmarks/exit_cost.py --only mnist --repeats 2
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from compare_with_articles import benchmark_parser, cpu_name

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = {"pima": ("pima_binary.py", "pima-indians-diabetes.data.csv"),
           "mnist": ("mnist_dense.py", "mnist.npz")}  # fmt: skip
# Runs the script as `python script flags` would, with the atexit handler on or off.
LAUNCHER = """
import os, runpy, sys, time, types
script, way, *flags = sys.argv[1:]
sys.argv, sys.path[0] = [script, *flags], os.path.dirname(script)
import shell
if way == "unfrozen":  # run() registers a gc.freeze that does nothing
    shell.gc = types.SimpleNamespace(freeze=lambda: None)
runpy.run_path(script, run_name="__main__")
print(time.time())  # the script's end; what follows is Python's exit
"""


def timed_run(script, way, data):
    """Wall seconds of one whole run, of its exit alone, and the test loss it wrote."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-c", LAUNCHER, str(ROOT / script), way, "--data", str(data),
                   "--out", out]  # fmt: skip
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=out)
        wall, ended = time.perf_counter() - started, time.time()
        if result.returncode:
            sys.exit(f"{script} ({way}) failed:\n{result.stderr[-3000:]}")
        exit_seconds = ended - float(result.stdout.split()[-1])
        return wall, exit_seconds, json.loads((Path(out) / "metrics.json").read_text())["test_loss"]


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each way")
    parser.add_argument("--only", choices=SCRIPTS, default="pima", help="which script")
    args = parser.parse_args()
    script, data = SCRIPTS[args.only]
    print(f"{cpu_name()}; Python {sys.version.split()[0]}; {script}, defaults")
    runs = {"frozen": [], "unfrozen": []}
    for repeat in range(args.repeats):
        for way, measured in runs.items():
            measured.append(timed_run(script, way, args.data_dir / data))
            wall, exit_seconds, _ = measured[-1]
            print(f"  run {repeat + 1}, {way:8}: {wall:6.2f} s, exit {exit_seconds:.2f} s")
    for way, measured in runs.items():
        walls, exits, losses = zip(*measured)
        losses = ", ".join(sorted({f"{loss:.9g}" for loss in losses}))
        print(f"{way:8} {spread(walls)}, exit {spread(exits)}, test loss {losses}")


def spread(seconds):
    """The median and range of some seconds, as text."""
    return f"{statistics.median(seconds):6.2f} s ({min(seconds):.2f}-{max(seconds):.2f})"


if __name__ == "__main__":
    main()
