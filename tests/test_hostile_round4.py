"""Hostile cases, round 4 (issue 31): --tensorboard checked before training, a copy of the
user's in data/ never lost, odd environments (warnings as errors, stdout closed), the exact
words for a flag that is no whole number. The notebook's cases are in test_notebook.py, a file
name the font cannot draw in test_hostile.py."""

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import warnings

import pytest

import tutorial_helpers as helpers
from conftest import HARNESS, ROOT, assert_one_line_error, run_script, script_env
from makers import write_own_csv, write_own_npz

TRAINING = {
    "mnist_dense.py": lambda folder: ["--quick", "--data", write_own_npz(folder / "own.npz")],
    "pima_binary.py": lambda folder: ["--quick", "--data", write_own_csv(folder / "own.csv")],
}


@pytest.fixture
def read_only():
    """read_only(folder): a command prefix under which folder cannot be written. As root, whom
    file modes do not stop, that is a read-only mount in a mount namespace of the child's own."""
    made = []

    def prefix(folder):
        if os.geteuid() != 0:
            made.append(folder)
            folder.chmod(0o555)
            return []
        if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"]).returncode:
            pytest.skip("as root, a folder root cannot write needs unshare -m (util-linux)")
        mount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" "$0" && exec "$@"'
        return ["unshare", "-m", "sh", "-c", mount, str(folder)]

    yield prefix
    for folder in made:
        folder.chmod(0o755)  # so that pytest can delete it


def run_under(prefix, *command):
    return subprocess.run(
        [*prefix, *map(str, command)], capture_output=True, text=True, timeout=600, env=script_env()
    )


## 7. --tensorboard that cannot be written: one line before training, as --out


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
@pytest.mark.parametrize("case", ["an existing file", "under a file", "a read-only folder"])
def test_7_a_tensorboard_folder_that_cannot_be_written_is_one_line_before_training(
    tmp_path, read_only, script, case
):
    logs, prefix = tmp_path / "logs", []
    if case == "an existing file":
        logs.write_text("not a folder")
    elif case == "under a file":
        (tmp_path / "file").write_text("not a folder")
        logs = tmp_path / "file" / "logs"
    else:
        logs.mkdir()
        prefix = read_only(logs)
    out = tmp_path / "out"
    result = run_under(
        prefix,
        sys.executable,
        ROOT / script,
        *TRAINING[script](tmp_path),
        "--out",
        out,
        "--tensorboard",
        logs,
    )
    assert_one_line_error(result, f"cannot write TensorBoard logs to {logs}", "--tensorboard")
    assert "Loaded" not in result.stdout  # before the data, let alone the training
    assert not out.exists()


## 8. A changed copy of the user's in data/ is kept, online and offline


def test_8_online_a_changed_copy_in_data_is_kept_under_a_printed_name(local_server, tmp_path):
    published = write_own_csv(tmp_path / "published.csv", header=None).read_bytes()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n")  # two rows added
    own_copy.chmod(0o644)
    local_server.files[own_copy.name] = published
    url, sha256 = f"{local_server.url}/{own_copy.name}", hashlib.sha256(published).hexdigest()
    settings = [f"pima_binary.DATA_URL={url!r}", f"pima_binary.DATA_SHA256={sha256!r}"]
    result = subprocess.run(
        [sys.executable, HARNESS, *settings, "--", "pima_binary.py", "--quick"]
        + ["--data-dir", data_dir, "--out", tmp_path / "out"],
        capture_output=True,
        text=True,
        timeout=600,
        env=script_env(),
        preexec_fn=lambda: os.umask(0o022),
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr[-3000:]
    kept = data_dir / f"{own_copy.name}.yours-{time.strftime('%Y-%m-%d')}"
    assert f"yours is kept as {kept}; to use it, pass --data {kept}" in result.stdout
    assert kept.read_bytes() == published + b"1,2,3,4,5,1\n0,1,2,3,4,0\n"  # not a byte lost
    assert own_copy.read_bytes() == published
    assert stat.S_IMODE(own_copy.stat().st_mode) == 0o644  # a normal file's, not 0600
    assert sorted(path.name for path in data_dir.iterdir()) == [own_copy.name, kept.name]


def test_8_offline_a_changed_copy_in_a_read_only_data_dir_is_named_with_data_file(
    tmp_path, closed_port, read_only
):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    own_copy = data_dir / "pima-indians-diabetes.data.csv"
    own_copy.write_bytes(write_own_csv(tmp_path / "own.csv", header=None).read_bytes())
    url = f"http://127.0.0.1:{closed_port}/{own_copy.name}"
    settings = [f"pima_binary.DATA_URL={url!r}", f"pima_binary.DATA_SHA256={'0' * 64!r}"]
    result = run_under(
        read_only(data_dir),
        sys.executable,
        HARNESS,
        *settings,
        "--",
        "pima_binary.py",
        "--quick",
        "--data-dir",
        data_dir,
        "--out",
        tmp_path / "out",
    )
    line = assert_one_line_error(
        result, f"{own_copy} differs from the published file", f"pass --data {own_copy}"
    )
    assert ".part" not in line  # the temporary file it could not make is no business of yours
    assert [path.name for path in data_dir.iterdir()] == [own_copy.name]


## 9. PYTHONWARNINGS=error: the run still saves


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_9_warnings_as_errors_do_not_stop_the_save(tmp_path, script):
    out = tmp_path / "out"
    result = run_script(
        script,
        *TRAINING[script](tmp_path),
        "--out",
        out,
        env=script_env(PYTHONWARNINGS="error"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()


def test_9_the_save_hides_no_warning_of_the_callers(tmp_path):
    def save(path):
        warnings.warn("a warning of yours", DeprecationWarning)
        open(path, "wb").close()

    filters = list(warnings.filters)
    with pytest.warns(DeprecationWarning, match="a warning of yours"):
        helpers.save_outputs(tmp_path, {"model.keras": save})
    assert warnings.filters == filters  # nothing hidden once the save is done
    assert (tmp_path / "model.keras").is_file()


## 10. stdout closed (>&-, as a service manager may start a program)


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
@pytest.mark.parametrize("case", ["--help", "a quick run"])
def test_10_a_closed_stdout_is_no_traceback_and_the_run_saves(tmp_path, script, case):
    out = tmp_path / "out"
    args = ["--help"] if case == "--help" else [*TRAINING[script](tmp_path), "--out", out]
    result = subprocess.run(
        [sys.executable, ROOT / script, *args],
        stdout=None,
        stderr=subprocess.PIPE,
        text=True,
        timeout=600,
        env=script_env(),
        preexec_fn=lambda: os.close(1),  # the child starts with no file descriptor 1
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""
    if case == "a quick run":
        assert (out / "model.keras").is_file() and (out / "metrics.json").is_file()


## 11. A flag that is no whole number is named in plain words


@pytest.mark.parametrize("script", ["mnist_dense.py", "pima_binary.py"])
def test_11_epochs_x_says_invalid_whole_number(script):
    result = run_script(script, "--epochs", "x")
    line = assert_one_line_error(result, code=2)
    assert line == f"{script}: error: argument --epochs: invalid whole number: 'x'"


## 6. The lower bounds of requirements.txt are the versions requirements-lowest.txt pins


def requirement_lines(name):
    lines = (ROOT / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_6_requirements_lowest_pins_each_lower_bound_and_the_readme_runs_real_test_files():
    pins = {}
    for line in requirement_lines("requirements-lowest.txt"):
        name, version = line.split(";")[0].split("==")
        pins[name.strip()] = version.strip()
    for line in requirement_lines("requirements.txt"):
        name, bounds = re.match(r"([\w.-]+)(?:\[\w+\])?\s*([^;]*)", line).groups()
        if name == "jax":  # Python 3.14 only, where TensorFlow 2.16 and this set do not install
            continue
        lowest = re.search(r">=\s*([\d.]+)", bounds).group(1).split(".")
        assert pins[name].split(".")[: len(lowest)] == lowest, (name, pins[name], lowest)
    command = re.search(
        r"<!-- lowest -->\s*```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S
    )
    assert "-c requirements-lowest.txt" in command.group(1)
    test_files = re.findall(r"tests/\S+\.py", command.group(1))
    assert test_files and all((ROOT / path).is_file() for path in test_files)
