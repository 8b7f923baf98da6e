"""Quiet runs: no TensorFlow log, no control characters in a log file, flags answered before
Keras loads, and the same scripts on the JAX and PyTorch backends."""

import importlib.util
import json
import re

import pytest

from conftest import (
    ROOT,
    assert_one_line_error,
    run_ok,
    run_patched,
    run_script,
    script_env,
    shared_file,
)
from makers import own_data, write_own_csv


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_quiet_with_the_usual_advice_of_log_level_2(tmp_path, script):
    run_ok(
        script,
        "--quick",
        "--data",
        own_data(script, tmp_path),
        "--out",
        tmp_path / "out",
        env=script_env(TF_CPP_MIN_LOG_LEVEL="2"),
    )  # run_ok: nothing at all on stderr


def test_quiet_with_a_home_that_cannot_be_written(tmp_path):
    env = script_env(
        HOME="/dev/null/home",
        KERAS_HOME=None,
        MPLCONFIGDIR=None,
        XDG_CONFIG_HOME=None,
        XDG_CACHE_HOME=None,
    )
    run_ok(
        "pima_binary.py",
        "--quick",
        "--data",
        own_data("pima_binary.py", tmp_path),
        "--out",
        tmp_path / "out",
        env=env,
    )


@pytest.mark.warm  # what a run prints, not how it starts
def test_a_log_file_gets_one_plain_line_per_epoch_of_the_epochs_asked_for(tmp_path):
    result = run_ok(
        "mnist_dense.py",
        "--quick",
        "--epochs",
        3,
        "--data",
        own_data("mnist_dense.py", tmp_path),
        "--out",
        tmp_path / "out",
    )  # stdout is no terminal here, as in `... > log` or `... | tee log`
    assert not re.search(r"[\x1b\b\r]", result.stdout), "control characters in a log file"
    lines = result.stdout.splitlines()
    for epoch in [1, 2, 3]:
        at = lines.index(f"Epoch {epoch}/3")
        assert re.match(r"\d+/\d+ - \d+s - .*accuracy: [\d.]+ .*val_accuracy", lines[at + 1]), (
            lines[at + 1]
        )
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["epochs"] == 3  # not 1


def keras_that_cannot_load(tmp_path):
    """Stand-ins for Keras, TensorFlow and matplotlib that fail if anything imports them."""
    for name in ["keras", "tensorflow", "matplotlib", "jax", "torch"]:
        (tmp_path / "fail" / name).mkdir(parents=True)
        (tmp_path / "fail" / name / "__init__.py").write_text(
            f"raise ImportError('{name} was imported')\n"
        )
    return script_env(PYTHONPATH=str(tmp_path / "fail"))


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_help_and_bad_flags_answer_before_keras_loads(tmp_path, script):
    env = keras_that_cannot_load(tmp_path)
    result = run_script(script, "--help", env=env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    # Every flag the script defines, read from its source.
    flags = re.findall(r'^\s+add\("(--[a-z-]+)"', (ROOT / script).read_text(), re.M)
    assert len(flags) >= 12, flags
    for flag in flags:
        assert re.search(rf"^\s+{flag}\b", result.stdout, re.M), flag
    # Every setting the script and its module for one's own data read is a flag it lists.
    own_data_module = {"mnist_dense.py": "own_digits.py", "pima_binary.py": "new_rows.py"}[script]
    code = (ROOT / script).read_text() + (ROOT / own_data_module).read_text()
    for name in set(re.findall(r"\bargs\.([a-z_]+)", code)):
        flag = "--" + name.replace("_", "-")
        assert re.search(rf"^\s+{flag}\b", result.stdout, re.M), f"{flag} is read, not listed"
    assert "(default: 7)" in result.stdout
    assert_one_line_error(run_script(script, "--epochs", "many", env=env), "--epochs", code=2)
    # A bad data file, too, is reported before the seconds Keras takes to load.
    (tmp_path / "empty.csv").write_text("")
    assert_one_line_error(
        run_script(script, "--data", tmp_path / "empty.csv", "--out", tmp_path, env=env),
        "empty.csv",
    )


def test_each_flag_the_readme_names_is_one_a_script_lists_in_its_help():
    listed = set()
    for script in ["mnist_dense.py", "pima_binary.py"]:
        result = run_script(script, "--help")
        assert result.returncode == 0, result.stderr
        listed |= set(re.findall(r"^\s+(?:-h, )?(--[a-z-]+)", result.stdout, re.M))
    named = set(re.findall(r"`(--[a-z][a-z-]*)", (ROOT / "README.md").read_text()))
    assert len(named) >= 12, named
    assert named <= listed, named - listed


def test_a_data_file_name_beyond_ascii_in_the_c_locale(tmp_path):
    """LC_ALL=C: Python reads this name's bytes with surrogates, which no font can draw."""
    csv_path = write_own_csv(tmp_path / "own.csv")
    strange = tmp_path / "donn\udce9es.csv"  # Latin-1 bytes of "données", not UTF-8
    csv_path.rename(strange)
    result = run_ok(
        "pima_binary.py",
        "--quick",
        "--data",
        strange,
        "--out",
        tmp_path / "out",
        env=script_env(LC_ALL="C", LANG="C"),
    )
    assert "Loaded" in result.stdout
    assert (tmp_path / "out" / "history.png").is_file()
    run_ok(
        "pima_binary.py",
        "--quick",
        "--data",
        write_own_csv(tmp_path / "données.csv"),
        "--out",
        tmp_path / "out",
        env=script_env(LC_ALL="C", LANG="C"),
    )


def backend(name):
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"the {name} backend is not installed (requirements-dev.txt installs jax)")
    return script_env(KERAS_BACKEND=name)


def run_ok_reporting_the_backend(script, *args, env):
    """A run as run_ok's, through the harness: its stdout, the backend Keras ran on, and whether
    TensorFlow was imported."""
    result = run_patched(["--report-backend"], script, *args, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    *output, report = result.stdout.splitlines()
    assert report.startswith("harness: keras backend "), result.stdout[-2000:]
    ran_on, tensorflow_loaded = report.removeprefix("harness: keras backend ").split(
        "; tensorflow loaded: "
    )
    return "\n".join(output), ran_on, tensorflow_loaded == "yes"


@pytest.mark.parametrize("name", ["jax", "torch"])
@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_quick_runs_on_other_backends_really_run_there_quiet_and_reproducible(
    tmp_path, script, name
):
    env = backend(name)
    data = own_data(script, tmp_path)
    result = run_ok(
        script, "--quick", "--epochs", 2, "--data", data, "--out", tmp_path / "first", env=env
    )
    assert "Epoch 2/2" in result.stdout
    stdout, ran_on, tensorflow_loaded = run_ok_reporting_the_backend(
        script, "--quick", "--epochs", 2, "--data", data, "--out", tmp_path / "again", env=env
    )
    assert "Epoch 2/2" in stdout
    assert ran_on == name  # not TensorFlow, whatever the script did with KERAS_BACKEND
    assert not tensorflow_loaded  # seconds of start-up a run on this backend does not need
    first, again = (
        json.loads((tmp_path / run / "metrics.json").read_text()) for run in ["first", "again"]
    )
    del first["fit_seconds"], again["fit_seconds"]
    assert first == again
    if script == "mnist_dense.py":  # its bands of light are learnt in 2 epochs; Pima's held-out
        assert first["test_accuracy"] > 0.5  # accuracy is tested on the real CSV below


def test_the_backend_named_in_keras_json_is_used_and_said(tmp_path):
    """Keras's own setting, ~/.keras/keras.json, chooses the backend when KERAS_BACKEND is unset."""
    backend("jax")
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
    stdout, ran_on, _ = run_ok_reporting_the_backend(
        "pima_binary.py",
        "--quick",
        "--data",
        write_own_csv(tmp_path / "own.csv"),
        "--out",
        tmp_path / "out",
        env=script_env(KERAS_BACKEND=None, KERAS_HOME=str(keras_home)),
    )
    assert ran_on == "jax"
    assert "Keras backend: jax (set by KERAS_BACKEND or keras.json)" in stdout


def test_pima_on_jax_reaches_the_same_held_out_accuracy(tmp_path):
    run_ok(
        "pima_binary.py",
        "--data",
        shared_file("pima-indians-diabetes.data.csv"),
        "--out",
        tmp_path,
        env=backend("jax"),
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] >= 0.70


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_a_model_trained_on_tensorflow_predicts_the_same_on_other_backends(
    tmp_path, quick_run, name
):
    env = backend(name)
    model = quick_run("pima_binary.py")[1] / "model.keras"
    new_rows = write_own_csv(tmp_path / "new.csv", rows=20, seed=3)
    probabilities = {}
    for who, settings in [("tensorflow", script_env()), (name, env)]:
        # Each backend writes to a folder of its own: a run that wrote nothing leaves no file.
        _, ran_on, tensorflow_loaded = run_ok_reporting_the_backend(
            "pima_binary.py",
            "--predict",
            new_rows,
            "--model",
            model,
            "--out",
            tmp_path / who,
            env=settings,
        )
        assert ran_on == who
        assert tensorflow_loaded == (who == "tensorflow")  # --predict on JAX loads none either
        lines = (tmp_path / who / "own_predictions.csv").read_text().splitlines()[1:]
        probabilities[who] = [float(line.split(",")[-2]) for line in lines]
    assert len(probabilities[name]) == len(probabilities["tensorflow"]) == 20
    assert probabilities[name] == pytest.approx(probabilities["tensorflow"], abs=1e-5)
