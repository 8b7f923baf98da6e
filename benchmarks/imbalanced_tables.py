"""Two real two-class tables where one class is rare, for pima_binary.py's --balance.

    python benchmarks/imbalanced_tables.py DIR [--shared FOLDER]

reads mnist.npz and pima-indians-diabetes.data.csv from FOLDER (default: ../shared/data if
there is one, else data/, where mnist_dense.py and pima_binary.py download them), and writes
into DIR:

- zero_or_other.csv: the first 3,000 training digits of the real MNIST (mnist.npz), each
  shrunk to 7x7 by averaging blocks of 4x4 pixels (49 columns, 0 to 255, rounded), then its
  label in words: "zero" for a 0 (9.5% of them), "other" for the rest; a header row.
- zero_or_other_new.csv: the first 20 test digits, made the same way: rows for --predict.
- pima_rare.csv: the real Pima CSV with its 500 rows without onset as they are, and 56 of its
  268 rows with onset (10.1% of 556), chosen by numpy.random.default_rng(0), in file order.

Nothing is invented: every cell comes from the real files, only rows are chosen and pixels
averaged. Then, for example:

    python pima_binary.py --data DIR/zero_or_other.csv --out /tmp/zero
    python pima_binary.py --data DIR/zero_or_other.csv --balance --out /tmp/zero-balanced
    python pima_binary.py --predict DIR/zero_or_other_new.csv --out /tmp/zero
"""

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
N_DIGITS = 3000
N_RARE_ONSETS = 56


def zero_or_other(mnist_npz, part="train", n_digits=N_DIGITS):
    with np.load(mnist_npz) as data:
        images, digits = data[f"x_{part}"][:n_digits], data[f"y_{part}"][:n_digits]
    # 28x28 as 7x7 blocks of 4x4 pixels: the mean of each block is one feature.
    small = images.reshape(len(images), 7, 4, 7, 4).mean(axis=(2, 4)).round().astype(int)
    header = [f"r{row}c{column}" for row in range(1, 8) for column in range(1, 8)] + ["digit"]
    lines = [",".join(header)]
    for pixels, digit in zip(small.reshape(len(small), 49), digits):
        lines.append(",".join([*map(str, pixels), "zero" if digit == 0 else "other"]))
    return "\n".join(lines) + "\n", int((digits == 0).sum()), len(digits)


def pima_rare(pima_csv):
    lines = Path(pima_csv).read_text().split()
    onsets = [number for number, line in enumerate(lines) if line.endswith(",1")]
    kept = set(np.random.default_rng(0).choice(onsets, N_RARE_ONSETS, replace=False).tolist())
    rows = [line for number, line in enumerate(lines) if number not in onsets or number in kept]
    return "\n".join(rows) + "\n", N_RARE_ONSETS, len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("out", type=Path, help="folder to write the two CSV files into")
    shared = ROOT.parent / "shared" / "data"
    shared = shared if shared.is_dir() else ROOT / "data"
    parser.add_argument("--shared", type=Path, default=shared, help="where the real files are")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (text, rare, rows) in {
        "zero_or_other.csv": zero_or_other(args.shared / "mnist.npz"),
        "zero_or_other_new.csv": zero_or_other(args.shared / "mnist.npz", "test", 20),
        "pima_rare.csv": pima_rare(args.shared / "pima-indians-diabetes.data.csv"),
    }.items():
        (args.out / name).write_text(text)
        print(f"{args.out / name}: {rows} rows, {rare} of the rare class ({rare / rows:.1%})")


if __name__ == "__main__":
    main()
