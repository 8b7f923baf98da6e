"""mnist_dense.py end to end, as a user runs it: training, where it goes wrong, --predict."""

import csv
import re
import shutil

import matplotlib.image
import numpy as np
import pytest

from own_digits import open_image, prepare_digit
from conftest import (
    LICENSED_DIGITS,
    OWN_DIGITS,
    ROOT,
    assert_one_line_error,
    assert_succeeded,
    load_keras,
    own_digit_files,
    run,
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
    assert (metrics["network"], metrics["n_test"]) == ("first", 60)
    assert metrics["epochs"] == 1 and metrics["batch_size"] == 128
    assert "training images (300, 28, 28)" in stdout
    assert "(300, 784) float32" in stdout  # the shapes after reshaping
    assert len(metrics["history"]["loss"]) == 1

    rows = re.findall(r"^\s+(\d)\s+(\d)\s+([\d.]+)%", stdout, re.M)
    assert len(rows) == 10, stdout
    with np.load(npz_path) as npz:
        x_train, y_train = npz["x_train"], npz["y_train"]
        x_test, y_test = npz["x_test"], npz["y_test"]
    keras = load_keras()
    model = keras.models.load_model(out / "model.keras")
    probabilities = model.predict(x_test.reshape(-1, 784) / 255, verbose=0)
    assert [int(r[0]) for r in rows] == probabilities.argmax(axis=1)[:10].tolist()
    assert [int(r[1]) for r in rows] == y_test[:10].tolist()
    np.testing.assert_allclose(
        [float(r[2]) for r in rows], probabilities.max(axis=1)[:10] * 100, atol=0.051
    )
    right = probabilities.argmax(axis=1) == y_test
    assert metrics["test_accuracy"] == pytest.approx(right.mean(), abs=1e-6)
    # The last 5 % of the training digits validate (Keras's validation_split keeps
    # floor(300 * 0.95) = 285 to train on): after the one epoch, the saved model's loss on
    # them is the run's validation loss.
    validation = x_train[285:].reshape(-1, 784).astype("float32") / 255
    loss = keras.losses.categorical_crossentropy(
        keras.utils.to_categorical(y_train[285:], 10), model.predict(validation, verbose=0)
    )
    assert float(np.mean(loss)) == pytest.approx(metrics["history"]["val_loss"][-1], abs=1e-5)
    # The README's promise: the accuracy beside what guessing would score, here the share of
    # the test digits that the commonest training digit makes up.
    with np.load(npz_path) as npz:
        commonest = np.bincount(npz["y_train"]).argmax()
    baseline = float(np.mean(y_test == commonest))
    assert metrics["baseline_accuracy"] == pytest.approx(baseline)
    assert f"Always answering the commonest training digit would get {baseline:.4f}" in stdout


def test_images_already_scaled_to_0_1_are_not_divided_again(tmp_path, quick_run):
    _, grey_out, _ = quick_run("mnist_dense.py")  # the same digits, stored as 0 to 255
    result = run(
        "mnist_dense.py",
        "--quick",
        "--data",
        write_own_npz(tmp_path / "unit.npz", scale="unit"),
        "--out",
        tmp_path / "unit",
        ok=True,
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
    turn in one process: metrics.json, the training's stdout, and for the own and the
    licensed digits the share read right (from its CSV) and the files."""
    folders = {"own": own_digit_files(OWN_DIGITS), "licensed": own_digit_files(LICENSED_DIGITS)}
    model = tmp_path / "model.keras"
    results = run(
        "mnist_dense.py",
        *["--data", data, "--out", tmp_path],
        then=[
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
    return metrics_in(tmp_path), results[0].stdout, read


def naive_share(model_folder, files):
    """The path that fails: each image squeezed to 28x28 grey levels and divided by 255."""
    from PIL import Image

    model = load_keras().models.load_model(model_folder / "model.keras")
    images = [
        np.asarray(Image.open(path).convert("L").resize((28, 28)), "float32") / 255
        for path in files
    ]
    return share_read_right(model, images, [int(path.name[0]) for path in files])


def test_default_network_on_real_digits_reaches_95_5_percent_and_reads_handwriting(tmp_path):
    metrics, _, read = trained_and_reading(shared_file("mnist-real-10k.npz"), tmp_path)
    assert (metrics["network"], metrics["epochs"], metrics["n_test"]) == ("first", 5, 2000)
    # Seed 7 measured 0.962 after its 5 epochs; the same network gets 0.951 after 2 and 0.9465
    # after 1: 0.955 fails a training that stalls after its second epoch, and leaves 14 of the
    # 2,000 digits for another CPU's last digits.
    assert metrics["test_accuracy"] >= 0.955, metrics

    # Photos, scans and drawings of digits, read by this model trained on 7,600 digits.
    share, files = read["own"]
    assert share >= 0.90, share  # measured: 53 of 55
    # Squeezed to 28x28 as they are, the same images are read no better than by chance
    # (measured: 7 of 55): the preparation is what reads them.
    assert naive_share(tmp_path, files) <= share - 0.4
    share, files = read["licensed"]
    assert share >= 0.85, share  # measured: 36 of 40
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 7 of 40


# Test accuracy after 2 epochs on the 10,000-digit stand-in, seed 7, measured on JAX on a 2-core
# AMD EPYC: first 0.951, dropout 0.937, deep 0.943 (on TensorFlow: 0.951, 0.941, 0.9625; always
# answering the commonest digit: 0.115). Each must stay within a point of its own: one trained
# otherwise lands further off (article A's with Adam's learning rate at 1e-4 instead of 1e-3:
# 0.919).
AFTER_2_EPOCHS = {"first": 0.951, "dropout": 0.937, "deep": 0.943}


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
    results = run("mnist_dense.py", *runs[0], then=runs[1:])
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
        model = load_keras().models.load_model(out / "model.keras")
        prepared = prepare_digit(open_image(digit))
        expected = model.predict(prepared.reshape((1, *model.input_shape[1:])), verbose=0)[0]
        np.testing.assert_allclose(
            [float(written[f"p{d}"]) for d in range(10)], expected, atol=0.00005 + 1e-6
        )
        assert int(written["digit"]) == expected.argmax()
        assert float(written["confidence"]) == pytest.approx(expected.max(), abs=0.00005 + 1e-6)


def test_full_mnist_reaches_97_percent_and_reads_real_handwriting(tmp_path):
    metrics, stdout, read = trained_and_reading(shared_file("mnist.npz"), tmp_path)
    trained = (metrics["network"], metrics["epochs"], len(metrics["history"]["loss"]))
    assert trained == ("first", 5, 5)
    assert "training images (60000, 28, 28), test images (10000, 28, 28)" in stdout
    assert metrics["n_test"] == 10000
    # Seed 7 measured 0.9737 (95 % interval 0.9704 to 0.9767) after 5 epochs, 0.9747 after 2
    # and 0.9673 after 1: 0.97, the README's "0.97 to 0.98", fails a training that stops after
    # its first epoch, and leaves 37 of the 10,000 digits for another CPU's last digits.
    assert metrics["test_accuracy"] >= 0.97, metrics
    share, files = read["own"]
    assert share >= 0.90, share  # measured: 52 of 55, 0.945
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 7 of 55
    share, files = read["licensed"]
    assert share >= 0.825, share  # measured: 35 of 40 (38 before issue 42's reshaping)
    assert naive_share(tmp_path, files) <= share - 0.4  # measured: 7 of 40


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
def test_predict_bad_images_get_one_line_and_write_nothing(tmp_path, quick_run, make, expected):
    model = quick_run("mnist_dense.py")[1] / "model.keras"  # read first, then the images
    result = run(
        "mnist_dense.py", "--predict", make(tmp_path), "--model", model, "--out", tmp_path / "out"
    )
    assert_one_line_error(result, *expected)
    assert not (tmp_path / "out").exists()  # not even an empty folder


def test_predict_without_a_trained_model_says_how_to_train_one(tmp_path):
    digit = tmp_path / "digit.png"
    write_image(digit, draw_digit("7", size=60, ink=255, paper=0))
    result = run("mnist_dense.py", "--predict", digit, "--out", tmp_path / "empty")
    assert_one_line_error(
        result,
        f"no trained model at {tmp_path / 'empty' / 'model.keras'}",
        f"python mnist_dense.py --out {tmp_path / 'empty'}",
    )
    assert not (tmp_path / "empty").exists()


def readme_network_settings():
    """{network: (article, settings)} from the README's paragraph "The networks and settings",
    such as ("A", "Dense 784, 784, 10, adam, 5 epochs of 128"), for MNIST's three."""
    readme = " ".join((ROOT / "README.md").read_text().split())
    paragraph = readme.split("The networks and settings: ", 1)[1].split(" B `first`: ", 1)[0]
    return {
        network: (article, settings)
        for article, network, settings in re.findall(r"([AED]) `(\w+)`: (.*?)(?:;|\.$)", paragraph)
    }


def described(model, keras):
    """The model's layers as the README writes them: Dense 784, Dropout 0.5, Flatten."""
    names = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            names.append(f"Dense {layer.units}")
        elif isinstance(layer, keras.layers.Dropout):
            names.append(f"Dropout {layer.rate:g}")
        else:
            names.append(type(layer).__name__)
    return names


@pytest.mark.parametrize("network", ["first", "dropout", "deep"])
def test_each_network_has_the_settings_the_readme_gives(network):
    import mnist_dense

    keras = load_keras()
    article, settings = readme_network_settings()[network]
    items = settings.split(", ")
    epochs, batch_size = re.fullmatch(r"(\d+)(?: epochs)? of (\d+)", items.pop()).groups()
    assert mnist_dense.parser().parse_args(["--network", network]).epochs is None  # the article's
    assert (mnist_dense.EPOCHS[network], mnist_dense.BATCH_SIZE[network]) == (
        int(epochs),
        int(batch_size),
    )
    digits_as_labels = items[-1] == "digits as labels"
    if digits_as_labels:
        items.pop()
    optimizer = items.pop()
    layers = [f"Dense {item}" if item.isdigit() else item for item in items]  # "Dense 784, 784"
    model = mnist_dense.NETWORKS[network]()
    assert described(model, keras) == layers
    assert type(model.optimizer).__name__.lower() == optimizer
    assert model.loss == (
        "sparse_categorical_crossentropy" if digits_as_labels else "categorical_crossentropy"
    )
    assert f"{model.count_params():,}" == PARAMETERS[network]
    assert model.name == network
    assert mnist_dense.NETWORKS[network].__doc__.startswith(f"Article {article}:")
