"""Tables as spreadsheets write them and read them (issue 43): own_predictions.csv opens as text,
never as a formula, and reads back; a semicolon file's decimal commas and thousands dots; a
header of numbers; UTF-16; a line break in a cell; the columns to drop when --drop-missing
leaves too few rows; the rows that hold a stray label. A mistake gets one line naming the file
and the cell, exit 1, and no --out."""

import csv
import json
import shutil

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_succeeded, run
from makers import csv_rows, draw_digit, write_image

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

ROWS = ["6,148,72,35,0,33.6,0.627,50", "1,85,66,29,0,26.6,0.351,31"]  # 8 Pima features
NUMBERS = [[float(cell) for cell in row.split(",")] for row in ROWS]
HEADER = "a,b,c,d,e,f,g,h"
# A spreadsheet runs a cell that begins with one of these as a formula (OWASP, CSV injection).
FORMULA_MARKS = ("=", "+", "-", "@", "\t", "\r")


def is_number(cell):
    try:
        float(cell)
        return True
    except ValueError:
        return False


def assert_no_formula(rows):
    """No text cell of the rows begins as a formula does; numbers (-2) may."""
    for row in rows:
        for cell in row:
            assert is_number(cell) or not cell.startswith(FORMULA_MARKS), (cell, row)


def predict_each(tmp_path, model, texts):
    """pima_binary.py --predict on each text (str, or bytes as they are), written to NAME.csv,
    in turn in one process: {name: (result, its --out folder)}."""
    runs = []
    for name, text in texts.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        runs.append(["--predict", path, "--model", model, "--out", tmp_path / f"out-{name}"])
    results = run("pima_binary.py", *runs[0], then=runs[1:])
    return {name: (result, tmp_path / f"out-{name}") for name, result in zip(texts, results)}


def predicted_features(out, n_features=8):
    """The features own_predictions.csv holds, as numbers: what the model read."""
    return [
        [float(cell) for cell in row[:n_features]]
        for row in csv_rows(out / "own_predictions.csv")[1:]
    ]


## 1. No formulas in own_predictions.csv, and it reads back


def model_with_labels(tmp_path, models, classes):
    """The untrained Pima model in a folder of its own, beside a metrics.json naming the labels
    of its classes 0 and 1, as a training run leaves it."""
    folder = tmp_path / f"model {classes[0]}"
    folder.mkdir()
    (folder / "metrics.json").write_text(json.dumps({"classes": classes}))
    return shutil.copy(models["pima"], folder / "model.keras")


def labelled_rows(path, header, classes, rows=6):
    """A CSV of new rows: -2, 1e3, 0.5, five Pima features, then a label of classes."""
    lines = [header] + [
        ["-2", "1e3", "0.5", *ROWS[n % 2].split(",")[3:], classes[n % 2]] for n in range(rows)
    ]
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows(lines)
    return path


def test_pima_own_predictions_csv_holds_no_formula_and_reads_back_with_predict(tmp_path, models):
    classes = ["-sick", "=cmd|' /C calc'!A0"]
    model = model_with_labels(tmp_path, models, classes)
    header = ["=1+1", "+age", "-x", "@SUM(1)", "e", "f", "g", "h", "kind"]
    labelled_rows(tmp_path / "new.csv", header, classes)
    numbers = model_with_labels(tmp_path, models, ["-1", "1"])  # labels -1 and 1 are numbers
    labelled_rows(tmp_path / "numbers.csv", [*HEADER.split(","), "kind"], ["-1", "1"])
    result, with_numbers = run(
        "pima_binary.py",
        *["--predict", tmp_path / "new.csv", "--model", model, "--out", "out"],
        then=[
            ["--predict", tmp_path / "numbers.csv", "--model", numbers, "--out", "numbers"],
        ],
        cwd=tmp_path,
    )
    assert_succeeded(result)
    assert_succeeded(with_numbers)
    written = csv_rows(tmp_path / "numbers" / "own_predictions.csv")
    assert [row[8] for row in written[1:]] == ["-1", "1"] * 3
    assert {row[10] for row in written[1:]} <= {"-1", "1"}
    written = csv_rows(tmp_path / "out" / "own_predictions.csv")
    assert written[0] == ["'=1+1", "'+age", "'-x", "'@SUM(1)", "e", "f", "g", "h", "kind",
                          "probability", "predicted"]  # fmt: skip
    assert [row[:3] for row in written[1:]] == [["-2", "1000", "0.5"]] * 6  # numbers as numbers
    assert [row[8] for row in written[1:]] == ["'-sick", "'=cmd|' /C calc'!A0"] * 3
    assert {row[10] for row in written[1:]} <= {"'-sick", "'=cmd|' /C calc'!A0"}
    assert_no_formula(written)

    # What a spreadsheet's user does next: keep the features and the label, and predict again.
    with open(tmp_path / "again.csv", "w", newline="") as file:
        csv.writer(file).writerows(row[:9] for row in written)
    again = run(
        "pima_binary.py", "--predict", tmp_path / "again.csv", "--model", model, "--out", "again",
        cwd=tmp_path,
    )  # fmt: skip
    assert_succeeded(again)
    # The ' is read as the mark it is: the same labels, the same rows, the same file.
    assert (tmp_path / "again" / "own_predictions.csv").read_bytes() == (
        tmp_path / "out" / "own_predictions.csv"
    ).read_bytes()
    assert again.stdout.splitlines()[:8] == result.stdout.splitlines()[:8]


def test_mnist_reads_names_after_dashes_and_writes_them_as_text(tmp_path, models):
    """--predict -- -2+3.png reads the file -2+3.png; own_predictions.csv shows each name that
    a spreadsheet would run as text, with a leading '."""
    names = ["-2+3.png", "=1+1.png", "@SUM(1).png", "+5.png", "\tTAB.png", "\rCR.png", "plain.png"]
    for name in names:
        write_image(tmp_path / name, draw_digit())
    result = run(
        "mnist_dense.py", "--model", models["mnist"], "--out", "out", "--predict", "--", *names,
        cwd=tmp_path,
    )  # fmt: skip
    assert_succeeded(result)
    shown = [name for name in names if name.isprintable()]  # the screen shows them as they are
    assert all(name in result.stdout for name in shown)
    rows = csv_rows(tmp_path / "out" / "own_predictions.csv")
    assert [row[0] for row in rows[1:]] == ["'-2+3.png", "'=1+1.png", "'@SUM(1).png", "'+5.png",
                                            "'\tTAB.png", "'\rCR.png", "plain.png"]  # fmt: skip
    assert_no_formula(rows)


## 2. Semicolons with decimal commas, and dots that group thousands


SEMICOLON_FILES = {  # the file's text; the features it holds, or what its one line says
    "thousands": (
        "a;b;c;d;e;f;g;h\n6;13.200;72;35;0;33,6;0,627;50\n1;850;66;29;1.234,5;26,6;0,351;31\n",
        [[6, 13200, 72, 35, 0, 33.6, 0.627, 50], [1, 850, 66, 29, 1234.5, 26.6, 0.351, 31]],
    ),
    "dots only": ("\n".join(row.replace(",", ";") for row in ROWS) + "\n", NUMBERS),
    "a dot among commas": (
        "6;13.2;72;35;0;33,6;0,627;50\n1;850;66;29;0;26,6;0,351;31\n",
        ["a dot among commas.csv line 1, column 2", "'13.2'", "ambiguous", "13,2"],
    ),
    "0.627 among commas": (
        "6;148;72;35;0;33,6;0.627;50\n1;850;66;29;0;26,6;0,351;31\n",
        ["0.627 among commas.csv line 1, column 7", "'0.627'", "ambiguous", "0,627"],
    ),
    "no number": (
        "6;148;72;35;0;33,6;0,627;50\n1;850;66;29;0;26,6;0,3,51;31\n",
        ["no number.csv line 2, column 7", "'0,3,51' is not a number", "semicolons"],
    ),
}


def test_a_semicolon_file_reads_decimal_commas_and_thousands_or_names_the_ambiguous_cell(
    tmp_path, models
):
    texts = {name: text for name, (text, _) in SEMICOLON_FILES.items()}
    for name, (result, out) in predict_each(tmp_path, models["pima"], texts).items():
        expected = SEMICOLON_FILES[name][1]
        if isinstance(expected[0], str):
            line = assert_one_line_error(result, *expected)
            assert "separated by commas" not in line and "'0.3" not in line, line  # as written
            assert not out.exists(), name
        else:
            assert_succeeded(result)
            assert predicted_features(out) == expected, name


## 3. A header of numbers


def test_a_first_row_naming_columns_of_numbers_is_the_header_and_said_if_it_holds_numbers(
    tmp_path, models
):
    texts = {
        "years": "age,2019,2020,2021,e,f,g,h\n" + "\n".join(ROWS) + "\n",
        "typo": "6,1x8,72,35,0,33.6,0.627,50\n" + "\n".join(ROWS) + "\n",
        "names": HEADER + "\n" + "\n".join(ROWS) + "\n",
        "pandas": HEADER[1:] + "\n" + "\n".join(ROWS) + "\n",  # its index column has no name
    }
    results = predict_each(tmp_path, models["pima"], texts)
    said = {}
    for name, (result, out) in results.items():
        assert_succeeded(result)
        rows = csv_rows(out / "own_predictions.csv")
        assert predicted_features(out) == NUMBERS, name  # the first row is none of them
        said[name] = [line for line in result.stdout.splitlines() if "taken as the header" in line]
        assert rows[0][:8] == texts[name].splitlines()[0].split(","), name
    # A typo in a first row of data is not lost silently: one line names the row's cells.
    assert said["years"] == [
        f"{tmp_path / 'years.csv'} line 1 is taken as the header (age, 2019, 2020, 2021, e, f, "
        "g, h); if it is a row of data, make its cell 'age' a number"
    ]
    assert len(said["typo"]) == 1 and "(6, 1x8, 72, 35, 0, 33.6, 0.627, 50)" in said["typo"][0]
    assert "'1x8'" in said["typo"][0]
    assert said["names"] == said["pandas"] == []


## 4. UTF-16, as spreadsheets save "Unicode text"


def test_utf16_files_are_read_with_or_without_a_byte_order_mark(tmp_path, models):
    text = HEADER.replace(",", "\t") + "\n" + "\n".join(row.replace(",", "\t") for row in ROWS)
    texts = {
        "utf-16 with a mark": text.encode("utf-16"),  # little-endian, as Windows writes it
        "utf-16-be with a mark": ("\ufeff" + text).encode("utf-16-be"),
        "utf-16-le without": text.encode("utf-16-le"),
        "utf-16-be without": text.encode("utf-16-be"),
        "cut utf-16": text.encode("utf-16") + b"6",  # an odd number of bytes
        # A European spreadsheet's "Unicode text": tabs, and decimal commas, read in a
        # semicolon file only (in a tab file, 1,234 may be a thousand and more).
        "decimal commas": text.replace("33.6", "33,6").replace("26.6", "26,6").encode("utf-16"),
    }
    refused = {
        "cut utf-16": ["cut utf-16.csv is not UTF-16 text", "as UTF-8"],
        "decimal commas": [
            "decimal commas.csv line 2, column 6: '33,6' is not a number",
            "decimal commas are read only in a file separated by semicolons",
            "or write 33.6",
        ],
    }
    results = predict_each(tmp_path, models["pima"], texts)
    for name, (result, out) in results.items():
        if name in refused:
            assert_one_line_error(result, *refused[name])
            assert not out.exists()
        else:
            assert_succeeded(result)
            assert predicted_features(out) == NUMBERS, name
            assert csv_rows(out / "own_predictions.csv")[0][:8] == HEADER.split(","), name


## 5. A line break in a cell; lines counted as the file has them


def test_a_cell_holding_a_line_break_is_named_by_its_line_and_lines_count_right(tmp_path, models):
    labelled = [row + f",{n % 2}\n" for n, row in enumerate(ROWS * 3)]
    top = HEADER + ",label\n\n"  # a header on line 1, then a blank line
    texts = {
        "break": top + "".join(labelled[:3]) + '6,1,2,3,4,5,6,7,"sick\nyes"\n' + labelled[3],
        "crlf": (top + "".join(labelled[:4]) + '"6,1",1,2,3,4,5,6,7,0\n').replace("\n", "\r\n"),
    }
    results = predict_each(tmp_path, models["pima"], texts)
    expected = {
        "break": ["break.csv line 6", "a cell holds a line break", r"'sick\nyes'"],
        "crlf": ["crlf.csv line 7, column 1", "'6,1' is not a number"],
    }
    for name, (result, out) in results.items():
        assert_one_line_error(result, *expected[name])
        assert not out.exists(), name


## --drop-missing: which columns hold the gaps (its count of rows: test_own_table.py)


def horse_colic_like(path, rows=300, seed=0):
    """8 features and a 0/1 label, where all but 5 rows have a gap: ? in column 3 (250 rows)
    and in column 6 (200 rows), and in column 1 (2 rows)."""
    rng = np.random.default_rng(seed)
    table = rng.integers(1, 100, size=(rows, 9)).astype(str)
    table[:, 8] = np.arange(rows) % 2
    table[6:256, 2] = "?"
    table[100:, 5] = "?"
    table[[0, 290], 0] = "?"
    path.write_text(HEADER + ",outcome\n" + "".join(",".join(row) + "\n" for row in table))
    return path


def test_drop_missing_leaving_too_few_rows_names_the_columns_with_the_most_gaps(tmp_path):
    path = horse_colic_like(tmp_path / "horse.csv")
    result = run("pima_binary.py", "--quick", "--data", path, "--drop-missing",
                 "--out", tmp_path / "out")  # fmt: skip
    assert_one_line_error(
        result,
        "horse.csv: --drop-missing leaves 5 of 300 rows",
        "at least 10",
        "most gaps are in columns 3 (c): 250 rows, 6 (f): 200 rows, 1 (a): 2 rows",
    )
    assert not (tmp_path / "out").exists()


## A label that stands once


GOOD_ROWS = [f"{i},{i % 7},{i % 2}\n" for i in range(20)]


def test_a_stray_label_is_pointed_at_where_it_stands(tmp_path):
    texts = {
        "stray": "1,2,R\n" + "".join(GOOD_ROWS),
        "two strays": "1,2,R\n" + "".join(GOOD_ROWS[:6]) + "3,3,X\n" + "".join(GOOD_ROWS[6:]),
    }
    for name, text in texts.items():
        (tmp_path / f"{name}.csv").write_text(text)
    runs = [["--quick", "--data", tmp_path / f"{name}.csv", "--out", tmp_path / name]
            for name in texts]  # fmt: skip
    results = run("pima_binary.py", *runs[0], then=runs[1:])
    expected = {
        "stray": "3 different values (R, 0, 1; the rarest: R at line 1)",
        "two strays": "4 different values (R, 0, 1, X; the rarest: R at line 1, X at line 8)",
    }
    for name, result in zip(texts, results):
        assert_one_line_error(result, f"{name}.csv: the label (last column) takes", expected[name])
        assert not (tmp_path / name).exists()
