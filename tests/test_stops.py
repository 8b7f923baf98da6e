"""Nothing lost, nothing half-written: stop signals during a run, writes that fail after
training, and the same numbers for the same seed."""

import json
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, assert_one_line_error, run_ok, run_script, script_env, shared_file, wait_for_line
from test_mnist import write_own_npz
from test_pima import write_own_csv


def own_data(script, tmp_path):
    if script == "pima_binary.py":
        return write_own_csv(tmp_path / "own.csv")
    return write_own_npz(tmp_path / "own.npz")


def start(script, *args, **popen):
    return subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=script_env(), **popen)


@pytest.mark.parametrize("script, signum, name", [
    ("pima_binary.py", signal.SIGINT, "interrupted (Ctrl-C)"),
    ("mnist_dense.py", signal.SIGINT, "interrupted (Ctrl-C)"),
    ("pima_binary.py", signal.SIGTERM, "stopped (SIGTERM)"),
    ("mnist_dense.py", signal.SIGHUP, "stopped (SIGHUP: the terminal closed)"),
])
def test_a_stop_during_fit_says_so_and_keeps_the_previous_run_whole(tmp_path, script, signum, name):
    out = tmp_path / "out"
    data = own_data(script, tmp_path)
    run_ok(script, "--quick", "--data", data, "--out", out)  # the previous run's complete set
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    process = start(script, "--data", data, "--epochs", 100000, "--out", out,
                    # as a terminal delivers Ctrl-C, even when pytest's own runner ignores it
                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_line(process, "Epoch 3/")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert stderr.splitlines() == [f"{name}: stopped before the end; no output file was left half-written"]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no hidden files


def test_ctrl_c_while_keras_loads_is_one_line(tmp_path):
    """A stand-in for Keras that takes a minute to load: the Ctrl-C arrives during the import."""
    slow = tmp_path / "slow" / "keras"
    slow.mkdir(parents=True)
    (slow / "__init__.py").write_text("import time\nprint('loading keras', flush=True)\ntime.sleep(60)\n")
    env = script_env(PYTHONPATH=str(tmp_path / "slow"))
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "pima_binary.py"), "--data", str(write_own_csv(tmp_path / "own.csv")),
         "--out", str(tmp_path / "out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for_line(process, "loading keras", seconds=60)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.splitlines() == ["interrupted (Ctrl-C): stopped before the end; no output file was left half-written"]


def test_a_folder_in_the_way_of_one_output_saves_none_and_keeps_the_previous_set(tmp_path):
    (tmp_path / "metrics.json").write_text("previous run")
    (tmp_path / "model.keras").mkdir()
    result = run_script("pima_binary.py", "--quick", "--data", write_own_csv(tmp_path / "own.csv"),
                        "--out", tmp_path)
    assert_one_line_error(result, f"could not write to {tmp_path}", "model.keras",
                          "nothing of this run was saved")
    assert (tmp_path / "metrics.json").read_text() == "previous run"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["metrics.json", "model.keras", "own.csv"]


def test_a_full_disk_saves_nothing_of_the_run_and_keeps_the_previous_set(tmp_path):
    """The file size limit stands in for a full disk: model.keras (14 MB) does not fit."""
    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text("previous run")
    result = run_script("mnist_dense.py", "--quick", "--data", write_own_npz(tmp_path / "own.npz"),
                        "--out", tmp_path / "out", preexec_fn=limit_file_size)
    assert_one_line_error(result, "could not write to", "File too large", "nothing of this run was saved")
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["metrics.json"]
    assert (tmp_path / "out" / "metrics.json").read_text() == "previous run"


def test_out_deleted_during_the_run_is_made_again(tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # a previous run's folder
    process = start("pima_binary.py", "--data", write_own_csv(tmp_path / "own.csv"), "--epochs", 60,
                    "--out", out)
    wait_for_line(process, "Epoch 2/")
    shutil.rmtree(out)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 60
    assert (out / "model.keras").is_file()


def figures(out):
    metrics = json.loads((out / "metrics.json").read_text())
    del metrics["fit_seconds"]
    return metrics


@pytest.mark.parametrize("script, flags", [("pima_binary.py", ["--epochs", "5"]), ("mnist_dense.py", ["--quick"])])
def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, script, flags):
    path = own_data(script, tmp_path)
    runs = {}
    for name, seed in [("first", 7), ("again", 7), ("other", 8)]:
        run_ok(script, *flags, "--data", path, "--seed", seed, "--out", tmp_path / name)
        runs[name] = figures(tmp_path / name)
    assert runs["first"] == runs["again"]  # to the last digit
    assert runs["other"]["test_loss"] != runs["first"]["test_loss"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two cores and Linux's sched_setaffinity")
def test_the_thread_count_not_the_core_count_sets_the_numbers(tmp_path):
    """The README's advice: TF_NUM_INTRAOP_THREADS=2 gives the 2-core figures on one core."""
    path = shared_file("mnist-real-10k.npz")  # one epoch of its 7,600 digits shows the difference
    runs = {}
    for name, cores, threads in [("one core", {0}, None), ("one core, 2 threads", {0}, "2"),
                                 ("two cores, 2 threads", {0, 1}, "2")]:
        result = run_script("mnist_dense.py", "--epochs", 1, "--data", path, "--out", tmp_path / name,
                            env=script_env(TF_NUM_INTRAOP_THREADS=threads),
                            preexec_fn=lambda cores=cores: os.sched_setaffinity(0, cores))
        assert result.returncode == 0, result.stderr
        runs[name] = figures(tmp_path / name)
    assert runs["one core, 2 threads"] == runs["two cores, 2 threads"]
    assert runs["one core"]["test_loss"] != runs["two cores, 2 threads"]["test_loss"]  # measured: 7th digit
