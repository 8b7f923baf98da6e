"""mnist_dense.py end to end, as a user runs it."""

import json
import re

import matplotlib.image
import numpy as np
import pytest

import tutorial_helpers as helpers
from conftest import run_ok, shared_file

PICTURES = ["samples.png", "history.png", "predictions.png"]


def write_own_npz(path, n_train=300, n_test=60, seed=0):
    """Digits of one's own in Keras's layout: each label lights up its own band of rows."""
    rng = np.random.default_rng(seed)

    def digits(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28)).astype("uint8")
        for image, label in zip(images, labels):
            image[2 + 2 * label: 4 + 2 * label, 4:24] = 255
        return images, labels.astype("uint8")

    (x_train, y_train), (x_test, y_test) = digits(n_train), digits(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def test_quick_run_writes_pictures_and_a_model_that_predicts_as_the_run_did(tmp_path):
    npz_path = write_own_npz(tmp_path / "digits.npz")
    result = run_ok("mnist_dense.py", "--quick", "--data", npz_path, "--out", tmp_path / "out")
    for name in PICTURES:
        assert matplotlib.image.imread(tmp_path / "out" / name).shape[2] in (3, 4), name
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["network"], metrics["n_train"], metrics["n_test"]) == ("first", 300, 60)
    assert metrics["epochs"] == 1 and metrics["batch_size"] == 128
    assert "(300, 784) float32" in result.stdout  # the shapes after reshaping

    rows = re.findall(r"^\s+(\d)\s+(\d)\s+([\d.]+)%", result.stdout, re.M)
    assert len(rows) == 16, result.stdout
    with np.load(npz_path) as npz:
        x_test, y_test = npz["x_test"], npz["y_test"]
    model = helpers.keras.models.load_model(tmp_path / "out" / "model.keras")
    probabilities = model.predict(x_test[:16].reshape(-1, 784) / 255, verbose=0)
    assert [int(r[0]) for r in rows] == probabilities.argmax(axis=1).tolist()
    assert [int(r[1]) for r in rows] == y_test[:16].tolist()
    np.testing.assert_allclose([float(r[2]) for r in rows], probabilities.max(axis=1) * 100, atol=0.051)
    test_loss, _ = model.evaluate(x_test.reshape(-1, 784) / 255,
                                  helpers.keras.utils.to_categorical(y_test, 10), verbose=0)
    assert abs(test_loss - metrics["test_loss"]) < 1e-4


def test_default_network_on_real_digits_reaches_94_percent(tmp_path):
    run_ok("mnist_dense.py", "--data", shared_file("mnist-real-10k.npz"), "--out", tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["network"], metrics["epochs"], metrics["n_test"]) == ("first", 5, 2000)
    assert metrics["test_accuracy"] >= 0.94, metrics


@pytest.mark.parametrize("network, parameters", [
    ("first", "1,238,730"), ("dropout", "535,818"), ("deep", "567,434")])
def test_each_network_builds_and_passes_90_percent_in_2_epochs(tmp_path, network, parameters):
    result = run_ok("mnist_dense.py", "--network", network, "--epochs", 2,
                    "--data", shared_file("mnist-real-10k.npz"), "--out", tmp_path)
    assert f"Total params: {parameters}" in result.stdout  # the articles' own counts
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["network"] == network and metrics["epochs"] == 2
    assert metrics["test_accuracy"] >= 0.90, metrics
