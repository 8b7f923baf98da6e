"""What a run leaves in --out: the previous set, whole, when a file cannot be written; no folder
at all from a run that fails, on a full disk too; --tensorboard that cannot be written refused
before training; at most 32 images in own_predictions.png, all of them in its CSV."""

import json
import resource
import shlex

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_succeeded, run
from makers import csv_rows, draw_digit, own_data, write_image

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)


def small_files():
    """preexec_fn: the file size limit stands in for a full disk; a file over 8 kB does not fit
    (a trained model, a picture), an empty one does (check_writable's)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))


## A file that cannot be written: nothing of this run is saved, the previous set stays whole


def test_a_file_that_cannot_be_written_keeps_the_previous_set_whole(tmp_path, models):
    out = tmp_path / "out"
    out.mkdir()
    (out / "own_predictions.csv").write_bytes(b"previous csv\n")
    (out / "own_predictions.png").write_bytes(b"previous png")
    # small_files: the CSV of one digit fits (about 200 bytes), its picture (about 25 kB) does not
    result = run(
        "mnist_dense.py",
        "--predict",
        write_image(tmp_path / "digit.png", draw_digit()),
        "--model",
        models["mnist"],
        "--out",
        out,
        preexec_fn=small_files,
    )
    assert_one_line_error(result, "nothing of this run was saved")
    assert (out / "own_predictions.csv").read_bytes() == b"previous csv\n"
    assert (out / "own_predictions.png").read_bytes() == b"previous png"
    assert sorted(path.name for path in out.iterdir()) == [
        "own_predictions.csv",
        "own_predictions.png",
    ]


## A run that fails creates no --out folder


@pytest.mark.parametrize(
    "script, args",
    [
        ("pima_binary.py", ["--data", "missing.csv"]),
        ("mnist_dense.py", ["--data", "missing.npz"]),
        ("pima_binary.py", ["--predict", "missing.csv"]),
        ("mnist_dense.py", ["--predict", "missing.png"]),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value),
)
def test_a_run_that_fails_creates_no_out_folder(tmp_path, models, script, args):
    if "--predict" in args:  # with a model, so that it is the input that is missing
        args = [*args, "--model", models["pima" if script == "pima_binary.py" else "mnist"]]
    result = run(script, *args, "--out", tmp_path / "new" / "out", cwd=tmp_path)
    assert_one_line_error(result, "missing.")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["pima training", "mnist --predict"])
def test_a_run_on_a_full_disk_leaves_no_out_folder_of_its_own(tmp_path, models, case):
    """Issue 43: the outputs are written in the nearest folder that exists, and --out is made
    only once they all are; on a full disk, nothing of the run is left, not even its folder."""
    if case == "pima training":
        args = ["pima_binary.py", "--quick", "--data", own_data("pima_binary.py", tmp_path)]
    else:
        digit = write_image(tmp_path / "digit.png", draw_digit())
        args = ["mnist_dense.py", "--predict", digit, "--model", models["mnist"]]
    before = sorted(tmp_path.iterdir())
    result = run(*args, "--out", tmp_path / "new" / "out", preexec_fn=small_files)
    assert_one_line_error(result, "File too large", "nothing of this run was saved")
    assert sorted(tmp_path.iterdir()) == before  # no new/, no out/, no temporary file


## --tensorboard that cannot be written: one line before training, as --out


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
@pytest.mark.parametrize("case", ["an existing file", "under a file", "a read-only folder"])
def test_a_tensorboard_folder_that_cannot_be_written_is_one_line_before_training(
    tmp_path, read_only, script, case
):
    logs, prefix = tmp_path / "logs", []
    if case == "an existing file":
        logs.write_text("not a folder")
    elif case == "under a file":
        (tmp_path / "file").write_text("not a folder")
        logs = tmp_path / "file" / "logs"
    else:
        logs.mkdir()
        prefix = read_only(logs)
    out = tmp_path / "out"
    result = run(
        script,
        "--quick",
        "--data",
        own_data(script, tmp_path),
        "--out",
        out,
        "--tensorboard",
        logs,
        under=prefix,
    )
    assert_one_line_error(result, f"cannot write to {logs}", "choose another --tensorboard")
    assert "Loaded" not in result.stdout  # before the data, let alone the training
    assert not out.exists()


## Many images: the picture shows the first 32, the CSV has them all


def test_own_predictions_png_draws_at_most_32_images_and_the_csv_has_all(tmp_path, models):
    from PIL import Image

    images = [
        write_image(tmp_path / f"digit_{index:02d}.png", draw_digit(size=60)) for index in range(40)
    ]
    out = tmp_path / "out"
    result = run("mnist_dense.py", "--predict", *images, "--model", models["mnist"], "--out", out)
    assert_succeeded(result)
    assert len(csv_rows(out / "own_predictions.csv")) == 1 + 40
    assert "shows the first 32" in result.stdout
    # two images a row, 1.7 inches a row at 80 dots an inch: 40 images would need 20 rows,
    # about 2,770 pixels; 32 need 16, about 2,220.
    assert Image.open(out / "own_predictions.png").size[1] < 2500


## What metrics.json holds: each field the README or a test names


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_metrics_json_holds_every_field_a_reader_looks_for(quick_run, script):
    metrics = json.loads((quick_run(script)[1] / "metrics.json").read_text())
    common = {"data", "network", "backend", "seed", "epochs", "batch_size", "epochs_trained",
              "best_epoch", "test_accuracy", "test_accuracy_interval", "n_train", "n_test",
              "test_loss", "baseline_accuracy", "confusion_matrix", "history"}  # fmt: skip
    pima = {"classes", "class_weight", "train_accuracy", "precision", "recall"}
    assert set(metrics) == common | (pima if script == "pima_binary.py" else set())
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == ((10, 10) if script == "mnist_dense.py" else (2, 2))
    assert confusion.sum() == metrics["n_test"]
    assert confusion.trace() / metrics["n_test"] == pytest.approx(metrics["test_accuracy"], 1e-6)
    assert metrics["backend"] == "jax" and metrics["epochs_trained"] == metrics["epochs"]
    if script == "pima_binary.py":
        (tn, fp), (fn, tp) = confusion
        assert metrics["precision"] == pytest.approx(tp / max(tp + fp, 1))
        assert metrics["recall"] == pytest.approx(tp / max(tp + fn, 1))


def test_the_command_a_run_prints_pastes_back_into_a_shell(tmp_path):
    """An --out with a space and a dollar: the printed command, split as a shell splits it,
    predicts with the model the run saved."""
    out = tmp_path / "my $HOME outputs"
    data = own_data("pima_binary.py", tmp_path)
    trained = run("pima_binary.py", "--quick", "--data", data, "--out", out)
    (line,) = [line for line in trained.stdout.splitlines() if "--predict ROWS.csv" in line]
    command = shlex.split(line.split(": ", 1)[1])
    assert command[:2] == ["python", "pima_binary.py"] and command[-1] == str(out), command
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(",".join(row[:5]) + "\n" for row in csv_rows(data)[1:4]))
    command[command.index("ROWS.csv")] = str(rows)
    assert_succeeded(run(*command[1:]))
    assert (out / "own_predictions.csv").is_file()


def test_one_folder_holds_one_run_and_the_users_other_files(tmp_path):
    """A single run, then --folds on another table, into one --out: the folds leave no model
    of the first table behind, which --predict would read with the second table's labels; a
    single run again leaves no folds.png. A file of the user's stays."""
    out = tmp_path / "out"
    first = own_data("pima_binary.py", tmp_path, "first.csv")
    other = tmp_path / "other.csv"
    other.write_text(first.read_text().replace(",0\n", ",g\n").replace(",1\n", ",b\n"))
    single = ["--quick", "--data", first, "--out", out]
    runs = [single, ["--folds", 2, "--epochs", 1, "--data", other, "--out", out], single]
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    after = []
    for flags in runs:
        assert_succeeded(run("pima_binary.py", *flags))
        after.append(sorted(path.name for path in out.iterdir()))
    assert after == [
        ["history.png", "metrics.json", "model.keras", "notes.txt"],
        ["folds.png", "metrics.json", "notes.txt"],
        ["history.png", "metrics.json", "model.keras", "notes.txt"],
    ]
    rows = tmp_path / "rows.csv"
    rows.write_text("".join(",".join(row[:5]) + "\n" for row in csv_rows(first)[1:4]))
    assert_succeeded(run("pima_binary.py", "--predict", rows, "--out", out))
    assert_succeeded(run("pima_binary.py", *runs[1]))
    assert sorted(path.name for path in out.iterdir()) == after[1]  # predictions of the old model
    result = run("pima_binary.py", "--predict", rows, "--out", out)
    assert_one_line_error(result, "no trained model at", "train one first with")
