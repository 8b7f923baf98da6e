"""pima_binary.py end to end, as a user runs it."""

import json
import re
import shutil

import numpy as np

import pima_binary
import tutorial_helpers as helpers
from conftest import run_ok, shared_file

ARTIFACTS = ["model.keras", "history.png", "metrics.json"]


def write_own_csv(path, rows=80, seed=0):
    """A CSV of one's own: a header row, 5 features on different scales, 0/1 label last."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 5)) * [1, 10, 100, 0.1, 5]
    labels = (features[:, 0] + features[:, 1] / 10 > 0).astype(int)
    lines = ["a,b,c,d,e,outcome"] + [
        ",".join(f"{value:.4f}" for value in row) + f",{label}" for row, label in zip(features, labels)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def printed_probabilities(stdout):
    return [float(match) for match in re.findall(r"^\s+(\d\.\d{3})\s+[01]\s+[01]", stdout, re.M)]


def test_quick_run_on_own_csv_writes_a_model_that_predicts_as_the_run_did(tmp_path):
    csv_path = write_own_csv(tmp_path / "own.csv")
    result = run_ok("pima_binary.py", "--quick", "--data", csv_path, "--out", tmp_path / "out")
    for name in ARTIFACTS:
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert (tmp_path / "out" / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 80 and metrics["n_test"] == 16
    assert metrics["epochs"] == 2 and metrics["seed"] == 7

    # The saved model takes raw rows (normalisation is inside it) and gives what the run printed.
    features, labels = pima_binary.read_csv(csv_path)
    _, test = pima_binary.stratified_split(labels, 0.2, np.random.default_rng(7))
    model = helpers.keras.models.load_model(tmp_path / "out" / "model.keras")
    reloaded = model.predict(features[test][:10], verbose=0)[:, 0]
    printed = printed_probabilities(result.stdout)
    assert len(printed) == 10, result.stdout
    np.testing.assert_allclose(reloaded, printed, atol=6e-4)
    test_loss, _ = model.evaluate(features[test], labels[test], verbose=0)
    assert abs(test_loss - metrics["test_loss"]) < 1e-5


def test_default_run_on_the_real_csv_reaches_the_articles_accuracy(tmp_path):
    """Default settings, and the data found in --data-dir as if downloaded earlier."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(shared_file("pima-indians-diabetes.data.csv"), data_dir)
    result = run_ok("pima_binary.py", "--data-dir", data_dir, "--out", tmp_path / "out")
    assert "already downloaded" in result.stdout
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (metrics["epochs"], metrics["batch_size"], metrics["n_test"]) == (150, 10, 154)
    assert metrics["test_accuracy"] >= 0.70, metrics
    assert metrics["train_accuracy"] >= 0.74, metrics
