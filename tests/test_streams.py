"""What a run prints, and where: a closed, full or missing stdout stops the printing, not the
work; a successful run prints no warning, on odd images and on names the font cannot draw;
warnings made errors neither stop the save nor are hidden by it."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tutorial_helpers as helpers
from conftest import ROOT, assert_succeeded, run, script_env
from makers import (
    TRAINING_OUTPUTS,
    csv_rows,
    draw_digit,
    own_data,
    pima_like_features,
    write_image,
    write_own_csv,
)


## A closed, full or missing stdout stops the printing, not the work


@pytest.mark.parametrize(
    "case",
    [
        "pima --predict | head -2",
        "mnist --predict | head -1",
        "pima --quick | head -2",
        "pima --quick > /dev/full",
    ],
)
def test_a_closed_or_full_stdout_stops_the_printing_not_the_work(
    tmp_path, models, case, start_process
):
    out, err_path = tmp_path / "out", tmp_path / "stderr"
    if case.endswith("/dev/full") and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    if case.startswith("pima --predict"):
        rows = pima_like_features(5000)  # more than a pipe holds, so printing blocks
        (tmp_path / "rows.csv").write_text(
            "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in rows)
        )
        args, lines = (
            ["pima_binary.py", "--predict", tmp_path / "rows.csv", "--model", models["pima"]],
            2,
        )
        expected = {"own_predictions.csv"}
    elif case.startswith("mnist"):
        args, lines = (
            [
                "mnist_dense.py",
                "--predict",
                write_image(tmp_path / "digit.png", draw_digit()),
                "--model",
                models["mnist"],
            ],
            1,
        )
        expected = {"own_predictions.csv", "own_predictions.png"}
    else:
        args, lines = (
            ["pima_binary.py", "--quick", "--data", write_own_csv(tmp_path / "own.csv")],
            2,
        )
        expected = TRAINING_OUTPUTS
    with open(err_path, "w+b") as stderr:
        if case.endswith("/dev/full"):
            with open("/dev/full", "wb") as full:
                process = start_process(
                    [sys.executable, ROOT / args[0], *args[1:], "--out", out],
                    stdout=full, stderr=stderr, text=False,
                )  # fmt: skip
        else:
            process = start_process(
                [sys.executable, ROOT / args[0], *args[1:], "--out", out], stderr=stderr, text=False
            )
            read = [process.stdout.readline() for _ in range(lines)]
            process.stdout.close()  # as head does once it has its lines
            assert all(read), read
        code = process.wait(timeout=600)
    errors = err_path.read_text(errors="replace")
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
    assert code == 0 and errors == "", errors
    assert expected <= {path.name for path in out.iterdir()}
    if case.startswith("pima --predict"):
        assert len(csv_rows(out / "own_predictions.csv")) == 1 + 5000
    if case.startswith("pima --quick"):
        assert (out / "metrics.json").stat().st_size > 0


# >&-, as a service manager may start a program: the child has no file descriptor 1 at all.
@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
@pytest.mark.parametrize("case", ["--help", "a quick run"])
def test_a_closed_stdout_is_no_traceback_and_the_run_saves(tmp_path, script, case):
    out = tmp_path / "out"
    args = (
        ["--help"]
        if case == "--help"
        else ["--quick", "--data", own_data(script, tmp_path), "--out", out]
    )
    result = subprocess.run(
        [sys.executable, ROOT / script, *args],
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        env=script_env(),
        preexec_fn=lambda: os.close(1),  # the child starts with no file descriptor 1
    )
    assert_succeeded(result)
    if case == "a quick run":
        assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()


## A successful run prints no warning


# Warnings of reading and drawing images come as a run goes, so a warm start shows them as a
# fresh one does.
@pytest.mark.warm
@pytest.mark.parametrize(
    "case", ["12000x12000 PNG", "JPEG with a corrupt EXIF block", "tab and CR in names"]
)
def test_a_successful_run_prints_no_warning(tmp_path, models, case):
    if case == "12000x12000 PNG":
        # 144 million pixels: Pillow's DecompressionBombWarning, not its error
        huge = draw_digit(size=12000, width=400)
        inputs = [write_image(tmp_path / "huge.png", huge, compress_level=1)]
        del huge
    elif case == "JPEG with a corrupt EXIF block":
        # an IFD that claims 64 entries and holds less than one
        exif = (
            b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x40"
            + b"\x01\x12\0\x03\0\0\0\x01\0\x06\0\0"
            + b"\xff" * 5
        )
        rgb = draw_digit(ink=(0, 0, 0), paper=(255, 255, 255))
        inputs = [write_image(tmp_path / "exif.jpg", rgb, exif=exif)]
    else:
        inputs = [
            write_image(tmp_path / "tab\there.png", draw_digit()),
            write_image(tmp_path / "cr\rhere.png", draw_digit()),
        ]
    result = run(
        "mnist_dense.py",
        "--predict",
        *inputs,
        "--model",
        models["mnist"],
        "--out",
        tmp_path / "out",
    )
    assert_succeeded(result)
    assert (tmp_path / "out" / "own_predictions.png").is_file()


# Matplotlib warns "Glyph ... missing from font" for each Chinese or Japanese character its
# font lacks, as it draws the file names over the pictures.
NAMES_THE_FONT_LACKS = ["数字.png", "手書き.png", "数字の写真です.png"]


@pytest.mark.warm
def test_names_the_font_cannot_draw_print_no_glyph_warnings_and_keep_their_csv_row(
    tmp_path, models
):
    images = [write_image(tmp_path / name, draw_digit()) for name in NAMES_THE_FONT_LACKS]
    out = tmp_path / "out"
    result = run("mnist_dense.py", "--predict", *images, "--model", models["mnist"], "--out", out)
    assert "Glyph" not in result.stderr, result.stderr
    assert_succeeded(result)
    assert [row[0] for row in csv_rows(out / "own_predictions.csv")[1:]] == list(map(str, images))
    assert (out / "own_predictions.png").stat().st_size > 0


def test_own_predictions_png_shows_such_names_as_escapes_it_can_draw():
    import io

    from own_digits import own_predictions_figure

    thumbnails, digits = np.ones((3, 28, 28, 3)), np.zeros((3, 28, 28))
    figure = own_predictions_figure(NAMES_THE_FONT_LACKS, thumbnails, digits, np.full((3, 10), 0.1))
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()][::3]
    assert titles == [
        "\\u6570\\u5b57.png",
        "\\u624b\\u66f8\\u304d.png",
        "\\u6570\\u5b57\\u306e",  # cut at 22 characters, never inside an escape
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph the font lacks would be a warning, so an error
        figure.savefig(io.BytesIO(), format="png")


## Warnings made errors: the run still saves, and the save hides none of the caller's


def test_warnings_as_errors_do_not_stop_the_save(tmp_path):
    scripts = ["mnist_dense.py", "pima_binary.py"]  # in turn, in one fresh Python
    runs = [
        [script, "--quick", "--data", own_data(script, tmp_path), "--out", tmp_path / script]
        for script in scripts
    ]
    for script, result in zip(
        scripts, run(*runs[0], then=runs[1:], env=script_env(PYTHONWARNINGS="error"))
    ):
        assert_succeeded(result)
        out = tmp_path / script
        assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()


def test_the_save_hides_no_warning_of_the_callers(tmp_path):
    def save(path):
        warnings.warn("a warning of yours", DeprecationWarning)
        open(path, "wb").close()

    filters = list(warnings.filters)
    with pytest.warns(DeprecationWarning, match="a warning of yours"):
        helpers.save_outputs(tmp_path, {"model.keras": save})
    assert warnings.filters == filters  # nothing hidden once the save is done
    assert (tmp_path / "model.keras").is_file()


## A log file reads as lines; a terminal keeps Keras's live bar


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_a_log_file_holds_one_plain_line_an_epoch(tmp_path, script):
    log = tmp_path / "log.txt"
    with open(log, "wb") as file:  # > log.txt 2>&1
        code = subprocess.run(
            [sys.executable, ROOT / script, "--quick", "--epochs", "3", "--data",
             own_data(script, tmp_path), "--out", tmp_path / "out"],
            stdout=file, stderr=subprocess.STDOUT, env=script_env(), timeout=600,
        ).returncode  # fmt: skip
    text = log.read_bytes()
    assert code == 0, text[-2000:]
    assert (text.count(b"\b"), text.count(b"\r"), text.count(b"\x1b")) == (0, 0, 0)
    epochs = [line for line in text.decode().splitlines() if line.startswith("Epoch ")]
    assert [line.split(" - ")[0] for line in epochs] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all("val_loss: " in line for line in epochs), epochs


def test_a_terminal_keeps_the_live_progress_bar(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    process = subprocess.Popen(
        [sys.executable, ROOT / "pima_binary.py", "--quick", "--data",
         own_data("pima_binary.py", tmp_path), "--out", tmp_path / "out"],
        stdout=follower, stderr=follower, env=script_env(), start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the run ended
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=600) == 0, shown[-2000:]
    assert b"\r" in shown.replace(b"\r\n", b"") and b"\x1b[" in shown  # redrawn, in colour


def test_a_log_keeps_a_last_line_that_has_no_newline(tmp_path):
    program = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import shell\n"
        "shell.run(lambda: print('first line\\nthe last, unfinished', end=''))\n"
    )
    with open(tmp_path / "log.txt", "wb") as log:
        subprocess.run([sys.executable, "-c", program], stdout=log, env=script_env(), check=True)
    assert (tmp_path / "log.txt").read_text() == "first line\nthe last, unfinished"
