"""mnist_dense.py end to end, as a user runs it: training, where it goes wrong, --predict."""

import csv
import re
import shutil

import matplotlib.image
import numpy as np
import pytest

import tutorial_helpers as helpers
from own_digits import open_image, prepare_digit
from conftest import (
    LICENSED_DIGITS,
    OWN_DIGITS,
    ROOT,
    assert_one_line_error,
    assert_succeeded,
    own_digit_files,
    run_in_turn,
    run_ok,
    run_script,
    shared_file,
)
from makers import draw_digit, metrics_in, write_image, write_own_npz

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

PICTURES = ["samples.png", "history.png", "predictions.png", "mistakes.png", "confusion.png"]


def test_quick_run_writes_pictures_and_a_model_that_predicts_as_the_run_did(quick_run):
    stdout, out, npz_path = quick_run("mnist_dense.py")
    for name in PICTURES + (["network.png"] if shutil.which("dot") else []):
        assert matplotlib.image.imread(out / name).shape[2] in (3, 4), name
    metrics = metrics_in(out)
    assert (metrics["network"], metrics["n_train"], metrics["n_test"]) == ("first", 300, 60)
    assert metrics["epochs"] == 1 and metrics["batch_size"] == 128
    assert metrics["n_validation"] == 15  # a random 5% of the 300 training digits
    assert "(300, 784) float32" in stdout  # the shapes after reshaping
    confusion = np.array(metrics["confusion_matrix"])
    assert confusion.shape == (10, 10) and confusion.sum() == 60
    assert abs(confusion.trace() / 60 - metrics["test_accuracy"]) < 1e-6
    assert "Accuracy per digit: 0: " in stdout

    rows = re.findall(r"^\s+(\d)\s+(\d)\s+([\d.]+)%", stdout, re.M)
    assert len(rows) == 16, stdout
    with np.load(npz_path) as npz:
        x_test, y_test = npz["x_test"], npz["y_test"]
    model = helpers.start_keras().models.load_model(out / "model.keras")
    probabilities = model.predict(x_test.reshape(-1, 784) / 255, verbose=0)
    assert [int(r[0]) for r in rows] == probabilities.argmax(axis=1)[:16].tolist()
    assert [int(r[1]) for r in rows] == y_test[:16].tolist()
    np.testing.assert_allclose(
        [float(r[2]) for r in rows], probabilities.max(axis=1)[:16] * 100, atol=0.051
    )
    np.testing.assert_array_equal(  # rows: the true digit; columns: the network's answer
        confusion,
        np.histogram2d(y_test, probabilities.argmax(axis=1), bins=10, range=[[0, 10]] * 2)[0],
    )
    # The README's promise: the accuracy beside what guessing would score, here the share of
    # the test digits that the commonest training digit makes up.
    with np.load(npz_path) as npz:
        commonest = np.bincount(npz["y_train"]).argmax()
    baseline = float(np.mean(y_test == commonest))
    assert metrics["baseline_accuracy"] == pytest.approx(baseline)
    assert f"Always answering the commonest training digit would get {baseline:.4f}" in stdout


def test_images_already_scaled_to_0_1_are_not_divided_again(tmp_path, quick_run):
    _, grey_out, _ = quick_run("mnist_dense.py")  # the same digits, stored as 0 to 255
    result = run_ok(
        "mnist_dense.py",
        "--quick",
        "--data",
        write_own_npz(tmp_path / "unit.npz", scale="unit"),
        "--out",
        tmp_path / "unit",
    )
    assert "its pixels go from 0 to 1; taken times 255" in result.stdout
    grey, unit = metrics_in(grey_out), metrics_in(tmp_path / "unit")
    assert unit["test_loss"] == grey["test_loss"]  # the same pixels after preparing
    assert unit["test_accuracy"] == grey["test_accuracy"]


def share_read_right(model, images, labels):
    shape = model.input_shape[1:]
    predicted = model.predict(np.array(images).reshape((-1, *shape)), verbose=0).argmax(axis=1)
    return float(np.mean(predicted == np.array(labels)))


def trained_and_reading(data, tmp_path):
    """Train the default network on data, then --predict real handwritten digits with it, in
    turn in one process: metrics.json, and for the own and the licensed digits the share read
    right (from its CSV) and the files."""
    folders = {"own": own_digit_files(OWN_DIGITS), "licensed": own_digit_files(LICENSED_DIGITS)}
    model = tmp_path / "model.keras"
    results = run_in_turn(
        "mnist_dense.py",
        ["--data", data, "--out", tmp_path],
        *[
            ["--predict", *files, "--model", model, "--out", tmp_path / name]
            for name, files in folders.items()
        ],
    )
    for result in results:
        assert_succeeded(result)
    read = {}
    for (name, files), result in zip(folders.items(), results[1:]):
        with open(tmp_path / name / "own_predictions.csv", newline="") as file:
            table = list(csv.DictReader(file))
        assert [row["file"] for row in table] == [str(path) for path in files]
        assert len(re.findall(r"^\s+\d\s+[\d.]+%\s+\d", result.stdout, re.M)) == len(files)
        assert matplotlib.image.imread(tmp_path / name / "own_predictions.png").shape[2] in (3, 4)
        right = [int(row["digit"]) == int(path.name[0]) for row, path in zip(table, files)]
        read[name] = float(np.mean(right)), files
    return metrics_in(tmp_path), read


def naive_share(model_folder, files):
    """The path that fails: each image squeezed to 28x28 grey levels and divided by 255."""
    from PIL import Image

    model = helpers.start_keras().models.load_model(model_folder / "model.keras")
    images = [
        np.asarray(Image.open(path).convert("L").resize((28, 28)), "float32") / 255
        for path in files
    ]
    return share_read_right(model, images, [int(path.name[0]) for path in files])


def test_default_network_on_real_digits_reaches_96_percent_and_reads_handwriting(tmp_path):
    metrics, read = trained_and_reading(shared_file("mnist-real-10k.npz"), tmp_path)
    assert (metrics["network"], metrics["epochs"], metrics["n_test"]) == ("first", 5, 2000)
    # Seed 7 measured 0.968 after its 5 epochs; the same network gets 0.9485 after 2 and 0.9365
    # after 1: 0.96 fails a training that stalls after its second epoch.
    assert metrics["test_accuracy"] >= 0.96, metrics

    # Photos, scans and drawings of digits, read by this model trained on 7,600 digits.
    share, files = read["own"]
    assert share >= 0.90, share  # measured: 53 of 55
    # Squeezed to 28x28 as they are, the same images are read no better than by chance
    # (measured: 7 of 55): the preparation is what reads them.
    assert naive_share(tmp_path, files) <= share - 0.4
    share, files = read["licensed"]
    assert share >= 0.85, share  # measured: 35 of 40
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 7 of 40


# Test accuracy after 2 epochs on the 10,000-digit stand-in, seed 7, measured on a 2-core
# machine: first 0.9485, dropout 0.9415, deep 0.9520. Each must stay within a point of its own.
AFTER_2_EPOCHS = {"first": 0.9485, "dropout": 0.9415, "deep": 0.9520}


PARAMETERS = {"first": "1,238,730", "dropout": "535,818", "deep": "567,434"}  # the articles'


def test_each_network_reaches_its_measured_accuracy_in_2_epochs_and_predict_gives_its_probabilities(
    tmp_path,
):
    # A 7 drawn dark on light: not symmetric, so that a digit read transposed reads otherwise.
    digit = write_image(tmp_path / "seven.png", draw_digit("7", size=(50, 60), width=5))
    data = shared_file("mnist-real-10k.npz")
    runs = []
    for network in AFTER_2_EPOCHS:  # train, then --predict with the model as it was saved
        out = tmp_path / network
        runs += [
            ["--network", network, "--epochs", 2, "--data", data, "--out", out],
            ["--predict", digit, "--out", out],
        ]
    results = run_in_turn("mnist_dense.py", *runs)
    for network, training, predicting in zip(AFTER_2_EPOCHS, results[::2], results[1::2]):
        out = tmp_path / network
        assert f"Total params: {PARAMETERS[network]}" in assert_succeeded(training).stdout
        metrics = metrics_in(out)
        assert metrics["network"] == network and metrics["epochs"] == 2
        assert metrics["test_accuracy"] >= AFTER_2_EPOCHS[network] - 0.01, metrics

        # --predict reads the digit as the model takes it: 784 numbers for first and dropout,
        # 28x28 for deep, the shape read from the model.
        assert_succeeded(predicting)
        with open(out / "own_predictions.csv", newline="") as file:
            (written,) = list(csv.DictReader(file))
        model = helpers.start_keras().models.load_model(out / "model.keras")
        prepared = prepare_digit(open_image(digit))
        expected = model.predict(prepared.reshape((1, *model.input_shape[1:])), verbose=0)[0]
        np.testing.assert_allclose(
            [float(written[f"p{d}"]) for d in range(10)], expected, atol=0.00005 + 1e-6
        )
        assert int(written["digit"]) == expected.argmax()
        assert float(written["confidence"]) == pytest.approx(expected.max(), abs=0.00005 + 1e-6)


def test_full_mnist_reaches_97_5_percent_and_reads_real_handwriting(tmp_path):
    metrics, read = trained_and_reading(shared_file("mnist.npz"), tmp_path)
    assert (metrics["network"], metrics["epochs"]) == ("first", 5)
    assert (metrics["n_train"], metrics["n_test"]) == (60000, 10000)
    assert metrics["test_accuracy"] >= 0.975, metrics  # measured: 0.9764 to 0.9772
    share, files = read["own"]
    assert share >= 0.90, share  # measured: 52 of 55, 0.945
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 11 of 55
    share, files = read["licensed"]
    assert share >= 0.90, share  # measured: 38 of 40
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 6 of 40


def blank_image(tmp_path):
    path = tmp_path / "blank.png"
    matplotlib.image.imsave(path, np.full((50, 50), 0.8), cmap="gray", vmin=0, vmax=1)
    return path


def text_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (text_file, ["notes.png is not an image", "PNG or JPEG"]),
        (blank_image, ["blank.png", "no ink"]),
        (lambda tmp: tmp / "gone.png", ["gone.png does not exist"]),
    ],
)
def test_predict_bad_images_get_one_line_and_write_nothing(tmp_path, make, expected):
    result = run_script("mnist_dense.py", "--predict", make(tmp_path), "--out", tmp_path / "out")
    assert_one_line_error(result, *expected)
    assert not (tmp_path / "out").exists()  # not even an empty folder


def test_predict_without_a_trained_model_says_how_to_train_one(tmp_path):
    digit = tmp_path / "digit.png"
    write_image(digit, draw_digit("7", size=60, ink=255, paper=0))
    result = run_script("mnist_dense.py", "--predict", digit, "--out", tmp_path / "empty")
    assert_one_line_error(
        result,
        f"no trained model at {tmp_path / 'empty' / 'model.keras'}",
        f"python mnist_dense.py --out {tmp_path / 'empty'}",
    )
    assert not (tmp_path / "empty").exists()


def readme_network_table():
    """{network: its row of the README's table}, cells as text."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## `mnist_dense.py`", 1)[1].split("\n\n")[1]
    rows = [
        [cell.replace("`", "").strip() for cell in line.split("|")[1:-1]]
        for line in table.splitlines()
    ]
    return {row[0].split()[0]: row for row in rows[2:]}


@pytest.mark.parametrize("network", ["first", "dropout", "deep"])
def test_each_network_has_the_settings_the_readme_table_gives(network):
    import mnist_dense

    _, article, layers, optimizer_and_labels, epochs_and_batch, parameters = readme_network_table()[
        network
    ]
    args = mnist_dense.parse_args(["--network", network])
    assert f"{args.epochs}, {args.batch_size}" == epochs_and_batch
    keras = helpers.start_keras()
    model = mnist_dense.NETWORKS[network](keras, 1)
    optimizer, labels = optimizer_and_labels.split(", ")
    assert type(model.optimizer).__name__.lower() == optimizer
    sparse = model.loss == "sparse_categorical_crossentropy"
    assert (
        sparse == labels.startswith("integer")
        and (model.loss == "categorical_crossentropy") != sparse
    )
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [float(rate) for rate in re.findall(r"Dropout ([\d.]+)", layers)]
    assert f"{model.count_params():,}" == parameters
    assert model.name == network and article in mnist_dense.NETWORKS[network].__doc__
