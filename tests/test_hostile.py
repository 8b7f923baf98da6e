"""Hostile cases, round 3: closed pipes and full disks, odd file names, odd images, models
that do not fit, odd CSV rows, two runs into one folder, early signals, runs that fail.

The models --predict reads are made once for the module (untrained: what is tested here is
how the scripts treat files, streams and shapes, not what they predict).
"""

import csv
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import (
    ROOT,
    as_from_a_terminal,
    assert_one_line_error,
    run_script,
    script_env,
    wait_for_line,
)
from makers import write_own_csv, write_own_npz

ROWS = ["6,148,72,35,0,33.6,0.627,50", "1,85,66,29,0,26.6,0.351,31"]  # 8 Pima features

MODELS_PROGRAM = """
import sys
import keras

L = keras.layers
def sequential(shape, *layers):
    return keras.Sequential([keras.Input(shape=shape), *layers])

folder = sys.argv[1]
keras.utils.set_random_seed(0)
sequential((784,), L.Dense(10, activation="softmax")).save(f"{folder}/mnist.keras")
sequential((8,), L.Dense(1, activation="sigmoid")).save(f"{folder}/pima.keras")
sequential((784,), L.Dense(1, activation="sigmoid")).save(f"{folder}/mnist_784_to_1.keras")
sequential((784,), L.Dense(2, activation="softmax")).save(f"{folder}/mnist_784_to_2.keras")
a, b = keras.Input(shape=(8,)), keras.Input(shape=(8,))
keras.Model([a, b], L.Dense(1, activation="sigmoid")(L.Concatenate()([a, b]))).save(
    f"{folder}/two_inputs.keras")
a = keras.Input(shape=(8,))
keras.Model(a, [L.Dense(1, activation="sigmoid")(a), L.Dense(1, activation="sigmoid")(a)]).save(
    f"{folder}/two_outputs.keras")
sequential((28, 28), L.Flatten(), L.Dense(1, activation="sigmoid")).save(
    f"{folder}/image_input.keras")
# No activation and a large bias: outputs far above 1, which are no probabilities.
sequential((8,), L.Dense(1, bias_initializer=keras.initializers.Constant(50.0))).save(
    f"{folder}/linear.keras")
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{name: path} of small Keras models, made in one process on the scripts' backend."""
    folder = tmp_path_factory.mktemp("models")
    result = subprocess.run(
        [sys.executable, "-c", MODELS_PROGRAM, str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        env=script_env(TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {path.stem: path for path in folder.glob("*.keras")}


def digit_pixels(size=100):
    """A '1' with a flag, drawn with Pillow: 1.0 is paper, 0.0 is ink."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    width = max(3, size // 12)
    draw.line([(size // 2, size * 15 // 100), (size // 2, size * 85 // 100)], fill=0, width=width)
    draw.line(
        [(size // 2, size * 15 // 100), (size // 2 - size // 6, size * 30 // 100)],
        fill=0,
        width=width,
    )
    return np.asarray(image, dtype="float32") / 255


def write_png(path, size=100):
    from PIL import Image

    Image.fromarray((digit_pixels(size) * 255).astype("uint8")).save(path, format="PNG")
    return path


def predict(script, model, out, *inputs, **popen):
    return run_script(script, "--predict", *inputs, "--model", model, "--out", out, **popen)


def assert_ok(result):
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    assert result.stderr == "", result.stderr[-3000:]


def csv_rows(path):
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as file:
        return list(csv.reader(file))


TRAINING_OUTPUTS = {"model.keras", "metrics.json", "history.png"}  # network.png only with Graphviz


## 1. A closed stdout stops the printing, not the work


@pytest.mark.parametrize(
    "case",
    [
        "pima --predict | head -2",
        "mnist --predict | head -1",
        "pima --quick | head -2",
        "pima --quick > /dev/full",
    ],
)
def test_1_a_closed_or_full_stdout_stops_the_printing_not_the_work(
    tmp_path, models, case, start_process
):
    out, err_path = tmp_path / "out", tmp_path / "stderr"
    if case.endswith("/dev/full") and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    if case.startswith("pima --predict"):
        rng = np.random.default_rng(0)  # 5,000 rows: more than a pipe holds, so printing blocks
        rows = rng.normal(size=(5000, 8)) * [3, 30, 20, 10, 50, 5, 0.3, 10] + [
            3,
            120,
            70,
            20,
            80,
            32,
            0.5,
            33,
        ]
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
                write_png(tmp_path / "digit.png"),
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


## 2. A "$" in a file name is a character, not the start of a formula


@pytest.mark.parametrize(
    "case", ["mnist --predict x$_$.png", "pima --data x$_$.csv", "mnist --data x$_$.npz"]
)
def test_2_a_dollar_in_a_file_name_is_just_a_character(tmp_path, models, case):
    out = tmp_path / "out"
    if case == "mnist --predict x$_$.png":
        result = predict("mnist_dense.py", models["mnist"], out, write_png(tmp_path / "x$_$.png"))
        expected = {"own_predictions.csv", "own_predictions.png"}
    elif case == "pima --data x$_$.csv":
        result = run_script(
            "pima_binary.py",
            "--quick",
            "--data",
            write_own_csv(tmp_path / "x$_$.csv"),
            "--out",
            out,
        )
        expected = TRAINING_OUTPUTS
    else:
        result = run_script(
            "mnist_dense.py",
            "--quick",
            "--data",
            write_own_npz(tmp_path / "x$_$.npz"),
            "--out",
            out,
        )
        expected = TRAINING_OUTPUTS | {
            "samples.png",
            "confusion.png",
            "predictions.png",
            "mistakes.png",
        }
    assert_ok(result)
    assert expected <= {path.name for path in out.iterdir()}
    if case.endswith(".png"):
        assert csv_rows(out / "own_predictions.csv")[1][0] == str(tmp_path / "x$_$.png")


## 3. File and folder names that are not UTF-8


def test_3_file_and_folder_names_that_are_not_utf8_are_read_and_written(tmp_path, models):
    image = write_png(tmp_path / os.fsdecode(b"bad\xff.png"))
    out = tmp_path / os.fsdecode(b"out\xfe")
    result = predict(
        "mnist_dense.py", models["mnist"], out, image, env=script_env(LC_ALL="C.UTF-8")
    )
    assert_ok(result)
    assert {path.name for path in out.iterdir()} == {"own_predictions.csv", "own_predictions.png"}
    csv_bytes = (out / "own_predictions.csv").read_bytes()
    assert (
        os.fsencode(image) + b"," in csv_bytes
    )  # the name's own bytes, as the shell gives it back
    assert len(csv_bytes.splitlines()) == 2


## 4. 16-bit and floating-point images


def test_4_a_16_bit_png_and_a_float_tiff_are_read_as_the_8_bit_picture_is(tmp_path, models):
    from PIL import Image

    paper = digit_pixels()
    Image.fromarray(np.where(paper > 0.5, 60000, 3000).astype("uint16")).save(
        tmp_path / "grey16.png"
    )
    Image.fromarray(paper.astype("float32")).save(tmp_path / "float.tif")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    reference = write_png(tmp_path / "grey8.png")
    result = predict(
        "mnist_dense.py",
        models["mnist"],
        tmp_path / "out",
        tmp_path / "grey16.png",
        tmp_path / "float.tif",
        reference,
    )
    assert "no ink found" not in result.stderr
    assert_ok(result)
    rows = csv_rows(tmp_path / "out" / "own_predictions.csv")[1:]
    assert [row[0] for row in rows] == [
        str(tmp_path / name) for name in ["grey16.png", "float.tif", "grey8.png"]
    ]
    # the same digit as the 8-bit picture: the same ten probabilities
    assert rows[0][1:] == rows[2][1:] and rows[1][1:] == rows[2][1:], rows


## 5. Models that do not fit are refused in one line

MISFITS = [
    ("mnist_dense.py", "mnist_784_to_1", ["takes", "gives", "(1,)"]),
    ("mnist_dense.py", "mnist_784_to_2", ["takes", "gives", "(2,)"]),
    ("pima_binary.py", "two_inputs", ["takes", "gives"]),
    ("pima_binary.py", "two_outputs", ["takes", "gives"]),
    ("pima_binary.py", "image_input", ["takes", "gives", "28, 28"]),
    ("pima_binary.py", "linear", ["probabilities"]),
    ("pima_binary.py", "mnist", ["takes", "gives", "10"]),  # 784 features, but ten outputs
]


@pytest.mark.parametrize(
    "script, model, expected", MISFITS, ids=[f"{script} {model}" for script, model, _ in MISFITS]
)
def test_5_a_model_that_does_not_fit_is_refused_in_one_line_naming_it(
    tmp_path, models, script, model, expected
):
    out = tmp_path / "out"
    if script == "mnist_dense.py":
        inputs = [write_png(tmp_path / "digit.png")]
    elif model == "mnist":
        pixels = np.random.default_rng(0).integers(0, 256, (3, 784))
        (tmp_path / "pixels.csv").write_text(
            "".join(",".join(map(str, row)) + "\n" for row in pixels)
        )
        inputs = [tmp_path / "pixels.csv"]
    else:
        (tmp_path / "rows.csv").write_text("\n".join(ROWS) + "\n")
        inputs = [tmp_path / "rows.csv"]
    result = predict(script, models[model], out, *inputs)
    assert_one_line_error(result, str(models[model]), *expected)
    assert not (out / "own_predictions.csv").exists()


## 6. CSV rows as spreadsheets and hands write them


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param(
            "NA,NA,NA,NA,NA,NA,NA,NA\n" + ROWS[0] + "\n", ["line 1", "column 1"], id="NA first row"
        ),
        pytest.param(
            "nan," + ROWS[0].split(",", 1)[1] + "\n" + ROWS[1] + "\n",
            ["line 1", "column 1"],
            id="nan first row",
        ),
        pytest.param(
            ROWS[0] + "\n1,1_000,66,29,0,26.6,0.351,31\n",
            ["line 2", "column 2", "1_000"],
            id="1_000",
        ),
        pytest.param(
            ",".join(f'"{cell}"' for cell in ROWS[0].split(",")) + "\n", 1, id="one quoted row"
        ),
        pytest.param("\n".join(row.replace(",", ";") for row in ROWS) + "\n", 2, id="semicolons"),
        pytest.param("\n".join(row.replace(",", "\t") for row in ROWS) + "\n", 2, id="tabs"),
    ],
)
def test_6_csv_rows_are_read_or_refused_naming_line_and_column(tmp_path, models, text, expected):
    (tmp_path / "rows.csv").write_text(text)
    out = tmp_path / "out"
    result = predict("pima_binary.py", models["pima"], out, tmp_path / "rows.csv")
    if isinstance(expected, list):  # refused, not taken for a header nor read as a number
        assert_one_line_error(result, *expected)
        assert not (out / "own_predictions.csv").exists()
    else:
        assert_ok(result)
        rows = csv_rows(out / "own_predictions.csv")[1:]
        assert len(rows) == expected
        assert [[float(cell) for cell in row[:8]] for row in rows] == [
            [float(cell) for cell in line.split(",")] for line in ROWS[:expected]
        ]


## 7. Two runs saving into one folder at once leave one run's set, never a mix

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


def test_7_two_runs_saving_into_one_folder_leave_one_set_never_a_mix(tmp_path, start_process):
    out = tmp_path / "out"
    program = SAVING_PROGRAM.format(root=str(ROOT), out=str(out))

    def start(letter, pause):
        return start_process([sys.executable, "-c", program, letter, pause])

    first = start("A", "pause")
    wait_for_line(first, "renamed one", seconds=60)
    second = start("B", "no pause")
    results = [process.communicate(timeout=60) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], results
    assert (out / "a.txt").read_bytes() == (out / "b.txt").read_bytes() == b"B", (
        results
    )  # B waited for A
    assert sorted(path.name for path in out.iterdir()) == ["a.txt", "b.txt"]


## 8. A full disk: nothing of this run is saved, the previous run's files stay whole


def test_8_a_file_that_cannot_be_written_keeps_the_previous_set_whole(tmp_path, models):
    out = tmp_path / "out"
    out.mkdir()
    (out / "own_predictions.csv").write_bytes(b"previous csv\n")
    (out / "own_predictions.png").write_bytes(b"previous png")
    limit = 8192  # the CSV of one digit fits (about 200 bytes), its picture (about 25 kB) does not

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = predict(
        "mnist_dense.py",
        models["mnist"],
        out,
        write_png(tmp_path / "digit.png"),
        preexec_fn=small_files,
    )
    assert_one_line_error(result, "nothing of this run was saved")
    assert (out / "own_predictions.csv").read_bytes() == b"previous csv\n"
    assert (out / "own_predictions.png").read_bytes() == b"previous png"
    assert sorted(path.name for path in out.iterdir()) == [
        "own_predictions.csv",
        "own_predictions.png",
    ]


## 9. A successful run prints no warning


@pytest.mark.parametrize(
    "case", ["12000x12000 PNG", "JPEG with a corrupt EXIF block", "tab and CR in names"]
)
def test_9_a_successful_run_prints_no_warning(tmp_path, models, case):
    from PIL import Image, ImageDraw

    if (
        case == "12000x12000 PNG"
    ):  # 144 million pixels: Pillow's DecompressionBombWarning, not its error
        image = Image.new("L", (12000, 12000), 255)
        draw = ImageDraw.Draw(image)
        draw.line([(6000, 4000), (6000, 8000)], fill=0, width=400)
        draw.line([(6000, 4000), (5200, 4800)], fill=0, width=400)
        image.save(tmp_path / "huge.png", compress_level=1)
        del image, draw
        inputs = [tmp_path / "huge.png"]
    elif case == "JPEG with a corrupt EXIF block":
        # an IFD that claims 64 entries and holds less than one
        exif = (
            b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x40"
            + b"\x01\x12\0\x03\0\0\0\x01\0\x06\0\0"
            + b"\xff" * 5
        )
        Image.open(write_png(tmp_path / "digit.png")).convert("RGB").save(
            tmp_path / "exif.jpg", exif=exif
        )
        inputs = [tmp_path / "exif.jpg"]
    else:
        inputs = [write_png(tmp_path / "tab\there.png"), write_png(tmp_path / "cr\rhere.png")]
    result = predict("mnist_dense.py", models["mnist"], tmp_path / "out", *inputs)
    assert_ok(result)
    assert (tmp_path / "out" / "own_predictions.png").is_file()


# Not in the list, found with case 9: csv.writer with lineterminator="\n" leaves a
# field holding "\r" unquoted (Python 3.11), so the row of a file named "cr\rhere.png" reads
# back as two rows.
def test_9b_a_file_name_with_a_cr_or_newline_keeps_its_one_csv_row(tmp_path, models):
    inputs = [write_png(tmp_path / "cr\rhere.png"), write_png(tmp_path / "newline\nhere.png")]
    result = predict("mnist_dense.py", models["mnist"], tmp_path / "out", *inputs)
    assert_ok(result)
    rows = csv_rows(tmp_path / "out" / "own_predictions.csv")
    assert [row[0] for row in rows[1:]] == [str(path) for path in inputs], rows


## 10. Many images: the picture shows the first 32, the CSV has them all


def test_10_own_predictions_png_draws_at_most_32_images_and_the_csv_has_all(tmp_path, models):
    from PIL import Image

    images = [write_png(tmp_path / f"digit_{index:02d}.png", size=60) for index in range(40)]
    out = tmp_path / "out"
    result = predict("mnist_dense.py", models["mnist"], out, *images)
    assert_ok(result)
    assert len(csv_rows(out / "own_predictions.csv")) == 1 + 40
    assert "shows the first 32" in result.stdout
    # two images a row, 1.7 inches a row at 80 dots an inch: 40 images would need 20 rows,
    # about 2,770 pixels; 32 need 16, about 2,220.
    assert Image.open(out / "own_predictions.png").size[1] < 2500


## 11. A signal right after the start

# Runs a script as Python would (as __main__, its folder first on the path), and sends the
# process a signal the moment the script starts importing NumPy: the first second of a run,
# before main() has begun, at a point that does not depend on the machine's speed.
SIGNAL_AT_NUMPY = """
import os, runpy, signal, sys

class SignalAtNumPy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, signal_name))

signal_name, script, sys.argv = sys.argv[1], sys.argv[2], sys.argv[2:]
sys.path.insert(0, os.path.dirname(script))
sys.meta_path.insert(0, SignalAtNumPy())
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(
    "signal_name, said",
    [
        ("SIGINT", "interrupted (Ctrl-C)"),
        ("SIGTERM", "stopped (SIGTERM)"),
        ("SIGHUP", "stopped (SIGHUP: the terminal closed)"),
    ],
)
@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_11_a_signal_while_the_script_imports_numpy_is_one_line(
    tmp_path, script, signal_name, said
):
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SIGNAL_AT_NUMPY,
            signal_name,
            str(ROOT / script),
            "--quick",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=script_env(),
        preexec_fn=as_from_a_terminal,
    )
    assert (
        result.stderr == f"{said}: stopped before the end; no output file was left half-written\n"
    )
    assert result.returncode == 128 + getattr(signal, signal_name)
    assert result.stdout == "" and not out.exists()


def test_11_a_program_of_ones_own_that_imports_a_script_keeps_its_handlers(tmp_path):
    """pytest, IPython, or one's own program using prepare_digit (README) keeps its handlers."""
    program = tmp_path / "my_program.py"
    program.write_text(
        "import signal, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import mnist_dense, pima_binary\n"
        "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,\n"
        "      signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)\n"
    )
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        env=script_env(),
        preexec_fn=as_from_a_terminal,
    )
    assert result.stdout.split() == ["True", "True"], result.stderr


## 12. A run that fails creates no --out folder


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
def test_12_a_run_that_fails_creates_no_out_folder(tmp_path, script, args):
    result = run_script(script, *args, "--out", tmp_path / "new" / "out", cwd=tmp_path)
    assert_one_line_error(result, "missing.")
    assert list(tmp_path.iterdir()) == []


## 13. A file name in Chinese or Japanese: no "Glyph ... missing from font" on stderr

NAMES_THE_FONT_LACKS = ["数字.png", "手書き.png", "数字の写真です.png"]


def test_13_names_the_font_cannot_draw_print_no_glyph_warnings_and_keep_their_csv_row(
    tmp_path, models
):
    images = [write_png(tmp_path / name) for name in NAMES_THE_FONT_LACKS]
    out = tmp_path / "out"
    result = predict("mnist_dense.py", models["mnist"], out, *images)
    assert "Glyph" not in result.stderr, result.stderr
    assert_ok(result)
    assert [row[0] for row in csv_rows(out / "own_predictions.csv")[1:]] == list(map(str, images))
    assert (out / "own_predictions.png").stat().st_size > 0


def test_13_own_predictions_png_shows_such_names_as_escapes_it_can_draw():
    import io
    import warnings

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
