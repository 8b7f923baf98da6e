"""Nothing lost, nothing half-written: stop signals during a run and while TensorFlow loads, a
program of one's own that imports a script finding nothing changed, writes that fail after
training, and the same numbers for the same seed."""

import fcntl
import json
import os
import resource
import shutil
import signal
import sys

import pytest

from conftest import (
    ROOT,
    as_from_a_terminal,
    assert_one_line_error,
    assert_succeeded,
    run,
    script_env,
    wait_for_line,
    warm,
)
from makers import own_data, write_own_csv, write_own_npz


@pytest.mark.parametrize(
    "script, signum, name",
    [
        ("pima_binary.py", signal.SIGINT, "interrupted (Ctrl-C)"),
        ("mnist_dense.py", signal.SIGINT, "interrupted (Ctrl-C)"),
        ("pima_binary.py", signal.SIGTERM, "stopped (SIGTERM)"),
        ("mnist_dense.py", signal.SIGHUP, "stopped (SIGHUP: the terminal closed)"),
    ],
)
def test_a_stop_during_fit_says_so_and_keeps_the_previous_run_whole(
    tmp_path, start_process, quick_run, script, signum, name
):
    _, previous, data = quick_run(script)
    out = shutil.copytree(previous, tmp_path / "out")  # the previous run's complete set
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    process = start_process(
        [sys.executable, ROOT / script, "--data", data, "--epochs", 100000, "--out", out],
        preexec_fn=as_from_a_terminal,
    )
    wait_for_line(process, "Epoch 3/")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, stderr
    assert stderr.splitlines() == [
        f"{name}: stopped before the end; no output file was left half-written"
    ]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # no hidden files


def test_ctrl_c_while_keras_loads_is_one_line(tmp_path, start_process):
    """A stand-in for Keras that takes a minute to load: the Ctrl-C arrives during the import."""
    slow = tmp_path / "slow" / "keras"
    slow.mkdir(parents=True)
    (slow / "__init__.py").write_text(
        "import time\nprint('loading keras', flush=True)\ntime.sleep(60)\n"
    )
    process = start_process(
        [
            sys.executable,
            ROOT / "pima_binary.py",
            "--data",
            write_own_csv(tmp_path / "own.csv"),
            "--out",
            tmp_path / "out",
        ],
        env=script_env(PYTHONPATH=str(tmp_path / "slow")),
        preexec_fn=as_from_a_terminal,
    )
    wait_for_line(process, "loading keras", seconds=60)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.splitlines() == [
        "interrupted (Ctrl-C): stopped before the end; no output file was left half-written"
    ]


# Runs a script as Python would (as __main__, its folder first on the path), and sends the
# process a signal the moment the backend starts importing its first module of its own: the
# first seconds of a run (on TensorFlow, while quiet_start() sends file descriptor 2 to
# /dev/null to hide its log), at a point that does not depend on the machine's speed.
SIGNAL_AS_THE_BACKEND_LOADS = """
import os, runpy, signal, sys

class SignalAsTheBackendLoads:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(backend + "."):  # not quiet_start's question whether it is installed
            sys.meta_path.remove(self)
            os.kill(os.getpid(), getattr(signal, signal_name))

backend, signal_name, script = sys.argv[1:4]
sys.argv = sys.argv[3:]
sys.path.insert(0, os.path.dirname(script))
sys.meta_path.insert(0, SignalAsTheBackendLoads())
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(
    "signal_name, said",
    [
        ("SIGINT", "interrupted (Ctrl-C)"),
        ("SIGTERM", "stopped (SIGTERM)"),
        ("SIGHUP", "stopped (SIGHUP: the terminal closed)"),
    ],
)
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
@pytest.mark.parametrize("script", ["pima_binary.py", "mnist_dense.py"])
def test_a_signal_while_the_backend_loads_is_one_line(tmp_path, script, signal_name, said, backend):
    out = tmp_path / "out"
    result = run(
        "-c",
        SIGNAL_AS_THE_BACKEND_LOADS,
        backend,
        signal_name,
        str(ROOT / script),
        "--quick",
        "--out",
        str(out),
        timeout=120,
        env=script_env(KERAS_BACKEND=None if backend == "jax" else backend),
        preexec_fn=as_from_a_terminal,
    )
    assert (
        result.stderr == f"{said}: stopped before the end; no output file was left half-written\n"
    )
    assert result.returncode == 128 + getattr(signal, signal_name)
    assert result.stdout == "" and not out.exists()


# What a program could rely on: the stop signals' handlers, the functions atexit will call (the
# project's own, counted by atexit.register's caller), the standard streams, and file
# descriptor 2. A program sets its own SIGTERM handler; the others stay Python's defaults.
PROGRAM_THAT_IMPORTS = """
import atexit, os, signal, sys
sys.path.insert(0, sys.argv[1])

registered_by_the_project = []
register = atexit.register

def recording_register(function, *args, **kwargs):
    caller = sys._getframe(1).f_code.co_filename
    if os.path.isfile(caller) and os.path.dirname(os.path.abspath(caller)) == sys.argv[1]:
        registered_by_the_project.append(f"{function.__qualname__} from {caller}")
    return register(function, *args, **kwargs)

atexit.register = recording_register
signal.signal(signal.SIGTERM, lambda *args: print("my own SIGTERM handler"))

STOPS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]

def state():
    handlers = [signal.getsignal(signum) for signum in STOPS]
    fd2 = os.fstat(2)
    streams = [sys.stdout, sys.stderr, (fd2.st_dev, fd2.st_ino)]
    return [handlers, streams, list(registered_by_the_project)]

before = state()
for module in sys.argv[2:]:
    __import__(module)
    assert state() == before, (module, before, state())
    print(module, "changed nothing")
assert before[0][0] is signal.default_int_handler and before[0][2] is signal.SIG_DFL
"""


def test_importing_the_helper_or_a_script_changes_nothing_a_program_relies_on():
    """A program of one's own that imports a script to use its functions (README), pytest or
    IPython keeps its handlers, its streams and its exit: quiet_start() puts back the handlers it
    installs while Keras loads, and the helper does nothing on import."""
    modules = ["tutorial_helpers", "shell", "mnist_npz", "labelled_csv", "mnist_dense"]
    modules += ["pima_binary"]
    result = run(
        "-c",
        PROGRAM_THAT_IMPORTS,
        str(ROOT),
        *modules,
        timeout=300,
        preexec_fn=as_from_a_terminal,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines() == [f"{module} changed nothing" for module in modules]
    assert result.stderr == ""


@pytest.mark.warm  # a failed save, not a stop: Keras may be loaded already
def test_a_folder_in_the_way_of_one_output_saves_none_and_keeps_the_previous_set(tmp_path):
    (tmp_path / "metrics.json").write_text("previous run")
    (tmp_path / "model.keras").mkdir()
    result = run(
        "pima_binary.py",
        "--quick",
        "--data",
        write_own_csv(tmp_path / "own.csv"),
        "--out",
        tmp_path,
    )
    assert_one_line_error(
        result, f"could not write to {tmp_path}", "model.keras", "nothing of this run was saved"
    )
    assert (tmp_path / "metrics.json").read_text() == "previous run"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "metrics.json",
        "model.keras",
        "own.csv",
    ]


def test_a_full_disk_saves_nothing_of_the_run_and_keeps_the_previous_set(tmp_path):
    """The file size limit stands in for a full disk: model.keras (14 MB) does not fit."""

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "metrics.json").write_text("previous run")
    result = run(
        "mnist_dense.py",
        "--quick",
        "--data",
        write_own_npz(tmp_path / "own.npz"),
        "--out",
        tmp_path / "out",
        preexec_fn=limit_file_size,
    )
    assert_one_line_error(
        result, "could not write to", "File too large", "nothing of this run was saved"
    )
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["metrics.json"]
    assert (tmp_path / "out" / "metrics.json").read_text() == "previous run"


@pytest.mark.skipif(not hasattr(fcntl, "F_SETPIPE_SZ"), reason="a pipe's size is set on Linux only")
def test_out_deleted_during_the_run_is_made_again(tmp_path, start_process):
    out = tmp_path / "out"
    out.mkdir()  # a previous run's folder
    process = start_process(
        [
            sys.executable,
            ROOT / "pima_binary.py",
            "--data",
            write_own_csv(tmp_path / "own.csv"),
            "--epochs",
            120,
            "--out",
            out,
        ]
    )
    # The run cannot finish before the folder is deleted, however fast the machine: it writes
    # over 100 bytes an epoch to a pipe that holds 4 KiB, and this test reads no further than
    # the line of epoch 2 (and at most 4 KiB after it) until then, so the run stops to wait,
    # some 80 epochs in at most, until the test reads on.
    fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    wait_for_line(process, "Epoch 2/")
    assert not (out / "metrics.json").exists()  # nothing saved yet
    shutil.rmtree(out)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "Epoch 120/120" in stdout  # the deletion came during the training
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 120
    assert (out / "model.keras").is_file()


def seeded_figures(tmp_path, script, flags, seeds, **popen):
    """{name: metrics.json} of one run of script per (name, seed) in seeds."""
    path = own_data(script, tmp_path)
    runs = {}
    for name, seed in seeds.items():
        result = run(
            script, *flags, "--data", path, "--seed", seed, "--out", tmp_path / name, **popen
        )
        assert_succeeded(result)
        runs[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    return runs


@pytest.mark.parametrize(
    "script, flags, backend",
    [
        ("pima_binary.py", ["--epochs", "5"], None),
        ("mnist_dense.py", ["--quick"], None),
        ("mnist_dense.py", ["--quick"], "tensorflow"),
    ],
    ids=["pima", "mnist", "mnist on tensorflow"],
)
def test_same_seed_same_numbers_other_seed_other_numbers_with_dropout(
    tmp_path, script, flags, backend
):
    """The dropout network has every random choice the others have (starting weights, the
    validation rows, the order of the rows each epoch) and one more: which units to silence.
    The seed must fix them all, on each backend."""
    env = script_env(KERAS_BACKEND=backend)
    flags = [*flags, "--network", "dropout"]
    seeds = {"first": 7} | ({"other": 8} if backend is None else {})
    with warm():  # on the default, children of a Python that loaded Keras before any seed
        runs = seeded_figures(tmp_path, script, flags, seeds, env=env)
    runs |= seeded_figures(tmp_path, script, flags, {"again": 7}, env=env)  # a fresh Python
    assert runs["first"]["network"] == "dropout"
    assert runs["first"] == runs["again"]  # to the last digit
    if "other" in runs:  # and the seed is what decides them
        assert runs["other"]["test_loss"] != runs["first"]["test_loss"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux's sched_setaffinity")
def test_same_seed_same_numbers_on_one_core_too(tmp_path):
    """README, Reproducibility: the figures may differ between one core and two, but each is
    repeatable. Two cores: the tests above; here the runs may use one core only."""
    core = min(os.sched_getaffinity(0))
    runs = seeded_figures(
        tmp_path,
        "mnist_dense.py",
        ["--quick"],
        {"first": 7, "again": 7},
        preexec_fn=lambda: os.sched_setaffinity(0, {core}),
    )
    assert runs["first"] == runs["again"]
