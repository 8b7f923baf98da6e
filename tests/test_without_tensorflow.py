"""Python 3.14 has no TensorFlow: the requirements install JAX there, and the scripts use it.

These tests need the package index: they build a virtual environment without TensorFlow
(kept in the temporary folder and reused while requirements.txt stays the same), and ask
pip what both requirements files would install on each Python from 3.10 to 3.14.
"""

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import shell
from conftest import ROOT, assert_one_line_error, script_env
from makers import draw_digit, own_data, write_image, write_own_csv, write_own_npz
from test_draw import DRAWN_SEVEN, ask, assert_reads_a_digit, printed_url

PYTHONS = ["3.10", "3.11", "3.12", "3.13", "3.14"]

# pip evaluates a marker such as python_version < "3.14" for the Python that runs it, even
# with --python-version 3.14; told that it runs on the target Python, it resolves as there.
PIP_AS_IF_ON = """
import platform, runpy, sys
version = sys.argv.pop(1) + ".0"
platform.python_version = lambda: version
platform.python_version_tuple = lambda: tuple(version.split("."))
runpy.run_module("pip", run_name="__main__", alter_sys=True)
"""


def pip(python, *args, timeout=900):
    return subprocess.run(
        [str(python), "-m", "pip", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=script_env(PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )


def last_lines(result, count=5):
    lines = [
        line
        for line in (result.stderr or result.stdout).splitlines()
        if line.strip() and not line.startswith("WARNING: Location")
    ]
    return " | ".join(lines[-count:])


def requirements_without_tensorflow():
    """requirements.txt as Python 3.14 reads it: every line but TensorFlow, markers dropped."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    requirements = [
        line.split(";")[0].strip() for line in lines if line.strip() and not line.startswith("#")
    ]
    return [line for line in requirements if not line.startswith(("tensorflow", "tensorboard"))]


@pytest.fixture(scope="session")
def python_without_tensorflow():
    """The python of a virtual environment with requirements.txt's 3.14 packages, no TensorFlow."""
    probe = pip(
        sys.executable, "index", "versions", "jax", "--timeout", "15", "--retries", "1", timeout=120
    )
    if probe.returncode != 0:
        pytest.skip(f"the package index is unreachable ({last_lines(probe, 1)})")
    requirements = requirements_without_tensorflow()
    key = hashlib.sha256(f"{sys.base_prefix} {sys.version} {requirements}".encode()).hexdigest()[
        :12
    ]
    folder = Path(tempfile.gettempdir()) / f"keras-tutorial-without-tensorflow-{key}"
    python = folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    with open(f"{folder}.lock", "w") as lock:
        if os.name == "posix":  # two test runs at once: one builds, the other waits for it
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, timeout=300)
            for args in [
                ["install", "--upgrade", "pip"],
                ["install", *requirements, "-c", str(ROOT / "requirements-lock.txt")],
            ]:
                result = pip(python, *args)
                assert result.returncode == 0, f"pip {' '.join(args)}: {last_lines(result)}"
            (folder / "ready").write_text(pip(python, "freeze").stdout)
    spec = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('tensorflow'))"],
        capture_output=True,
        text=True,
        env=script_env(),
    )
    assert spec.stdout.strip() == "None", f"TensorFlow is importable in {folder}"
    return python


def run_without_tensorflow(python, keras_home, script, *args):
    """Run a script as a user whose Python has no TensorFlow does: no KERAS_BACKEND set."""
    result = subprocess.run(
        [str(python), str(ROOT / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        env=script_env(KERAS_BACKEND=None, KERAS_HOME=str(keras_home)),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert "--predict" in args or "Keras backend: jax" in result.stdout, result.stdout[:2000]
    return result


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_without_tensorflow_the_scripts_train_and_predict_on_jax(
    tmp_path, python_without_tensorflow, script
):
    keras_home = tmp_path / "keras-home"
    out = tmp_path / "out"
    if script == "pima_binary.py":
        data, new = (
            write_own_csv(tmp_path / "own.csv"),
            write_own_csv(tmp_path / "new.csv", rows=20, seed=3),
        )
    else:
        data = write_own_npz(tmp_path / "own.npz")
        new = write_image(tmp_path / "digit.png", draw_digit("7", size=60, ink=255, paper=0))
    result = run_without_tensorflow(
        python_without_tensorflow, keras_home, script, "--quick", "--data", data, "--out", out
    )
    assert "accuracy" in result.stdout and (out / "model.keras").is_file()
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0
    # Keras wrote its own default into keras.json as it loaded: the next run still uses JAX.
    assert json.loads((keras_home / "keras.json").read_text())["backend"] == "tensorflow"
    run_without_tensorflow(
        python_without_tensorflow, keras_home, script, "--predict", new, "--out", out
    )
    assert (out / "own_predictions.csv").is_file()
    if script == "mnist_dense.py":  # the drawing page reads a digit on JAX too
        process = subprocess.Popen(
            [
                str(python_without_tensorflow),
                str(ROOT / script),
                "--draw",
                "--port",
                "0",
                "--out",
                str(out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=script_env(KERAS_BACKEND=None, KERAS_HOME=str(keras_home)),
        )
        try:
            url = printed_url(process, 300)
            status, answer = ask(
                url, "POST", "/predict", body=DRAWN_SEVEN, headers={"Content-Type": "image/png"}
            )
            assert status == 200, answer
            assert_reads_a_digit(answer)
        finally:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_without_tensorflow_tensorboard_is_one_line_before_training(
    tmp_path, python_without_tensorflow, script
):
    """--tensorboard writes through TensorFlow: without it, one line says so before training."""
    data = own_data(script, tmp_path)
    result = subprocess.run(
        [str(python_without_tensorflow), str(ROOT / script), "--quick", "--data", data]
        + ["--out", tmp_path / "out", "--tensorboard", tmp_path / "logs"],
        capture_output=True,
        text=True,
        timeout=300,
        env=script_env(KERAS_BACKEND=None, KERAS_HOME=str(tmp_path / "keras-home")),
    )
    assert_one_line_error(result, "--tensorboard", "pip install tensorflow")  # before training
    assert "Epoch" not in result.stdout  # said before training, not after it
    assert not (tmp_path / "out").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "keras_backend, installed, advice",
    [
        (None, [], "Keras backend 'tensorflow' cannot train these networks here; pip install "
         "tensorflow"),
        ("jax", ["tensorflow"], "Keras backend 'jax' cannot train these networks here; pip "
         'install "jax[cpu]", or run on tensorflow: KERAS_BACKEND=tensorflow'),
        ("torch", ["tensorflow", "jax"], "Keras backend 'torch' cannot train these networks "
         "here; pip install torch, or run on jax: KERAS_BACKEND=jax"),
        ("numpy", ["tensorflow"], "Keras backend 'numpy' cannot train these networks here; use "
         "jax, tensorflow or torch"),
    ],
    ids=["no backend", "jax not installed", "torch not installed", "numpy"],
)  # fmt: skip
def test_a_backend_that_cannot_train_is_one_line_saying_what_to_install(
    monkeypatch, keras_backend, installed, advice
):
    """quiet_start() refuses before it imports anything, and changes nothing on the way out."""
    if keras_backend is None:
        monkeypatch.delenv("KERAS_BACKEND", raising=False)
    else:
        monkeypatch.setenv("KERAS_BACKEND", keras_backend)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: find_spec(name, *args) if name in installed else None,
    )
    handlers = [signal.getsignal(signum) for signum in shell.STOPS]
    with pytest.raises(SystemExit) as stop:
        with shell.quiet_start():
            pytest.fail("quiet_start() went on to import Keras")
    assert stop.value.code == f"error: {advice}"  # Python prints it, exits 1
    assert [signal.getsignal(signum) for signum in shell.STOPS] == handlers


def test_requirements_resolve_on_each_python(tmp_path, python_without_tensorflow, start_process):
    """Both requirements files, as pip resolves them on each Python. The six resolutions run
    at once: most of each is waiting on the package index."""
    # The dev file's packages include requirements.txt's: resolved with it for 3.10 to 3.13.
    cases = [
        *(("requirements-dev.txt", python) for python in PYTHONS),
        ("requirements.txt", "3.14"),
    ]
    started = []
    for number, (requirements, python) in enumerate(cases):
        report = tmp_path / f"report{number}.json"
        command = [  # that environment's pip is current: older ones take minutes here
            python_without_tensorflow,
            "-c",
            PIP_AS_IF_ON,
            python,
            "install",
            "--dry-run",
            "--ignore-installed",
            "--python-version",
            python,
            "--only-binary=:all:",
            "--quiet",
            "--report",
            report,
            "-r",
            requirements,
        ]
        started.append((report, start_process(command, cwd=ROOT)))
    for (requirements, python), (report, process) in zip(cases, started):
        stdout, stderr = process.communicate(timeout=900)
        result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        assert result.returncode == 0, f"{requirements} on Python {python}: {last_lines(result)}"
        installed = {
            item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]
        }
        assert {"keras", "numpy", "matplotlib"} <= installed, (requirements, python)
        if python == "3.14":
            assert "tensorflow" not in installed and "jax" in installed, requirements
        else:
            assert "tensorflow" in installed, python
