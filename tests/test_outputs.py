"""What a run leaves in --out: one run's whole set, never a mix of two runs saving at once; the
previous set, whole, when a file cannot be written; no folder at all from a run that fails;
--tensorboard that cannot be written refused before training; at most 32 images in
own_predictions.png, all of them in its CSV."""

import resource
import sys

import pytest

from conftest import (
    ROOT,
    assert_one_line_error,
    assert_succeeded,
    run_predict,
    run_script,
    run_under,
    wait_for_line,
)
from makers import csv_rows, draw_digit, own_data, write_image

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)


## Two runs saving into one folder at once leave one run's set, never a mix

SAVING_PROGRAM = """
import os, sys, time
sys.path.insert(0, {root!r})
import tutorial_helpers as helpers

letter, pause = sys.argv[1], sys.argv[2] == "pause"
if pause:  # rename one file, then wait until the other run has written its own
    real_replace, renamed = os.replace, []

    def replace(*args):
        real_replace(*args)
        renamed.append(args)
        if len(renamed) == 1:
            print("renamed one", flush=True)
            theirs = lambda: [p for p in os.listdir({out!r})
                              if p.startswith(".") and not p.startswith(f".{{os.getpid()}}-")]
            theirs_renamed = lambda: open(os.path.join({out!r}, "b.txt")).read() == "B"
            while len(theirs()) < 2:  # both of the other run's files, under temporary names
                if os.path.exists(os.path.join({out!r}, "b.txt")) and theirs_renamed():
                    break  # unlocked, it was quicker than this loop
                time.sleep(0.01)
            # Unlocked, the other run would rename them now; locked, it waits for this one.
            waited = time.monotonic()
            while theirs() and time.monotonic() - waited < 2:
                time.sleep(0.01)
    os.replace = replace
helpers.save_outputs({out!r}, {{"a.txt": letter.encode(), "b.txt": letter.encode()}})
"""


def test_two_runs_saving_into_one_folder_leave_one_set_never_a_mix(tmp_path, start_process):
    out = tmp_path / "out"
    program = SAVING_PROGRAM.format(root=str(ROOT), out=str(out))

    def start(letter, pause):
        return start_process([sys.executable, "-c", program, letter, pause])

    first = start("A", "pause")
    wait_for_line(first, "renamed one", seconds=60)
    second = start("B", "no pause")
    results = [process.communicate(timeout=60) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    # B waited for A to finish saving before it saved its own.
    assert (out / "a.txt").read_bytes() == (out / "b.txt").read_bytes() == b"B", results
    assert sorted(path.name for path in out.iterdir()) == ["a.txt", "b.txt"]


## A file that cannot be written: nothing of this run is saved, the previous set stays whole


def test_a_file_that_cannot_be_written_keeps_the_previous_set_whole(tmp_path, models):
    out = tmp_path / "out"
    out.mkdir()
    (out / "own_predictions.csv").write_bytes(b"previous csv\n")
    (out / "own_predictions.png").write_bytes(b"previous png")
    limit = 8192  # the CSV of one digit fits (about 200 bytes), its picture (about 25 kB) does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = run_predict(
        "mnist_dense.py",
        models["mnist"],
        out,
        write_image(tmp_path / "digit.png", draw_digit()),
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
def test_a_run_that_fails_creates_no_out_folder(tmp_path, script, args):
    result = run_script(script, *args, "--out", tmp_path / "new" / "out", cwd=tmp_path)
    assert_one_line_error(result, "missing.")
    assert list(tmp_path.iterdir()) == []


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
    result = run_under(
        prefix,
        sys.executable,
        ROOT / script,
        "--quick",
        "--data",
        own_data(script, tmp_path),
        "--out",
        out,
        "--tensorboard",
        logs,
    )
    assert_one_line_error(result, f"cannot write TensorBoard logs to {logs}", "--tensorboard")
    assert "Loaded" not in result.stdout  # before the data, let alone the training
    assert not out.exists()


## Many images: the picture shows the first 32, the CSV has them all


def test_own_predictions_png_draws_at_most_32_images_and_the_csv_has_all(tmp_path, models):
    from PIL import Image

    images = [
        write_image(tmp_path / f"digit_{index:02d}.png", draw_digit(size=60)) for index in range(40)
    ]
    out = tmp_path / "out"
    result = run_predict("mnist_dense.py", models["mnist"], out, *images)
    assert_succeeded(result)
    assert len(csv_rows(out / "own_predictions.csv")) == 1 + 40
    assert "shows the first 32" in result.stdout
    # two images a row, 1.7 inches a row at 80 dots an inch: 40 images would need 20 rows,
    # about 2,770 pixels; 32 need 16, about 2,220.
    assert Image.open(out / "own_predictions.png").size[1] < 2500
