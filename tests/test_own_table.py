"""pima_binary.py on a two-class table of one's own: any two labels, in the file's own words,
missing values, text columns, and a rare class (README.md, "Your own table")."""

import csv
import json
import re
import shlex

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_succeeded, load_keras, run
from labelled_csv import stratified_folds
from makers import metrics_in

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)


def write_table(path, names=("0", "1"), rows=60, share=0.5, header="a,b,c,d,e,label", seed=0):
    """5 numeric features, then each row's label written as names[0] or names[1]; class 1 is
    a random round(share * rows) of the rows, told apart by a shift of the first feature.
    Returns the path and the class of each row."""
    rng = np.random.default_rng(seed)
    classes = (rng.permutation(rows) < round(share * rows)).astype(int)
    features = rng.normal(size=(rows, 5)) * [1, 10, 100, 0.1, 5]
    features[:, 0] += 3 * classes
    lines = [header] if header else []
    lines += [
        ",".join(f"{value:.4f}" for value in row) + f",{names[label]}"
        for row, label in zip(features, classes)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, classes


def held_out_positives(metrics):
    (_, _), (fn, tp) = metrics["confusion_matrix"]
    return fn + tp


def a_fifth(rows):
    """How many of a class's rows are held out: every fifth, from its first."""
    return -(-rows // 5)


# (the two labels as the file writes them, class 0's then class 1's; the labels as the run
# names them; the rule it states)
LABEL_KINDS = {
    "0/1": (("0", "1"), ["0", "1"], "as written"),
    "0.0/1": (("0.0", "1"), ["0", "1"], "as written"),
    "1/2": (("1", "2"), ["1", "2"], "the larger number is class 1"),
    "2/4": (("2", "4"), ["2", "4"], "the larger number is class 1"),
    "-1/1": (("-1", "1"), ["-1", "1"], "the larger number is class 1"),
    "quoted '-1'/'1'": (("'-1'", "'1'"), ["-1", "1"], "the larger number is class 1"),
    "R/M, M rarer": (("R", "M"), ["R", "M"], "the rarer label is class 1"),
    ">50K/<=50K, a shell's redirects": (
        (">50K", "<=50K"),
        [">50K", "<=50K"],
        "the rarer label is class 1",
    ),
    "no/yes, yes commoner": (
        ("no", "yes"),
        ["no", "yes"],
        "a label saying yes, true or positive is class 1",
    ),
    '"tested_positive"': (
        ('"tested_negative"', '"tested_positive"'),
        ["tested_negative", "tested_positive"],
        "a label saying yes, true or positive is class 1",
    ),
}


def test_any_two_labels_train_mapped_to_0_and_1_by_a_rule_stated_in_one_line(tmp_path):
    """Ten tables in one process, as a notebook runs the script again and again: each run's
    stderr stays empty (TensorFlow warned of retracing from the fifth run until 4 Dec 2026)."""
    tables = {}
    for number, (kind, (written, _, _)) in enumerate(LABEL_KINDS.items()):
        share = 0.7 if "commoner" in kind else 0.3  # class 1 is the commoner only where yes says so
        tables[kind] = write_table(tmp_path / f"own{number}.csv", written, share=share)
    runs = [
        ["--quick", "--data", path, "--out", path.with_suffix("")] for path, _ in tables.values()
    ]
    results = run("pima_binary.py", *runs[0], then=runs[1:])
    for (kind, (path, classes)), result in zip(tables.items(), results):
        _, named, rule = LABEL_KINDS[kind]
        assert_succeeded(result)
        metrics = json.loads((path.with_suffix("") / "metrics.json").read_text())
        lines = [line for line in result.stdout.splitlines() if line.startswith("Label ")]
        assert lines == [
            f"Label {named[1]} is class 1, {named[0]} is class 0: {rule} "
            f"(--positive {shlex.quote(named[0])} swaps them)"  # pastes back into a shell
        ], kind
        assert metrics["classes"] == named, kind
        # Both classes mapped: the rows labelled names[1] are the positives, in the file and
        # held out.
        assert f"60 rows, 5 features, {classes.sum()} of them class 1" in result.stdout, kind
        assert held_out_positives(metrics) == a_fifth(classes.sum()), kind


def test_positive_chooses_class_1_and_a_label_not_in_the_file_is_one_line(tmp_path):
    csv_path, classes = write_table(tmp_path / "own.csv", ("R", "M"), share=0.3)
    trained, refused = run(
        "pima_binary.py",
        *["--quick", "--data", csv_path, "--out", tmp_path / "out", "--positive", "R"],
        then=[
            ["--quick", "--data", csv_path, "--positive", "B", "--out", tmp_path / "x"],
        ],
    )
    result, metrics = assert_succeeded(trained), metrics_in(tmp_path / "out")
    assert "Label R is class 1, M is class 0: as --positive chose" in result.stdout
    assert metrics["classes"] == ["M", "R"]
    assert f"{60 - classes.sum()} of them class 1" in result.stdout
    assert held_out_positives(metrics) == a_fifth(60 - classes.sum())

    first, other = ("R", "M")[classes[0]], ("M", "R")[classes[0]]  # in the order of the file
    assert_one_line_error(
        refused, "own.csv: --positive B is not one of its labels", f"{first} and {other}"
    )
    assert not (tmp_path / "x").exists()


def printed_rows(stdout):
    """--predict's table on the screen: (probability, predicted, label, marked wrong) a row."""
    lines = stdout.splitlines()
    start = lines.index("   row  probability  predicted  label") + 1
    rows = []
    for line in lines[start:]:
        match = re.fullmatch(r" +\d+ +(\d\.\d{3}) +(\S+) +(\S+)(  <- wrong)?", line)
        if not match:
            break
        rows.append((float(match[1]), match[2], match[3], bool(match[4])))
    return rows


def test_predict_reads_and_prints_labels_in_the_files_own_words(tmp_path):
    out = tmp_path / "out"
    own, _ = write_table(tmp_path / "own.csv", ("R", "M"), share=0.3)
    new_rows, classes = write_table(
        tmp_path / "new.csv", ("R", "M"), rows=20, share=0.5, seed=1, header="a,b,c,d,e,kind"
    )
    # A label the model never learnt, in a copy: one line naming the model's own.
    unknown = tmp_path / "unknown.csv"
    unknown.write_text(new_rows.read_text().replace(",M\n", ",B\n", 1))
    trained, result, refused = run(
        "pima_binary.py",
        *["--quick", "--data", own, "--out", out],
        then=[
            ["--predict", new_rows, "--out", out],
            ["--predict", unknown, "--out", tmp_path / "out2", "--model", out / "model.keras"],
        ],
    )
    assert_succeeded(trained)
    assert_succeeded(result)
    assert f"Labels as {out / 'metrics.json'} names them" in result.stdout
    features = np.loadtxt(new_rows, delimiter=",", skiprows=1, usecols=range(5))
    model = load_keras().models.load_model(out / "model.keras")
    expected = model.predict(features, verbose=0)[:, 0]
    words = np.array(["R", "M"])
    shown = printed_rows(result.stdout)
    np.testing.assert_allclose([row[0] for row in shown], expected, atol=0.0005 + 1e-6)
    assert [row[1] for row in shown] == words[(expected > 0.5).astype(int)].tolist()
    assert [row[2] for row in shown] == words[classes].tolist()
    assert [row[3] for row in shown] == ((expected > 0.5) != classes).tolist()
    right = int(((expected > 0.5) == classes).sum())
    assert f"{right} of 20 rows predicted right" in result.stdout

    with open(out / "own_predictions.csv", newline="") as file:
        table = list(csv.DictReader(file))
    assert [row["kind"] for row in table] == words[classes].tolist()
    assert [row["predicted"] for row in table] == words[(expected > 0.5).astype(int)].tolist()

    assert_one_line_error(refused, "unknown.csv line", "label (last column) is B", "are R and M")
    assert not (tmp_path / "out2").exists()


def with_missing_cells(path):
    """The table with a ?, an NA and a ? in one row, an empty cell and a label ? in four of its
    rows: five gaps in four rows."""
    lines = path.read_text().splitlines()
    gaps = [(4, 1, "?"), (9, 2, "?"), (9, 3, "NA"), (10, 3, ""), (30, 5, "?")]
    for number, column, mark in gaps:
        cells = lines[number - 1].split(",")
        cells[column] = mark
        lines[number - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_values_are_named_in_one_line_and_dropped_with_drop_missing(tmp_path):
    csv_path = with_missing_cells(write_table(tmp_path / "own.csv", ("no", "yes"))[0])
    refused, result = run(
        "pima_binary.py",
        *["--quick", "--data", csv_path, "--out", tmp_path / "x"],
        then=[
            ["--quick", "--data", csv_path, "--out", tmp_path / "out", "--drop-missing"],
        ],
    )
    assert_one_line_error(
        refused,
        "own.csv: 4 of 60 rows hold a missing value",
        "in columns 2 (b), 3 (c), 4 (d), 6 (label)",
        "the first at line 4, column 2",
        "--drop-missing",
    )
    assert not (tmp_path / "x").exists()

    # Rows counted, not gaps: the row with two gaps is one row left out.
    assert "--drop-missing: left out 4 of 60 rows" in assert_succeeded(result).stdout
    assert "56 rows remain" in result.stdout
    assert f"Loaded {csv_path}: 56 rows, 5 features" in result.stdout


@pytest.mark.parametrize("header", ["a,b,checking,d,e,label", None], ids=["header", "no header"])
def test_a_text_feature_column_is_named_with_some_values_and_how_to_encode_it(tmp_path, header):
    path, _ = write_table(tmp_path / "own.csv", ("good", "bad"), header=header)
    lines = path.read_text().splitlines()
    body = lines[1:] if header else lines
    for number, line in enumerate(body):
        cells = line.split(",")
        cells[2] = f"A1{number % 4 + 1}"
        body[number] = ",".join(cells)
    path.write_text("\n".join(lines[:1] * bool(header) + body) + "\n")
    result = run("pima_binary.py", "--quick", "--data", path, "--out", tmp_path / "x")
    name = "column 3 (checking)" if header else "column 3"
    assert_one_line_error(
        result, f"{name} holds text", "'A11', 'A12', 'A13', ...", "one 0/1 column per category"
    )
    assert not (tmp_path / "x").exists()


def imbalance_lines(stdout):
    return [
        line
        for line in stdout.splitlines()
        if line.startswith(("Imbalanced:", "The network does no better"))
    ]


def test_a_rare_class_is_said_beside_the_accuracy_with_its_precision_and_recall(tmp_path):
    csv_path, _ = write_table(tmp_path / "own.csv", ("no", "yes"), rows=150, share=0.08)
    runs = {"rare class 1": [], "rare class 0": ["--positive", "no"]}
    flags = [
        ["--quick", "--data", csv_path, "--out", tmp_path / name, *runs[name]] for name in runs
    ]
    results = run("pima_binary.py", *flags[0], then=flags[1:])
    for name, result in zip(runs, results):
        assert_rare_class_said(assert_succeeded(result), metrics_in(tmp_path / name), runs[name])


def assert_rare_class_said(result, metrics, positive):
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]
    rare, share = (0, "8.0") if positive else (1, "8.0")
    found, flagged, total = (tp, tp + fp, tp + fn) if rare else (tn, tn + fn, tn + fp)
    lines = imbalance_lines(result.stdout)
    assert lines[0] == (
        f"Imbalanced: class {rare} (label yes) is only {share}% of the rows, so accuracy says "
        f"little; for that class, held out: precision {found / max(flagged, 1):.3f} ({found} "
        f"of {flagged} flagged are right), recall {found / max(total, 1):.3f} ({found} of "
        f"{total} found); --balance weighs it up"
    )
    # After 2 epochs, whether the network beats always answering the commoner class:
    common = max(tn + fp, fn + tp)
    no_better = f"The network does no better than always answering {int(fn + tp > tn + fp)}"
    right = f"{tn + tp} of {tn + fp + fn + tp} rows right"
    assert (no_better in result.stdout) == (tn + tp <= common), result.stdout
    assert (right in result.stdout) == (tn + tp <= common), result.stdout
    assert len(lines) == 1 + (tn + tp <= common)


def test_balance_weighs_classes_by_their_share_and_raises_the_rare_class_probability(tmp_path):
    csv_path, classes = write_table(tmp_path / "own.csv", ("no", "yes"), rows=150, share=0.1)
    flags = ["--quick", "--epochs", 10, "--data", csv_path]
    plain, balanced = run(
        "pima_binary.py",
        *[*flags, "--out", tmp_path / "plain"],
        then=[
            [*flags, "--out", tmp_path / "balanced", "--balance"],
        ],
    )
    assert_succeeded(plain)
    assert_succeeded(balanced)
    plain_metrics, metrics = metrics_in(tmp_path / "plain"), metrics_in(tmp_path / "balanced")
    assert plain_metrics["class_weight"] is None
    # Weights by the shares of the training rows: the rows shuffled by the seed (7), then each
    # fifth of each class held out.
    shuffled = classes[np.random.default_rng(7).permutation(len(classes))]
    trained = shuffled[stratified_folds(shuffled, 5) != 0]
    weights = {c: 0.5 * len(trained) / np.sum(trained == c) for c in (0, 1)}
    assert metrics["class_weight"] == pytest.approx({"0": weights[0], "1": weights[1]})
    assert weights[1] > 4  # a tenth of the rows: each weighs about five times as much
    assert "--balance weighs it up" in plain.stdout and "weighs it up" not in balanced.stdout
    # Weighted up, the rare class's rows pull every probability of yes up, the same seed else.
    features = np.loadtxt(csv_path, delimiter=",", skiprows=1, usecols=range(5))
    keras = load_keras()
    mean = {
        name: keras.models.load_model(tmp_path / name / "model.keras")
        .predict(features, verbose=0)[:, 0]
        .mean()
        for name in ["plain", "balanced"]
    }
    assert mean["balanced"] > mean["plain"] + 0.1, mean


def test_new_rows_whose_header_lists_the_training_columns_in_another_order_are_read_by_name(
    tmp_path,
):
    """Issue 48: such a file was read by position, each feature in another's place, without a
    word. The same rows, written in the training order and in reverse, give the same numbers."""
    own, _ = write_table(tmp_path / "own.csv", ("R", "M"), share=0.3)
    new, _ = write_table(tmp_path / "new.csv", ("R", "M"), rows=12, seed=1)
    with open(new, newline="") as file:
        table = [row[:5] for row in csv.reader(file)]  # the header a,b,c,d,e, then the features
    (tmp_path / "in_order.csv").write_text("".join(",".join(row) + "\n" for row in table))
    (tmp_path / "reversed.csv").write_text("".join(",".join(row[::-1]) + "\n" for row in table))
    trained, in_order, reversed_ = run(
        "pima_binary.py",
        *["--quick", "--data", own, "--out", tmp_path / "out"],
        then=[
            ["--predict", tmp_path / "in_order.csv", "--out", tmp_path / "out"],
            ["--predict", tmp_path / "reversed.csv", "--out", tmp_path / "out"],
        ],
    )
    for result in (trained, in_order, reversed_):
        assert_succeeded(result)
    said = "reversed.csv: its columns, read by the names of the training file's: a, b, c, d, e"
    assert said in reversed_.stdout and "read by the names" not in in_order.stdout
    probabilities = [
        re.findall(r"^ +\d+ +([\d.]+)", run.stdout, re.M) for run in (in_order, reversed_)
    ]
    assert len(probabilities[0]) == 12 and probabilities[0] == probabilities[1]
