"""Mistakes users make: one line on stderr naming the file or flag and the fix, a non-zero
exit, no traceback, and nothing written to --out, before anything trains."""

import gzip
import importlib.util
import io
import resource
import sys
import zipfile

import numpy as np
import pytest

from conftest import assert_one_line_error, run, script_env
from makers import own_data, write_own_csv, write_own_npz

# What a mistake prints, not how a Python starts: runs start warm, Keras loaded once per worker
# (conftest.py); those with an environment or a limit of their own start afresh.
pytestmark = pytest.mark.warm


def csv_lines(tmp_path, text, name="bad.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def bytes_file(tmp_path, data, name="bad.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


GOOD_ROWS = "".join(f"{i},{i % 7},{i % 2}\n" for i in range(20))

CSV_CASES = {
    "missing file": (lambda tmp: tmp / "nope.csv", ["nope.csv", "does not exist"]),
    "a directory": (lambda tmp: tmp, ["is a folder", "CSV file"]),
    "empty file": (lambda tmp: csv_lines(tmp, ""), ["bad.csv", "0 data rows", "at least 10"]),
    "a label of one row": (
        lambda tmp: csv_lines(tmp, "".join(f"{i},{i % 7},0\n" for i in range(19)) + "19,5,1\n"),
        ["bad.csv", "label 1 has only 1 row (line 20)", "at least 5", "add rows of it"],
    ),
    "a label of four rows": (
        lambda tmp: csv_lines(tmp, "".join(f"{i},{i % 7},{int(i % 5 == 0)}\n" for i in range(20))),
        ["label 1 has only 4 rows (lines 1, 6, 11, 16)"],
    ),
    "binary file": (
        lambda tmp: bytes_file(tmp, b"\x89PNG\r\n\x1a\n\x00\xff"),
        ["bad.csv", "not a text file"],
    ),
    "gzip file": (
        lambda tmp: bytes_file(tmp, gzip.compress(GOOD_ROWS.encode())),
        ["bad.csv", "compressed", "decompress"],
    ),
    "not UTF-8": (
        lambda tmp: bytes_file(tmp, "préd,b,label\n".encode("latin-1") + GOOD_ROWS.encode()),
        ["bad.csv", "not UTF-8", "0xe9", "as UTF-8"],
    ),
    "non-numeric cell": (
        lambda tmp: csv_lines(tmp, "a,b,label\n1,2,0\n3,oops,1\n" + GOOD_ROWS),
        ["bad.csv line 3, column 2", "'oops' is not a number"],
    ),
    "three text labels": (
        lambda tmp: csv_lines(tmp, "".join(f"{i},{i % 5},{'RMX'[i % 3]}\n" for i in range(20))),
        ["bad.csv", "label (last column) takes 3 different values (R, M, X", "two classes"],
    ),
    "a 1 MB cell": (
        lambda tmp: csv_lines(tmp, "1,2,0\n" + "x" * 1_000_000 + ",2,1\n" + GOOD_ROWS),
        ["bad.csv line 2, column 1", "is not a number"],
    ),
    "beyond float32": (
        lambda tmp: csv_lines(tmp, GOOD_ROWS + "5,1e39,1\n"),
        ["bad.csv line 21, column 2", "1e+39 is too large", "32-bit"],
    ),
    "float32 whose square overflows": (
        lambda tmp: csv_lines(tmp, GOOD_ROWS + "3e38,1,1\n"),
        ["bad.csv line 21, column 1", "3e+38 is too large"],
    ),
    "infinity": (
        lambda tmp: csv_lines(tmp, GOOD_ROWS + "inf,1,1\n"),
        ["bad.csv line 21, column 1", "'inf' is not a number"],
    ),
    "ragged rows": (
        lambda tmp: csv_lines(tmp, "1,2,0\n3,4,1\n5,6,0\n7,1\n" + GOOD_ROWS),
        ["bad.csv line 4", "2 columns", "earlier rows have 3"],
    ),
    "a third label": (
        lambda tmp: csv_lines(tmp, GOOD_ROWS + "1,2,2\n"),
        ["bad.csv", "3 different values (0, 1, 2; the rarest: 2 at line 21)", "two classes"],
    ),
    "too few rows": (
        lambda tmp: csv_lines(tmp, "1,2,0\n3,4,1\n5,6,0\n"),
        ["bad.csv has 3 data rows", "at least 10"],
    ),
    "one class only": (
        lambda tmp: csv_lines(tmp, "1,2,1\n" * 20),
        ["bad.csv", "every label is 1", "0 and 1"],
    ),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_pima_bad_csv(tmp_path, case):
    make, expected = CSV_CASES[case]
    result = run("pima_binary.py", "--quick", "--data", make(tmp_path), "--out", tmp_path / "out")
    assert_one_line_error(result, *expected)
    assert not (tmp_path / "out").exists()  # not even an empty folder


def npz_file(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


def good_arrays(tmp_path, n_train=30):
    with np.load(write_own_npz(tmp_path / "good.npz", n_train=n_train, n_test=10)) as npz:
        return dict(npz)


def truncated_npz(tmp_path):
    good = write_own_npz(tmp_path / "good.npz", n_train=50, n_test=10)
    return bytes_file(tmp_path, good.read_bytes()[: good.stat().st_size // 2], "bad.npz")


def zip_of(tmp_path, members):
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def huge_header_npz(tmp_path):
    """A small file whose x_train header claims 730 GiB."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (1_000_000, 28, 28, 1000)}
    )
    arrays = good_arrays(tmp_path)
    return zip_of(
        tmp_path,
        {
            "x_train.npy": header.getvalue() + b"\0" * 100,
            **{f"{key}.npy": npy_bytes(arrays[key]) for key in ["y_train", "x_test", "y_test"]},
        },
    )


def with_array(tmp_path, key, value):
    return npz_file(tmp_path, **{**good_arrays(tmp_path), key: value})


NPZ_CASES = {
    "missing file": (lambda tmp: tmp / "nope.npz", ["nope.npz", "does not exist"]),
    "a directory": (lambda tmp: tmp, ["is a folder", "--data"]),
    "empty file": (lambda tmp: csv_lines(tmp, "", "bad.npz"), ["bad.npz", "not a readable .npz"]),
    "not an npz": (
        lambda tmp: csv_lines(tmp, "1,2,3\n", "bad.npz"),
        ["bad.npz", "not a readable .npz"],
    ),
    "truncated": (truncated_npz, ["bad.npz", "not a readable .npz"]),
    "missing keys": (
        lambda tmp: npz_file(tmp, x_train=np.zeros((5, 28, 28), "uint8"), y_train=np.zeros(5)),
        ["bad.npz lacks x_test, y_test", "x_train, y_train, x_test, y_test"],
    ),
    "members are not .npy": (
        lambda tmp: zip_of(
            tmp, {key: b"hello" for key in ["x_train", "y_train", "x_test", "y_test"]}
        ),
        ["bad.npz: x_train is not an array of numbers"],
    ),
    "object arrays": (
        lambda tmp: with_array(tmp, "y_train", np.array([None] * 30, dtype=object)),
        ["bad.npz holds Python objects", "plain numeric arrays"],
    ),
    "wrong image shape": (
        lambda tmp: with_array(tmp, "x_train", np.zeros((30, 32, 32), "uint8")),
        ["bad.npz", "x_train has shape (30, 32, 32)", "(n, 28, 28)"],
    ),
    "labels outside 0..9": (
        lambda tmp: with_array(tmp, "y_test", np.full(10, 10)),
        ["bad.npz", "y_test holds labels outside 0..9"],
    ),
    "a single training image": (
        lambda tmp: npz_file(
            tmp,
            **{
                **good_arrays(tmp),
                "x_train": np.zeros((1, 28, 28), "uint8"),
                "y_train": np.zeros(1, "uint8"),
            },
        ),
        ["bad.npz: x_train has 1 images", "at least 20"],
    ),
    "NaN pixels": (
        lambda tmp: with_array(tmp, "x_test", np.full((10, 28, 28), np.nan, "float32")),
        ["bad.npz: x_test holds NaN or infinite pixels"],
    ),
    "pixels beyond 255": (
        lambda tmp: with_array(tmp, "x_train", np.full((30, 28, 28), 300, "int32")),
        ["bad.npz: x_train holds pixels from 300 to 300", "0 to 255"],
    ),
    "train 0-255, test 0-1": (
        lambda tmp: with_array(tmp, "x_test", np.full((10, 28, 28), 0.5, "float32")),
        ["x_train's pixels go up to 255 but x_test's to 1", "scale both alike"],
    ),
}


@pytest.mark.parametrize("case", NPZ_CASES)
def test_mnist_bad_npz(tmp_path, case):
    make, expected = NPZ_CASES[case]
    result = run("mnist_dense.py", "--quick", "--data", make(tmp_path), "--out", tmp_path / "out")
    assert_one_line_error(result, *expected)
    assert not (tmp_path / "out").exists()  # not even an empty folder


def limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))  # 16 GiB: ample, but not 730


@pytest.mark.parametrize(
    "memory",
    [
        pytest.param("limited", marks=pytest.mark.skipif(
            sys.platform != "linux", reason="only Linux limits the address space (RLIMIT_AS)")),
        "as the machine has it",
    ],
)  # fmt: skip
def test_mnist_npz_whose_header_claims_730_gib_is_one_line(tmp_path, memory):
    """Whether 730 GiB can be reserved depends on the machine (vm.overcommit_memory=1 grants
    it, then reading stops at the file's end): either way, one line that the file is damaged.
    With the address space limited, the reservation fails on any machine."""
    result = run(
        "mnist_dense.py",
        "--quick",
        "--data",
        huge_header_npz(tmp_path),
        "--out",
        tmp_path / "out",
        preexec_fn=limit_address_space if memory == "limited" else None,
    )
    line = assert_one_line_error(result, "bad.npz")
    too_large = "bad.npz claims an array larger than this machine's memory; the file is damaged"
    if memory == "limited":
        assert too_large in line
    else:
        assert too_large in line or "bad.npz is not a readable .npz file (truncated" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--epochs", "0"], "--epochs: must be a whole number of 1 or more, got '0'"),
        (["--batch-size", "-5"], "--batch-size: must be a whole number of 1 or more, got '-5'"),
        (["--seed", "-1"], "--seed: must be a whole number from 0 to 4294967295, got '-1'"),
        (
            ["--seed", "4294967296"],
            "--seed: must be a whole number from 0 to 4294967295, got '4294967296'",
        ),
        (["--network", "cnn"], "--network: invalid choice: 'cnn'"),
    ],
)
def test_bad_flags_get_argparse_errors(tmp_path, script, flags, expected):
    result = run(script, *flags, "--out", tmp_path / "out")
    assert_one_line_error(result, expected, code=2)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_epochs_x_says_a_whole_number_is_wanted(script):
    """A flag that is no whole number is named in plain words, not as Python's int."""
    result = run(script, "--epochs", "x")
    line = assert_one_line_error(result, code=2)
    assert (
        line == f"{script}: error: argument --epochs: must be a whole number of 1 or more, got 'x'"
    )


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_out_that_cannot_be_written_fails_before_training(tmp_path, script):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the folder would go")
    result = run(script, "--data", own_data(script, tmp_path), "--out", blocker / "out")
    assert_one_line_error(result, f"cannot write to {blocker / 'out'}", "choose another --out")
    assert "Epoch" not in result.stdout


@pytest.mark.parametrize(
    "backend, expected",
    [
        ("theano", ["Keras backend 'theano' cannot train", "jax, tensorflow or torch"]),
        ("numpy", ["Keras backend 'numpy' cannot train"]),
    ],
)
def test_keras_backend_that_cannot_train_is_named(tmp_path, backend, expected):
    result = run(
        "pima_binary.py",
        "--quick",
        "--data",
        write_own_csv(tmp_path / "own.csv"),
        "--out",
        tmp_path / "out",
        env=script_env(KERAS_BACKEND=backend),
    )
    assert_one_line_error(result, *expected)


def test_keras_backend_not_installed_says_how_to_install_it(tmp_path):
    missing = [name for name in ["torch", "jax"] if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("jax and torch are both installed here")
    result = run(
        "mnist_dense.py",
        "--quick",
        "--data",
        write_own_npz(tmp_path / "own.npz"),
        "--out",
        tmp_path / "out",
        env=script_env(KERAS_BACKEND=missing[0]),
    )
    assert_one_line_error(
        result,
        f"Keras backend '{missing[0]}' cannot train these networks here",
        f"pip install {missing[0]}",
    )


@pytest.mark.parametrize(
    "script, flags, named",
    [
        ("pima_binary.py", ["--predict", "rows.csv", "--folds", "3", "--balance"],
         "--predict trains nothing, so it reads no --balance, --folds; leave them out"),
        ("pima_binary.py", ["--predict", "rows.csv", "--epochs", "3"],
         "--predict trains nothing, so it reads no --epochs; leave it out"),
        ("mnist_dense.py", ["--predict", "digit.png", "--network", "deep", "--seed", "3"],
         "--predict trains nothing, so it reads no --network, --seed; leave them out"),
        ("mnist_dense.py", ["--draw", "--quick"],
         "--draw trains nothing, so it reads no --quick; leave it out"),
    ],
)  # fmt: skip
def test_predict_and_draw_refuse_the_flags_of_training_by_name(tmp_path, script, flags, named):
    result = run(script, *flags, "--out", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(result, named, code=2)
    assert not (tmp_path / "out").exists()
