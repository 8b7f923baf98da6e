"""Issue 44, "How sure is that figure?": each held-out accuracy comes with its 95 % interval
(Wilson's score interval), printed and in metrics.json; pima_binary.py --folds K scores K
trainings, each on its own K-th of the rows, every row held out exactly once."""

import re
import statistics

import numpy as np
import pytest

from conftest import assert_one_line_error, assert_succeeded, run, shared_file
from labelled_csv import stratified_folds
from makers import held_out_rows, metrics_in
from tutorial_helpers import wilson_interval

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

Z = 1.96  # a 95 % interval: 1.96 standard deviations either side


def wilson_by_its_definition(share, n):
    """Wilson's interval as its definition gives it: the true shares p for which the measured
    share lies within Z standard deviations of p, (share - p)^2 <= Z^2 p (1 - p) / n. The
    bounds are the two roots of that quadratic in p."""
    a, b, c = 1 + Z * Z / n, -(2 * share + Z * Z / n), share * share
    low, high = sorted(np.roots([a, b, c]).real)
    return low, high


def assert_around(share, interval, n):
    """The interval holds the share, lies within 0 and 1, and is Wilson's for n rows."""
    low, high = interval
    assert 0 <= low <= share <= high <= 1, (share, interval)
    assert low < share or share == 0, (share, interval)  # a share of 1 can only be too high
    assert share < high or share == 1, (share, interval)
    assert (low, high) == pytest.approx(wilson_by_its_definition(share, n), abs=1e-9), n


@pytest.mark.parametrize(
    "share, n",
    [(0.766, 154), (0.7078, 154), (0.9772, 10000), (0.962, 2000), (0.5, 10), (0, 20), (1, 20)],
)
def test_the_interval_holds_the_share_and_is_wilsons_for_n_rows(share, n):
    assert_around(share, wilson_interval(share, n), n)


def test_the_interval_is_wide_on_pimas_154_rows_and_narrow_on_mnists_10000_digits():
    # The figures: 0.766 on 154 held-out rows is 0.69 to 0.83; on 10,000 test digits
    # an accuracy of 0.977 is sure to about 0.3 % either way.
    assert [round(bound, 2) for bound in wilson_interval(0.766, 154)] == [0.69, 0.83]
    low, high = wilson_interval(0.977, 10000)
    assert 0.0025 < (high - low) / 2 < 0.0035, (low, high)
    # Four times the rows, half the width (nearly: Wilson's is not quite symmetric).
    widths = [np.subtract(*wilson_interval(0.75, n)[::-1]) for n in (150, 600, 2400)]
    assert widths[0] / widths[1] == pytest.approx(2, abs=0.03)
    assert widths[1] / widths[2] == pytest.approx(2, abs=0.03)


def printed_accuracy_and_interval(stdout):
    """(accuracy, low, high, n) as the line with "95 % interval" prints them, as text."""
    (line,) = [line for line in stdout.splitlines() if "95 % interval" in line]
    match = re.search(
        r"(?i)accuracy[^:]*: ([\d.]+) \(95 % interval ([\d.]+) to ([\d.]+), on (\d+) "
        r"(test digits|held-out rows)\)",
        line,
    )
    assert match, line
    return match.groups()[:4]


def assert_printed_as_saved(stdout, metrics):
    """The printed accuracy, interval and row count are metrics.json's, rounded as printed."""
    accuracy, low, high, n = printed_accuracy_and_interval(stdout)
    assert int(n) == metrics["n_test"]
    saved = [metrics["test_accuracy"], *metrics["test_accuracy_interval"]]
    for text, value in zip([accuracy, low, high], saved):
        decimals = len(text.split(".")[1])
        assert float(text) == pytest.approx(value, abs=0.5 * 10**-decimals + 1e-9), (text, value)


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_a_quick_run_prints_and_saves_the_interval_around_its_accuracy(quick_run, script):
    stdout, out, _ = quick_run(script)
    metrics = metrics_in(out)
    assert_around(metrics["test_accuracy"], metrics["test_accuracy_interval"], metrics["n_test"])
    assert_printed_as_saved(stdout, metrics)


## pima_binary.py --folds K on the Pima table, with few epochs (3, or 60 with --early-stop)
## to keep the runs short: what is tested is how the folds are dealt, trained and scored.

EPOCHS = 3
EARLY_STOP_EPOCHS = 80  # the single run below stops after epoch 63 on JAX (its lowest: 43)


@pytest.fixture(scope="session")
def folds_runs(made_once):
    """The folder of Pima trainings with and without --folds, run in turn in one process, made
    once: a folder per run, named as in runs below, holding its outputs and stdout.txt."""
    pima = shared_file("pima-indians-diabetes.data.csv")

    def make(folder):
        # The same table with its labels in words: 0 is "no", 1 is "yes" (class 1).
        words = folder / "pima_words.csv"
        lines = pima.read_text().split()
        words.write_text("".join(f"{line[:-1]}{['no', 'yes'][int(line[-1])]}\n" for line in lines))
        early = ["--epochs", EARLY_STOP_EPOCHS, "--early-stop", "--balance", "--data", pima]
        runs = {
            "10 folds": ["--folds", 10, "--epochs", EPOCHS, "--data", pima],
            "10 folds again": ["--folds", 10, "--epochs", EPOCHS, "--data", pima],
            "5 folds": ["--folds", 5, "--epochs", EPOCHS, "--data", pima],
            "single": ["--epochs", EPOCHS, "--data", pima],
            "5 folds in words": ["--folds", 5, "--epochs", EPOCHS, "--data", words],
            "5 folds, early stop, balance": ["--folds", 5, *early],
            "single, early stop, balance": early,
        }
        flags = [[*flags, "--out", folder / name] for name, flags in runs.items()]
        for name, result in zip(runs, run("pima_binary.py", *flags[0], then=flags[1:])):
            (folder / name / "stdout.txt").write_text(assert_succeeded(result).stdout)

    return made_once("folds-runs", make)


def run_of(folds_runs, name):
    """(metrics.json, stdout) of one of the runs of folds_runs."""
    return metrics_in(folds_runs / name), (folds_runs / name / "stdout.txt").read_text()


def pima_labels():
    """The Pima table's labels, 0 or 1, in its rows' order."""
    lines = shared_file("pima-indians-diabetes.data.csv").read_text().split()
    return np.array([int(line.rsplit(",", 1)[1]) for line in lines])


def fold_lines(stdout, k):
    """Each fold's printed line: (number, accuracy, low, high, rows), as numbers."""
    pattern = (
        rf"Fold +(\d+) of {k}: held-out accuracy ([\d.]+) \(95 % interval ([\d.]+) to "
        r"([\d.]+), on (\d+) rows\)"
    )
    return [tuple(map(float, match.groups())) for match in re.finditer(pattern, stdout)]


def test_a_run_on_pima_prints_and_saves_the_interval_around_its_accuracy(folds_runs):
    metrics, stdout = run_of(folds_runs, "single")
    assert metrics["n_test"] == 154
    assert_around(metrics["test_accuracy"], metrics["test_accuracy_interval"], 154)
    assert_printed_as_saved(stdout, metrics)


def test_folds_10_prints_ten_folds_their_mean_and_spread_and_the_same_numbers_twice(folds_runs):
    metrics, stdout = run_of(folds_runs, "10 folds")
    folds = metrics["folds"]
    assert len(folds) == 10
    printed = fold_lines(stdout, 10)
    assert [line[0] for line in printed] == list(range(1, 11))
    for (_, accuracy, low, high, rows), fold in zip(printed, folds):
        assert rows == len(fold["held_out_rows"])
        assert accuracy == pytest.approx(fold["accuracy"], abs=0.00005 + 1e-9)
        assert [low, high] == pytest.approx(fold["interval"], abs=0.0005 + 1e-9)
        assert_around(fold["accuracy"], fold["interval"], rows)
    accuracies = [fold["accuracy"] for fold in folds]
    mean, spread = statistics.mean(accuracies), statistics.stdev(accuracies)
    assert metrics["mean_accuracy"] == pytest.approx(mean, abs=1e-9)
    assert metrics["spread"] == pytest.approx(spread, abs=1e-9)
    assert (
        f"Mean held-out accuracy over 10 folds: {mean:.4f}, spread (standard deviation) "
        f"{spread:.4f}, from {min(accuracies):.4f} to {max(accuracies):.4f}"
    ) in stdout
    assert spread > 0, accuracies  # ten trainings scored on ten different tenths

    # Seeded: a second run gives the same numbers, to the last digit.
    again, stdout_again = run_of(folds_runs, "10 folds again")
    assert again == metrics
    assert fold_lines(stdout_again, 10) == printed


def test_folds_saves_its_metrics_and_folds_png(folds_runs):
    metrics, _ = run_of(folds_runs, "10 folds")
    assert {"mean_accuracy", "spread", "folds", "classes", "seed", "epochs"} <= metrics.keys()
    assert (metrics["seed"], metrics["epochs"], metrics["classes"]) == (7, EPOCHS, ["0", "1"])
    folder = folds_runs / "10 folds"
    assert {path.name for path in folder.iterdir()} == {"metrics.json", "folds.png", "stdout.txt"}
    assert (folder / "folds.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("k", [10, 5])
def test_every_row_is_held_out_by_exactly_one_fold_and_each_class_is_dealt_evenly(folds_runs, k):
    metrics, _ = run_of(folds_runs, f"{k} folds")
    held_out = [fold["held_out_rows"] for fold in metrics["folds"]]
    every = [row for rows in held_out for row in rows]
    assert len(every) == len(set(every)), "a row is held out by two folds"
    assert sorted(every) == list(range(768)), "a row is held out by no fold"
    labels = pima_labels()
    for label, total in [(0, 500), (1, 268)]:
        counts = [int(np.sum(labels[rows] == label)) for rows in held_out]
        assert sum(counts) == total and max(counts) - min(counts) <= 1, (label, counts)


@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_stratified_folds_give_each_row_one_fold_and_each_fold_its_share_of_each_class(k):
    labels = np.random.default_rng(k).permutation([0.0] * 61 + [1.0] * 23)
    folds = stratified_folds(labels, k)
    assert folds.shape == labels.shape and set(folds.tolist()) == set(range(k))
    for label in (0, 1):
        counts = np.bincount(folds[labels == label], minlength=k)
        assert counts.max() - counts.min() <= 1, (label, counts)


@pytest.mark.parametrize(
    "folds, single",
    [("5 folds", "single"), ("5 folds, early stop, balance", "single, early stop, balance")],
)
def test_fold_1_of_5_holds_out_the_rows_a_single_run_holds_out_and_scores_the_same(
    folds_runs, folds, single
):
    fold = run_of(folds_runs, folds)[0]["folds"][0]
    metrics, _ = run_of(folds_runs, single)
    assert sorted(fold["held_out_rows"]) == sorted(held_out_rows(pima_labels()).tolist())
    assert len(fold["held_out_rows"]) == metrics["n_test"] == 154
    # The same network, seed, rows and settings: the same training, the same accuracy.
    assert fold["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert fold["interval"] == pytest.approx(metrics["test_accuracy_interval"], abs=1e-6)


def test_folds_work_with_early_stop_and_balance_as_a_single_run_does(folds_runs):
    metrics, _ = run_of(folds_runs, "5 folds, early stop, balance")
    assert (metrics["early_stop"], metrics["balance"]) == (True, True)
    # The single run with the same flags stopped early and weighed the classes; fold 1, which
    # scores as that run does (the test above), trained so too.
    single, _ = run_of(folds_runs, "single, early stop, balance")
    assert len(single["history"]["loss"]) < EARLY_STOP_EPOCHS, single["history"]["val_loss"]
    assert single["class_weight"] is not None


def test_folds_work_with_labels_in_words_as_with_numbers(folds_runs):
    words, stdout = run_of(folds_runs, "5 folds in words")
    numbers, _ = run_of(folds_runs, "5 folds")
    assert words["classes"] == ["no", "yes"]
    assert words["folds"] == numbers["folds"]  # yes is class 1, as 1 is: the same numbers
    assert words["mean_accuracy"] == numbers["mean_accuracy"]


def test_too_many_folds_or_one_fold_get_one_line_and_write_nothing(tmp_path):
    pima = shared_file("pima-indians-diabetes.data.csv")
    logs = tmp_path / "logs"
    runs = [
        ["--folds", 269, "--data", pima, "--out", tmp_path / "269"],  # 268 rows have onset
        ["--folds", 1, "--data", pima, "--out", tmp_path / "1"],
        ["--folds", 2, "--tensorboard", logs, "--data", pima, "--out", tmp_path / "logged"],
    ]
    too_many, one, tensorboard = run("pima_binary.py", *runs[0], then=runs[1:])
    assert_one_line_error(too_many, "--folds 269", "268 rows of one class", "at most 268 folds")
    assert_one_line_error(one, "--folds", "must be a whole number of 2 or more, got '1'", code=2)
    assert_one_line_error(tensorboard, "--tensorboard", "--folds")
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # not even an empty folder


def test_folds_say_their_sizes_as_they_are(folds_runs):
    """768 rows in 5 folds: 154, 154, 154, 153, 153; in 10: 77 and 76."""
    for k in [5, 10]:
        metrics, stdout = run_of(folds_runs, f"{k} folds")
        sizes = [len(fold["held_out_rows"]) for fold in metrics["folds"]]
        assert f"768 rows in {k} folds of {min(sizes)} to {max(sizes)} rows" in stdout
        assert min(sizes) < max(sizes)


def test_folds_number_their_rows_as_the_file_does_after_drop_missing(tmp_path):
    """Issue 48: after --drop-missing, held_out_rows counted among the rows kept. They are the
    file's data rows, from 0: the rows left out are in no fold."""
    rows = [f"{i},{i % 7},{i % 3},{i % 2}" for i in range(30)]
    rows[2], rows[5] = "2,?,2,0", "5,5,,1"
    table = tmp_path / "gaps.csv"
    table.write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    result = run(
        "pima_binary.py", "--folds", 2, "--epochs", 1, "--drop-missing", "--data", table,
        "--out", tmp_path / "out",
    )  # fmt: skip
    assert_succeeded(result)
    folds = metrics_in(tmp_path / "out")["folds"]
    held_out = sorted(row for fold in folds for row in fold["held_out_rows"])
    assert held_out == [row for row in range(30) if row not in (2, 5)]
