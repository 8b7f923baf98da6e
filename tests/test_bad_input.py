"""Input as users have it, which the scripts must read as they read plain input: file names
with a "$", bytes that are not UTF-8, a CR or a newline; 16-bit and floating-point images;
CSV rows as spreadsheets and hands write them, or refused naming their line and column; and
models that do not fit, refused in one line. The plain mistakes (a missing file, a damaged
table, a bad flag) are in test_errors.py."""

import os

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_succeeded, run, script_env
from makers import (
    TRAINING_OUTPUTS,
    csv_rows,
    draw_digit,
    write_image,
    write_own_csv,
    write_own_npz,
)

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

ROWS = ["6,148,72,35,0,33.6,0.627,50", "1,85,66,29,0,26.6,0.351,31"]  # 8 Pima features


## Odd file names


def test_a_dollar_in_a_file_name_is_just_a_character(tmp_path, models):
    """A "$" in a file name is a character, not the start of a formula."""
    image = write_image(tmp_path / "x$_$.png", draw_digit())
    pictures = {"samples.png", "confusion.png", "predictions.png", "mistakes.png"}
    cases = {  # name: (script, flags, the outputs it writes)
        "mnist --predict x$_$.png": (
            "mnist_dense.py",
            ["--predict", image, "--model", models["mnist"]],
            {"own_predictions.csv", "own_predictions.png"},
        ),
        "pima --data x$_$.csv": (
            "pima_binary.py",
            ["--quick", "--data", write_own_csv(tmp_path / "x$_$.csv")],
            TRAINING_OUTPUTS,
        ),
        "mnist --data x$_$.npz": (
            "mnist_dense.py",
            ["--quick", "--data", write_own_npz(tmp_path / "x$_$.npz")],
            TRAINING_OUTPUTS | pictures,
        ),
    }
    outs = {case: tmp_path / f"out{number}" for number, case in enumerate(cases)}
    runs = [[script, *flags, "--out", outs[case]] for case, (script, flags, _) in cases.items()]
    results = run(*runs[0], then=runs[1:])
    for (case, (_, _, expected)), result in zip(cases.items(), results):
        assert_succeeded(result)
        assert expected <= {path.name for path in outs[case].iterdir()}, case
    predicted = csv_rows(outs["mnist --predict x$_$.png"] / "own_predictions.csv")
    assert predicted[1][0] == str(image)


def test_file_and_folder_names_that_are_not_utf8_are_read_and_written(tmp_path, models):
    image = write_image(tmp_path / os.fsdecode(b"bad\xff.png"), draw_digit())
    out = tmp_path / os.fsdecode(b"out\xfe")
    result = run(
        "mnist_dense.py",
        "--predict",
        image,
        "--model",
        models["mnist"],
        "--out",
        out,
        env=script_env(LC_ALL="C.UTF-8"),
    )
    assert_succeeded(result)
    assert {path.name for path in out.iterdir()} == {"own_predictions.csv", "own_predictions.png"}
    csv_bytes = (out / "own_predictions.csv").read_bytes()
    # The name's own bytes, as the shell gives them back.
    assert os.fsencode(image) + b"," in csv_bytes
    assert len(csv_bytes.splitlines()) == 2


# csv.writer with lineterminator="\n" leaves a field holding "\r" unquoted (Python 3.11), so
# the row of a file named "cr\rhere.png" would read back as two rows.
def test_a_file_name_with_a_cr_or_newline_keeps_its_one_csv_row(tmp_path, models):
    inputs = [
        write_image(tmp_path / "cr\rhere.png", draw_digit()),
        write_image(tmp_path / "newline\nhere.png", draw_digit()),
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
    rows = csv_rows(tmp_path / "out" / "own_predictions.csv")
    assert [row[0] for row in rows[1:]] == [str(path) for path in inputs], rows


## 16-bit and floating-point images


def test_a_16_bit_png_and_a_float_tiff_are_read_as_the_8_bit_picture_is(tmp_path, models):
    from PIL import Image

    pixels = draw_digit()
    write_image(tmp_path / "grey16.png", np.where(pixels > 127, 60000, 3000).astype("uint16"))
    write_image(tmp_path / "float.tif", pixels.astype("float32") / 255)
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    assert Image.open(tmp_path / "float.tif").mode == "F"
    reference = write_image(tmp_path / "grey8.png", pixels)
    result = run(
        "mnist_dense.py",
        "--predict",
        tmp_path / "grey16.png",
        tmp_path / "float.tif",
        reference,
        "--model",
        models["mnist"],
        "--out",
        tmp_path / "out",
    )
    assert "no ink found" not in result.stderr
    assert_succeeded(result)
    rows = csv_rows(tmp_path / "out" / "own_predictions.csv")[1:]
    assert [row[0] for row in rows] == [
        str(tmp_path / name) for name in ["grey16.png", "float.tif", "grey8.png"]
    ]
    # the same digit as the 8-bit picture: the same ten probabilities
    assert rows[0][1:] == rows[2][1:] and rows[1][1:] == rows[2][1:], rows


## CSV rows as spreadsheets and hands write them


CSV_ROWS = {  # the file's text; what it is refused for, or how many rows it holds
    "NA first row": ("NA,NA,NA,NA,NA,NA,NA,NA\n" + ROWS[0] + "\n", ["line 1", "column 1"]),
    "nan first row": (
        "nan," + ROWS[0].split(",", 1)[1] + "\n" + ROWS[1] + "\n",
        ["line 1", "column 1"],
    ),
    "1_000": (ROWS[0] + "\n1,1_000,66,29,0,26.6,0.351,31\n", ["line 2", "column 2", "1_000"]),
    "one quoted row": (",".join(f'"{cell}"' for cell in ROWS[0].split(",")) + "\n", 1),
    "semicolons": ("\n".join(row.replace(",", ";") for row in ROWS) + "\n", 2),
    "tabs": ("\n".join(row.replace(",", "\t") for row in ROWS) + "\n", 2),
}


def test_csv_rows_are_read_or_refused_naming_line_and_column(tmp_path, models):
    for number, (text, _) in enumerate(CSV_ROWS.values()):
        (tmp_path / f"rows{number}.csv").write_text(text)
    runs = [
        ["--predict", tmp_path / f"rows{number}.csv", "--model", models["pima"], "--out",
         tmp_path / f"out{number}"]
        for number in range(len(CSV_ROWS))
    ]  # fmt: skip
    results = run("pima_binary.py", *runs[0], then=runs[1:])
    for number, ((case, (_, expected)), result) in enumerate(zip(CSV_ROWS.items(), results)):
        out = tmp_path / f"out{number}"
        if isinstance(expected, list):  # refused, not taken for a header nor read as a number
            assert_one_line_error(result, *expected)
            assert not (out / "own_predictions.csv").exists(), case
        else:
            assert_succeeded(result)
            rows = csv_rows(out / "own_predictions.csv")[1:]
            assert len(rows) == expected, case
            assert [[float(cell) for cell in row[:8]] for row in rows] == [
                [float(cell) for cell in line.split(",")] for line in ROWS[:expected]
            ], case


## Models that do not fit are refused in one line

MISFITS = [
    ("mnist_dense.py", "mnist_784_to_1", ["takes", "gives", "(1,)"]),
    ("mnist_dense.py", "mnist_784_to_2", ["takes", "gives", "(2,)"]),
    ("mnist_dense.py", "eight_to_ten", ["takes", "(8,)"]),  # ten outputs, but 8 features in
    ("pima_binary.py", "two_inputs", ["takes", "gives"]),
    ("pima_binary.py", "two_outputs", ["takes", "gives"]),
    ("pima_binary.py", "image_input", ["takes", "gives", "28, 28"]),
    ("pima_binary.py", "linear", ["probabilities"]),
    ("pima_binary.py", "mnist", ["takes", "gives", "10"]),  # 784 features, but ten outputs
]


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_a_model_that_does_not_fit_is_refused_in_one_line_naming_it(tmp_path, models, script):
    pixels = tmp_path / "pixels.csv"  # 784 numbers a row: the MNIST model's input, for Pima's
    if script == "mnist_dense.py":
        usual = write_image(tmp_path / "digit.png", draw_digit())
    else:
        usual = tmp_path / "rows.csv"
        usual.write_text("\n".join(ROWS) + "\n")
        rows = np.random.default_rng(0).integers(0, 256, (3, 784))
        pixels.write_text("".join(",".join(map(str, row)) + "\n" for row in rows))
    misfits = [(model, expected) for name, model, expected in MISFITS if name == script]
    runs = [
        ["--predict", pixels if model == "mnist" else usual, "--model", models[model],
         "--out", tmp_path / model]
        for model, _ in misfits
    ]  # fmt: skip
    results = run(script, *runs[0], then=runs[1:])
    for (model, expected), result in zip(misfits, results):
        assert_one_line_error(result, str(models[model]), *expected)
        assert not (tmp_path / model / "own_predictions.csv").exists(), model
