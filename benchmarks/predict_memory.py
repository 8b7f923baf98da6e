"""Peak memory of mnist_dense.py --predict on 1, 4 and 12 large photos (3000x4000 JPEGs).

--predict holds one full-size image in memory at a time, and keeps only a 28x28 digit and a
thumbnail of each: its peak should hardly grow with the number of photos. A benchmark, not
a test: it prints figures and asserts nothing.

    python benchmarks/predict_memory.py                     # N = 1, 4, 12
    python benchmarks/predict_memory.py --counts 1 24 --model outputs/mnist_dense/model.keras
    python benchmarks/predict_memory.py --script ../old/mnist_dense.py   # another version

The first row, one 100x100 PNG, is what TensorFlow and Keras take before any photo.

Each run goes through a small parent process of its own, which prints
resource.getrusage(RUSAGE_CHILDREN).ru_maxrss: the peak resident memory of that one run.
Without --model, an untrained network of the right shape is saved first (what it predicts
does not matter here, only what reading the photos costs).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MEASURE = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
MAKE_MODEL = (
    "import sys, keras; keras.Sequential([keras.Input(shape=(784,)), "
    "keras.layers.Dense(10, activation='softmax')]).save(sys.argv[1])"
)


def write_photo(path, seed, size=(4000, 3000)):  # (height, width): an upright phone photo
    """A photo-like JPEG: uneven light paper with grain, a dark handwritten-looking stroke."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    height, width = size
    shade = np.linspace(215, 180, height)[:, None] + np.linspace(0, 20, width)[None, :]
    grey = (shade + rng.normal(0, 6, (height, width))).clip(0, 255).astype("uint8")
    image = Image.fromarray(np.stack([grey, grey, (grey * 0.95).astype("uint8")], axis=2))
    draw = ImageDraw.Draw(image)
    scale = width / 3000
    x, y = (
        width // 2 + int(rng.integers(-300, 300) * scale),
        height // 2 + int(rng.integers(-300, 300) * scale),
    )
    draw.line(
        [
            (x - 250 * scale, y - 700 * scale),
            (x + 50 * scale, y - 900 * scale),
            (x + 50 * scale, y + 900 * scale),
        ],
        fill=(40, 40, 50),
        width=max(3, round(45 * scale)),
    )
    image.save(path, quality=90)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts", type=int, nargs="+", default=[1, 4, 12], help="numbers of photos per run"
    )
    parser.add_argument(
        "--model", type=Path, help="a saved MNIST model (default: an untrained one)"
    )
    parser.add_argument(
        "--script", type=Path, default=ROOT / "mnist_dense.py", help="the mnist_dense.py to measure"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        model = args.model
        if model is None:
            model = work / "model.keras"
            subprocess.run(
                [sys.executable, "-c", MAKE_MODEL, str(model)],
                check=True,
                capture_output=True,
                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
            )
        photos = []
        for index in range(max(args.counts)):
            photos.append(work / f"photo_{index:02d}.jpg")
            write_photo(photos[-1], seed=index)
        small = work / "small.png"
        write_photo(small, seed=0, size=(100, 100))
        size = photos[0].stat().st_size
        print(
            f"{args.script}: photos 3000x4000 (width x height) JPEG, about {size / 1e6:.1f} MB each"
        )
        print(f"{'photos':>9}  {'peak RSS MiB':>12}  {'wall s':>6}")
        for count in [0, *args.counts]:
            images = photos[:count] if count else [small]
            command = [
                sys.executable,
                str(args.script),
                "--predict",
                *map(str, images),
                "--model",
                str(model),
                "--out",
                str(work / f"out{count}"),
            ]
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True
            )
            wall = time.perf_counter() - started
            code, peak_kib = map(int, result.stdout.split())
            if code != 0:
                sys.exit(f"--predict on {count} photos failed (exit {code}): {' '.join(command)}")
            print(f"{count if count else '1 small':>9}  {peak_kib / 1024:12.0f}  {wall:6.1f}")


if __name__ == "__main__":
    main()
