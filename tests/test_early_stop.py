"""--early-stop keeps the best epoch's weights, even when training runs to its last epoch;
--tensorboard writes one folder per run."""

import importlib.util
import json

import numpy as np
import pytest

import pima_binary
import tutorial_helpers as helpers
from conftest import (
    assert_succeeded,
    run_in_turn,
    run_ok,
    run_scripts_in_turn,
    script_env,
    shared_file,
)
from makers import metrics_in, own_data, write_own_csv

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)


def validation_loss_of_saved_model(csv_path, out, seed=7):
    """The validation rows as pima_binary.py draws them, read by the model it saved."""
    features, labels = pima_binary.read_labelled_csv(csv_path)[:2]
    train, _ = pima_binary.stratified_split(
        labels, pima_binary.TEST_FRACTION, np.random.default_rng(seed)
    )
    x_train, y_train = features[train], labels[train]
    n_val = max(1, round(pima_binary.VALIDATION_FRACTION * len(x_train)))
    keras = helpers.start_keras()
    model = keras.models.load_model(out / "model.keras", compile=False)
    probabilities = model.predict(x_train[-n_val:], verbose=0)
    return float(
        keras.losses.binary_crossentropy(y_train[-n_val:, None], probabilities).numpy().mean()
    )


@pytest.fixture(scope="session")
def pima_runs(made_once):
    """{name: --out folder} of the three Pima trainings below, in turn in one process, made
    once; each folder also holds the run's stdout.txt."""
    pima = shared_file("pima-indians-diabetes.data.csv")

    def make(folder):
        runs = {
            # Measured with seed 7: the validation loss is lowest after epoch 23, so with a
            # patience of 20, 40 epochs end before early stopping would: the case Keras once
            # got wrong.
            "forty epochs": ["--data", pima, "--epochs", 40, "--early-stop"],
            "without": ["--data", write_own_csv(folder / "own.csv"), "--epochs", 6],
            "stopped": ["--data", pima, "--early-stop"],
        }
        flags = [[*flags, "--out", folder / name] for name, flags in runs.items()]
        for name, result in zip(runs, run_in_turn("pima_binary.py", *flags)):
            (folder / name / "stdout.txt").write_text(assert_succeeded(result).stdout)

    folder = made_once("early-stop-runs", make)
    return {name: folder / name for name in ["forty epochs", "without", "stopped"]}


def test_early_stop_keeps_the_best_epochs_weights_even_without_stopping_early(pima_runs):
    out = pima_runs["forty epochs"]
    metrics = metrics_in(out)
    assert metrics["epochs_trained"] == 40 and metrics["best_epoch"] < 40, metrics
    assert metrics["best_epoch"] == 1 + int(np.argmin(metrics["val_loss"]))
    assert (
        "Trained 40 of 40 epochs; the validation loss was lowest after epoch "
        f"{metrics['best_epoch']}, "
        "whose weights were kept" in (out / "stdout.txt").read_text()
    )
    kept = validation_loss_of_saved_model(shared_file("pima-indians-diabetes.data.csv"), out)
    assert kept == pytest.approx(min(metrics["val_loss"]), abs=1e-5)
    assert kept < metrics["val_loss"][-1] - 1e-3  # not the last epoch's weights


def test_without_early_stop_the_last_epochs_weights_are_saved(pima_runs):
    out = pima_runs["without"]
    metrics = metrics_in(out)
    assert metrics["epochs_trained"] == 6
    assert validation_loss_of_saved_model(out.parent / "own.csv", out) == pytest.approx(
        metrics["val_loss"][-1], abs=1e-5
    )


def test_early_stop_stops_pima_and_records_where(pima_runs):
    out = pima_runs["stopped"]
    metrics = metrics_in(out)
    assert (
        metrics["epochs_trained"] < 150 and metrics["epochs_trained"] == metrics["best_epoch"] + 20
    ), metrics
    assert f"Trained {metrics['epochs_trained']} of 150 epochs" in (out / "stdout.txt").read_text()
    assert metrics["test_accuracy"] >= 0.72, metrics


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_tensorboard_writes_one_folder_per_run_with_training_and_validation_events(
    tmp_path, backend
):
    """Both scripts log into one folder: MNIST's run as it is, Pima's with --early-stop."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    trainings = [
        (script, ["--quick", "--epochs", 2, "--data", own_data(script, tmp_path),
                  "--out", tmp_path / "out", "--tensorboard", tmp_path / "logs", *flags])
        for script, flags in [("mnist_dense.py", []), ("pima_binary.py", ["--early-stop"])]
    ]  # fmt: skip
    for result in run_scripts_in_turn(*trainings, env=script_env(KERAS_BACKEND=backend)):
        assert_succeeded(result)
    runs = sorted(path.name for path in (tmp_path / "logs").iterdir())
    assert len(runs) == 2, runs
    assert runs[0].startswith("first-seed7-") and "-early-stop-" not in runs[0], runs
    assert runs[1].startswith("pima_first-seed7-early-stop-"), runs
    for run in runs:
        for part in ["train", "validation"]:
            events = list((tmp_path / "logs" / run / part).glob("events.out.tfevents.*"))
            assert events and events[0].stat().st_size > 0, (run, part)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"best_epoch", "epochs_trained"} <= metrics.keys()


def test_mnist_stops_two_epochs_after_its_lowest_validation_loss(tmp_path):
    """README: MNIST's patience is 2 epochs. Labels drawn at random hold nothing to learn, so
    the validation loss soon rises and the run stops early."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "noise.npz",
        x_train=rng.integers(0, 256, (300, 28, 28), "uint8"),
        y_train=rng.integers(0, 10, 300, "uint8"),
        x_test=rng.integers(0, 256, (60, 28, 28), "uint8"),
        y_test=rng.integers(0, 10, 60, "uint8"),
    )
    run_ok("mnist_dense.py", "--quick", "--epochs", 30, "--early-stop",
           "--data", tmp_path / "noise.npz", "--out", tmp_path / "out")  # fmt: skip
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["epochs_trained"] < 30, metrics["val_loss"]
    assert metrics["epochs_trained"] == metrics["best_epoch"] + 2
