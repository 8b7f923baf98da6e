"""Mistakes users make: one line on stderr naming the file or flag, a non-zero exit, no
traceback, and nothing written to --out."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, run_ok, run_script
from test_mnist import write_own_npz
from test_pima import write_own_csv


def assert_one_line_error(result, *expected, code=1):
    assert result.returncode == code, (result.stdout[-2000:], result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if code == 2:  # argparse prints its usage line first, then the error
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def csv_lines(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def binary_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    return path


def own_data(script, tmp_path):
    """A good data file of the kind the script takes."""
    if script == "pima_binary.py":
        return write_own_csv(tmp_path / "own.csv")
    return write_own_npz(tmp_path / "own.npz")


GOOD_ROWS = "".join(f"{i},{i % 7},{i % 3}\n" for i in range(20))  # label i % 3: not always 0/1

CSV_CASES = {
    "missing file": (lambda tmp: tmp / "nope.csv", ["nope.csv", "does not exist"]),
    "a directory": (lambda tmp: tmp, ["is a folder", "CSV file"]),
    "empty file": (lambda tmp: csv_lines(tmp, ""), ["bad.csv", "0 data rows", "at least 10"]),
    "unreadable bytes": (binary_file, ["bad.csv", "not a text CSV"]),
    "non-numeric cell": (lambda tmp: csv_lines(tmp, "a,b,label\n1,2,0\n3,oops,1\n" + "1,2,0\n" * 10),
                         ["bad.csv line 3, column 2", "'oops' is not a number"]),
    "ragged rows": (lambda tmp: csv_lines(tmp, "1,2,0\n3,4,1\n5,6,0\n7,1\n" + "1,2,0\n" * 10),
                    ["bad.csv line 4", "2 columns", "earlier rows have 3"]),
    "labels not 0/1": (lambda tmp: csv_lines(tmp, "1,2,0\n1,2,1\n" * 5 + "1,2,2\n"),
                       ["bad.csv line 11", "label (last column) is 2", "must be 0 or 1"]),
    "too few rows": (lambda tmp: csv_lines(tmp, "1,2,0\n3,4,1\n5,6,0\n"),
                     ["bad.csv has 3 data rows", "at least 10"]),
    "one class only": (lambda tmp: csv_lines(tmp, "1,2,1\n" * 20), ["bad.csv", "every label is 1", "0 and 1"]),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_pima_bad_csv(tmp_path, case):
    make, expected = CSV_CASES[case]
    result = run_script("pima_binary.py", "--quick", "--data", make(tmp_path), "--out", tmp_path / "out")
    assert_one_line_error(result, *expected)
    assert list((tmp_path / "out").iterdir()) == []


def npz_file(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def good_arrays(tmp_path):
    with np.load(write_own_npz(tmp_path / "good.npz", n_train=20, n_test=10)) as npz:
        return dict(npz)


def truncated_npz(tmp_path):
    good = write_own_npz(tmp_path / "good.npz", n_train=50, n_test=10)
    (tmp_path / "bad.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return tmp_path / "bad.npz"


NPZ_CASES = {
    "missing file": (lambda tmp: tmp / "nope.npz", ["nope.npz", "does not exist"]),
    "a directory": (lambda tmp: tmp, ["is a folder", "--data"]),
    "empty file": (lambda tmp: csv_lines(tmp, "", "bad.npz"), ["bad.npz", "not a readable .npz"]),
    "not an npz": (lambda tmp: csv_lines(tmp, "1,2,3\n", "bad.npz"), ["bad.npz", "not a readable .npz"]),
    "truncated": (truncated_npz, ["bad.npz", "not a readable .npz"]),
    "missing keys": (lambda tmp: npz_file(tmp, x_train=np.zeros((5, 28, 28), "uint8"), y_train=np.zeros(5)),
                     ["bad.npz lacks x_test, y_test", "x_train, y_train, x_test, y_test"]),
    "wrong image shape": (lambda tmp: npz_file(tmp, **{**good_arrays(tmp), "x_train": np.zeros((20, 32, 32), "uint8")}),
                          ["bad.npz", "x_train has shape (20, 32, 32)", "(n, 28, 28)"]),
    "labels outside 0..9": (lambda tmp: npz_file(tmp, **{**good_arrays(tmp), "y_test": np.full(10, 10)}),
                            ["bad.npz", "y_test holds labels outside 0..9"]),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_mnist_bad_npz(tmp_path, case):
    make, expected = NPZ_CASES[case]
    result = run_script("mnist_dense.py", "--quick", "--data", make(tmp_path), "--out", tmp_path / "out")
    assert_one_line_error(result, *expected)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("script, flags, expected", [
    ("pima_binary.py", ["--epochs", "0"], "--epochs: must be 1 or more, got 0"),
    ("mnist_dense.py", ["--epochs", "0"], "--epochs: must be 1 or more, got 0"),
    ("pima_binary.py", ["--batch-size", "-5"], "--batch-size: must be 1 or more, got -5"),
    ("mnist_dense.py", ["--batch-size", "-5"], "--batch-size: must be 1 or more, got -5"),
    ("mnist_dense.py", ["--network", "cnn"], "--network: invalid choice: 'cnn'"),
])
def test_bad_flags_get_argparse_errors(tmp_path, script, flags, expected):
    result = run_script(script, *flags, "--out", tmp_path / "out")
    assert_one_line_error(result, expected, code=2)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_out_that_cannot_be_written_fails_before_training(tmp_path, script):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the folder would go")
    result = run_script(script, "--data", own_data(script, tmp_path), "--out", blocker / "out")
    assert_one_line_error(result, "cannot write outputs to", str(blocker / "out"), "--out")
    assert "Epoch" not in result.stdout


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_ctrl_c_during_fit_says_interrupted_and_leaves_no_result_files(tmp_path, script):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / script), "--data", str(own_data(script, tmp_path)),
         "--epochs", "100000", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal delivers it
    )
    deadline = time.monotonic() + 120
    for line in process.stdout:  # wait until training is under way
        if "Epoch 3/" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [
        "interrupted: stopped before the end; no output file was left half-written"]
    # Only the data picture, written whole before training, may be there; no temporary files.
    assert sorted(path.name for path in out.iterdir()) == (["samples.png"] if script == "mnist_dense.py" else [])


def figures(out):
    metrics = json.loads((out / "metrics.json").read_text())
    del metrics["fit_seconds"]
    return metrics


@pytest.mark.parametrize("script, flags", [("pima_binary.py", ["--epochs", "5"]), ("mnist_dense.py", ["--quick"])])
def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, script, flags):
    path = own_data(script, tmp_path)
    runs = {}
    for name, seed in [("first", 7), ("again", 7), ("other", 8)]:
        run_ok(script, *flags, "--data", path, "--seed", seed, "--out", tmp_path / name)
        runs[name] = figures(tmp_path / name)
    assert runs["first"] == runs["again"]  # to the last digit
    assert runs["other"]["test_loss"] != runs["first"]["test_loss"]
