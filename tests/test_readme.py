"""The README's promises that a test can hold it to: its snippet runs as written."""

import re
import subprocess
import sys

import matplotlib.image
import numpy as np

from conftest import ROOT, run_ok, script_env
from test_mnist import write_own_npz


def readme_block(marker):
    """The code block that follows `<!-- marker -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    return re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S).group(1)


def test_the_snippet_for_ones_own_code_works_as_written(tmp_path):
    # What the README assumes: both default runs done, a photo of a digit, in this folder.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 8)) * [3, 30, 20, 15, 100, 8, 0.3, 12] + [4, 120, 70, 20, 80, 32, 0.5, 33]
    labels = (features[:, 1] > 120).astype(int)
    rows = [",".join(f"{value:.3f}" for value in row) + f",{label}" for row, label in zip(features, labels)]
    (tmp_path / "eight_features.csv").write_text("\n".join(rows) + "\n")
    run_ok("pima_binary.py", "--quick", "--data", tmp_path / "eight_features.csv",
           "--out", tmp_path / "outputs" / "pima_binary")
    run_ok("mnist_dense.py", "--quick", "--data", write_own_npz(tmp_path / "digits.npz"),
           "--out", tmp_path / "outputs" / "mnist_dense")
    stroke = np.ones((60, 50))
    stroke[8:52, 22:28] = 0  # dark ink on white paper: a 1
    matplotlib.image.imsave(tmp_path / "my_digit.jpg", stroke, cmap="gray", vmin=0, vmax=1)

    result = subprocess.run([sys.executable, "-c", readme_block("snippet")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env=script_env(PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    onset = re.search(r"probability of onset: \[\s*([\d.]+)\s+([\d.]+)\s*\]", result.stdout)
    assert onset and all(0 <= float(p) <= 1 for p in onset.groups()), result.stdout
    digit = re.search(r"digit: (\d) confidence: ([\d.]+)", result.stdout)
    assert digit and 0.1 <= float(digit.group(2)) <= 1, result.stdout
