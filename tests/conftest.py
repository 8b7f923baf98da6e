"""Fixtures shared by the tests: running a script as a user does, real data, a local server,
untrained models, a folder that cannot be written."""

import atexit
import contextlib
import fcntl
import http.server
import json
import locale
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).resolve().parent / "harness.py"
sys.path.insert(0, str(ROOT))

# Real datasets and photos live outside the project (never committed); the variables point
# elsewhere.
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))
OWN_DIGITS = Path(os.environ.get("OWN_DIGITS_DIR", ROOT.parent / "shared" / "own_digits"))
LICENSED_DIGITS = Path(
    os.environ.get("LICENSED_DIGITS_DIR", ROOT.parent / "shared" / "own_digits_licensed")
)

# What the caller exported must not change what a script prints: the scripts get their own
# environment. An empty KERAS_HOME keeps a ~/.keras/keras.json of the caller's out.
_KERAS_HOME = tempfile.mkdtemp(prefix="keras-home-")
atexit.register(shutil.rmtree, _KERAS_HOME, ignore_errors=True)
# The tests' own Keras (loading a saved model to compare) runs on the scripts' default backend
# too: JAX rounds the last bit of a float32 differently from TensorFlow.
os.environ.update(KERAS_BACKEND="jax", KERAS_HOME=_KERAS_HOME)
_CALLERS_SETTINGS = {
    "TF_CPP_MIN_LOG_LEVEL",
    "KERAS_BACKEND",
    "KERAS_HOME",
    "PYTHONWARNINGS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "MPLBACKEND",
    "COLUMNS",
}


def script_env(**changes):
    """The environment of a script a test starts; a change of None removes the variable. No
    KERAS_BACKEND: the scripts' default, JAX; KERAS_BACKEND="tensorflow" for TensorFlow's own."""
    env = {name: value for name, value in os.environ.items() if name not in _CALLERS_SETTINGS}
    env.update(KERAS_HOME=_KERAS_HOME, PYTHONUNBUFFERED="1")
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(
    *command, env=None, cwd=None, timeout=900, patch=None, then=None, ok=False, under=None, **popen
):
    """Run a Python program as a user does and wait for its end: the one way a test runs one.

    command: a project script's name and its flags ("pima_binary.py", "--quick"), a Path of a
    Python file and its arguments, or "-c", a program and its arguments; arguments go through
    str() (Paths, numbers). env: the environment, script_env() when None; cwd: the folder.
    popen: more arguments for subprocess.run (preexec_fn, ...).

    patch: {"module.NAME": value}, settings of the project's modules replaced before the
    script's main() runs (tests/harness.py), such as a download URL on the test's own server.
    then: more runs after this one, in turn in the same Python, as a notebook runs a script
    again: each a list of flags for the script before, or a list that starts with a script's
    name. run then returns a list: a CompletedProcess for each run, with its own exit code,
    stdout and stderr (TensorFlow's log too). For what runs print and write: a test of how a
    Python starts or stops, or of a warning a process shows once, runs each alone.
    ok: assert that the run (each run) succeeded: exit 0, nothing at all on stderr.
    under: a command prefix to run the Python under, such as read_only's.

    Returns subprocess.run's CompletedProcess, its output as text. Warm or fresh is not the
    caller's choice: in a test marked warm (or within warm()), a run with script_env()'s
    environment and no more than cwd is a child forked by tests/warm.py, where Keras is loaded
    already; any other run, and every run while TESTS_COLD is set, is a fresh Python.
    """
    script, *args = command
    if then is not None:
        assert not popen and under is None, "runs in turn share one Python: no popen, no under"
        return _run_in_turn([command, *then], patch, ok, env=env, cwd=cwd, timeout=timeout)
    if patch is not None:
        script, args = HARNESS, [*_settings(patch), "--", script, *args]
    elif isinstance(script, str) and script != "-c":
        script = ROOT / script
    command = [str(part) for part in [script, *args]]
    result = None if under is not None else _run_warm(command, env, timeout, cwd=cwd, **popen)
    if result is None:
        result = subprocess.run(
            [*map(str, under or []), sys.executable, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or script_env(),
            cwd=cwd,
            **popen,
        )
    return assert_succeeded(result) if ok else result


def _settings(patch):
    """harness.py's arguments for patch's settings: module.NAME=value, the value as Python."""
    return [f"{name}={value!r}" for name, value in (patch or {}).items()]


def _run_in_turn(runs, patch, ok, **how):
    """run's then: each of runs, [script, *flags] or [*flags] of the script before, in turn in
    one Python (harness.py --runs); a CompletedProcess for each."""
    turns, script = [], None
    for flags in runs:
        flags = [str(flag) for flag in flags]
        if flags and flags[0].endswith(".py") and not flags[0].startswith("-"):
            script, *flags = flags
        assert script, "runs in turn start with a project script's name"
        turns.append((script, flags))
    with tempfile.TemporaryDirectory(prefix="runs-") as folder:
        folder = Path(folder)
        (folder / "runs.json").write_text(json.dumps(turns))
        run(HARNESS, *_settings(patch), "--runs", folder, "--", ok=True, **how)
        results = [
            subprocess.CompletedProcess(
                [script, *flags],
                int((folder / f"{number}.code").read_text()),
                (folder / f"{number}.stdout").read_text(errors="replace"),
                (folder / f"{number}.stderr").read_text(errors="replace"),
            )
            for number, (script, flags) in enumerate(turns)
        ]
    return [assert_succeeded(result) for result in results] if ok else results


def load_keras():
    """Keras in the test's own process, loaded as the scripts load it (quiet, deterministic)."""
    import shell

    with shell.quiet_start():
        import keras
    return keras


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "warm: the test's runs with the usual environment start as children of a Python that "
        "has imported Keras already (tests/warm.py); for tests of what a run does, not of how "
        "a Python starts, shows a warning once, stops, or repeats its numbers",
    )


# TESTS_COLD=1: no run starts in warm.py, whatever the marker says (to measure what it saves).
COLD = bool(os.environ.get("TESTS_COLD"))
_warm = threading.local()  # .wanted: the running test is marked warm
_WARM = {"lock": threading.Lock(), "process": None, "env": None, "unread": b""}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of the test is made, so that its module's fixtures start warm too."""
    _warm.wanted = sys.platform == "linux" and item.get_closest_marker("warm") is not None


@contextlib.contextmanager
def warm():
    """Within it, runs start as in a test marked warm: for what a fixture makes for other tests
    to read, or the one run of a test that is not about its own start."""
    wanted, _warm.wanted = getattr(_warm, "wanted", False), sys.platform == "linux"
    try:
        yield
    finally:
        _warm.wanted = wanted


def _run_warm(command, env, timeout, cwd=None, **popen):
    """command run by warm.py as a CompletedProcess, or None where it must start afresh: a test
    not marked warm, another environment, other Popen arguments, TESTS_COLD set, or warm.py busy
    with a run of another thread of the same test."""
    usual = script_env()
    env = env or usual
    if COLD or not getattr(_warm, "wanted", False) or env != usual or popen:
        return None
    if not _WARM["lock"].acquire(blocking=False):
        return None
    try:
        loaded_with = {name: value for name, value in env.items() if name != "PYTEST_CURRENT_TEST"}
        server = _WARM["process"]
        if server is None or server.poll() is not None or _WARM["env"] != loaded_with:
            if server is not None:
                _stop_warm(server)
            server = _WARM["process"] = subprocess.Popen(
                [sys.executable, str(Path(__file__).parent / "warm.py")],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                preexec_fn=as_from_a_terminal,
            )
            _WARM.update(env=loaded_with, unread=b"")
            atexit.register(_stop_warm, server)
        with tempfile.TemporaryDirectory(prefix="warm-") as folder:
            request = {
                "argv": command,
                "cwd": str(cwd or os.getcwd()),
                "env": env,
                "stdout": f"{folder}/stdout",
                "stderr": f"{folder}/stderr",
            }
            server.stdin.write((json.dumps(request) + "\n").encode())
            server.stdin.flush()
            started = _warm_answer(server, 600)  # the first waits for Keras to load
            assert started, "tests/warm.py started no run within 600 s"
            pid = started["pid"]
            answer = _warm_answer(server, timeout)
            if answer is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _warm_answer(server, 60)
                raise subprocess.TimeoutExpired([sys.executable, *command], timeout)
            output = [_as_text(Path(folder, name).read_bytes()) for name in ("stdout", "stderr")]
        return subprocess.CompletedProcess([sys.executable, *command], answer["code"], *output)
    finally:
        _WARM["lock"].release()


def _stop_warm(server):
    server.kill()
    server.wait()
    for pipe in (server.stdin, server.stdout):
        with contextlib.suppress(OSError):
            pipe.close()


def _warm_answer(server, seconds):
    """warm.py's next answer, or None after seconds without one."""
    deadline = time.monotonic() + seconds
    while b"\n" not in _WARM["unread"]:
        left = deadline - time.monotonic()
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout.fileno(), selectors.EVENT_READ)
            if left <= 0 or not selector.select(left):
                return None
        chunk = os.read(server.stdout.fileno(), 4096)
        assert chunk, "tests/warm.py ended; run the test unmarked to see why"
        _WARM["unread"] += chunk
    line, _WARM["unread"] = _WARM["unread"].split(b"\n", 1)
    return json.loads(line)


def _as_text(output):
    """Bytes as subprocess.run(text=True) gives them: decoded, its newlines made \\n."""
    text = output.decode(locale.getpreferredencoding(False))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def assert_succeeded(result):
    """A finished run that succeeded: exit 0 and nothing at all on stderr."""
    assert result.returncode == 0, ((result.stdout or "")[-2000:], result.stderr[-3000:])
    assert result.stderr == "", result.stderr[-3000:]  # no traceback, no TensorFlow log, no warning
    return result


def assert_one_line_error(result, *expected, code=1):
    """Exit code, no traceback, and one line on stderr holding each expected text."""
    assert result.returncode == code, (result.stdout[-2000:], result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if code == 2:  # argparse prints its usage line first, then the error
        lines = lines[-1:]
    assert len(lines) == 1, result.stderr
    assert len(lines[0]) < 600, lines[0]
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def wait_for_line(process, text, seconds=300):
    """Read the process's stdout until a line holds text; the lines read so far.

    The deadline holds even if the process goes silent. Only what has arrived is read: the
    rest stays in the pipe, so a process that writes more than the pipe holds waits for the
    test to read on (test_stops relies on this). The process must have been started with
    stdout=PIPE, and its stdout read only through this function until communicate().
    """
    deadline = time.monotonic() + seconds
    unread = getattr(process, "unread_stdout", b"")
    lines = []
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout.fileno(), selectors.EVENT_READ)
        while True:
            while b"\n" in unread:
                line, unread = unread.split(b"\n", 1)
                lines.append(line.decode(errors="replace") + "\n")
                if text in lines[-1]:
                    process.unread_stdout = unread
                    return lines
            left = deadline - time.monotonic()
            chunk = (
                os.read(process.stdout.fileno(), 4096)
                if left > 0 and selector.select(left)
                else None
            )
            if not chunk:  # the deadline passed (None), or the process closed its stdout (b"")
                break
            unread += chunk
    process.kill()
    _, stderr = process.communicate(timeout=30)
    ending = "went silent" if chunk is None else "ended"
    raise AssertionError(
        f"no line with {text!r}: the process {ending} (within {seconds} s); its last "
        f"lines:\n{''.join(lines[-30:])}{unread.decode(errors='replace')}\nstderr:\n{stderr[-3000:]}"
    )


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


UNTRAINED_MODELS_PROGRAM = """
import sys
import keras

L = keras.layers
def sequential(shape, *layers):
    return keras.Sequential([keras.Input(shape=shape), *layers])

folder = sys.argv[1]
keras.utils.set_random_seed(0)
sequential((784,), L.Dense(10, activation="softmax")).save(f"{folder}/mnist.keras")
sequential((8,), L.Dense(1, activation="sigmoid")).save(f"{folder}/pima.keras")
sequential((784,), L.Dense(1, activation="sigmoid")).save(f"{folder}/mnist_784_to_1.keras")
sequential((784,), L.Dense(2, activation="softmax")).save(f"{folder}/mnist_784_to_2.keras")
sequential((8,), L.Dense(10, activation="softmax")).save(f"{folder}/eight_to_ten.keras")
a, b = keras.Input(shape=(8,)), keras.Input(shape=(8,))
keras.Model([a, b], L.Dense(1, activation="sigmoid")(L.Concatenate()([a, b]))).save(
    f"{folder}/two_inputs.keras")
a = keras.Input(shape=(8,))
keras.Model(a, [L.Dense(1, activation="sigmoid")(a), L.Dense(1, activation="sigmoid")(a)]).save(
    f"{folder}/two_outputs.keras")
sequential((28, 28), L.Flatten(), L.Dense(1, activation="sigmoid")).save(
    f"{folder}/image_input.keras")
# No activation and a large bias: outputs far above 1, which are no probabilities.
sequential((8,), L.Dense(1, bias_initializer=keras.initializers.Constant(50.0))).save(
    f"{folder}/linear.keras")
"""


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """{name: path} of small untrained Keras models for --predict, made once in one process on
    the scripts' backend: what they are for is how the scripts treat files, streams and
    shapes, not what they predict."""
    folder = tmp_path_factory.mktemp("models")
    with warm():
        result = run("-c", UNTRAINED_MODELS_PROGRAM, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return {path.stem: path for path in folder.glob("*.keras")}


@pytest.fixture(scope="session")
def made_once(tmp_path_factory):
    """made_once(name, make): a folder that make(folder) fills once for the whole test session,
    by whichever pytest-xdist worker asks first; the other waits for it. Tests read its files
    and write elsewhere."""
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the folder of the session, not the worker
        session = session.parent

    def made(name, make):
        folder = session / name
        with open(f"{folder}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits for make to finish
            if not (folder / ".made").is_file():
                shutil.rmtree(folder, ignore_errors=True)  # a make cut short
                folder.mkdir()
                with warm():  # read by tests of what a run writes, not of how it starts
                    make(folder)
                (folder / ".made").touch()
        return folder

    return made


@pytest.fixture(scope="session")
def quick_run(made_once):
    """quick_run(script): (stdout, --out folder, data file) of one `script --quick` run on
    own_data, made once for the whole test session."""
    from makers import own_data

    def train(script, folder):
        data = own_data(script, folder)
        result = run(script, "--quick", "--data", data, "--out", folder / "out", ok=True)
        (folder / "stdout.txt").write_text(result.stdout)

    def trained(script):
        folder = made_once(f"quick-run-{Path(script).stem}", lambda folder: train(script, folder))
        (data,) = folder.glob("own.*")
        return (folder / "stdout.txt").read_text(), folder / "out", data

    return trained


def as_from_a_terminal():
    """preexec_fn: the stop signals' default actions in the child, as a terminal starts it, even
    where pytest's runner ignores one (a shell's background job, a pytest-xdist worker)."""
    for signum in [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]:
        signal.signal(signum, signal.SIG_DFL)


@pytest.fixture
def start_process():
    """Popen for a test: the processes it starts end with the test, whatever happens in it.

    start_process(command, ...) starts command with stdout and stderr piped (unless given),
    in a session of its own; when the test ends, any still running is killed with its children.
    Apart from run, which waits for the end: this is for a test that needs the process while it
    runs, to send it a signal, read its first lines, or ask its server; always a fresh Python.
    """
    started = []

    def start(command, env=None, **popen):
        process = subprocess.Popen(
            [*map(str, command)],
            **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen},
            env=env or script_env(),
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:  # still ours to stop: not yet reaped, so the id is its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its session's group: it and any child
        with contextlib.suppress(ValueError):  # a pipe the test closed itself, as head does
            process.communicate()
        process.wait()


def absent(reason):
    """Skip a test whose real data is absent; fail it where the data must be there (.ci/run)."""
    if os.environ.get("TESTS_NEED_SHARED_DATA"):
        pytest.fail(f"{reason}; TESTS_NEED_SHARED_DATA is set, so this fails instead of skipping")
    pytest.skip(reason)


def shared_file(name):
    path = SHARED_DATA / name
    if not path.is_file():
        absent(f"real data {path} is absent (set SHARED_DATA_DIR to the folder holding {name})")
    return path


def own_digit_files(folder=OWN_DIGITS):
    """Real handwritten digits, the label first in each file name: OWN_DIGITS or LICENSED_DIGITS."""
    files = sorted(folder.glob("[0-9]_*.*")) if folder.is_dir() else []
    if not files:
        variable = "OWN_DIGITS_DIR" if folder == OWN_DIGITS else "LICENSED_DIGITS_DIR"
        absent(f"the handwritten digits in {folder} are absent (set {variable})")
    return files


class LocalServer:
    """An HTTP server on 127.0.0.1 serving `files` (name -> bytes) and counting requests.

    `cut_after[name] = n` sends a full Content-Length but closes the connection after n bytes;
    `pause[name] = s` waits s seconds between chunks of 100 bytes; `redirect[name] = target`
    answers with a redirect to /target; `together[name] = n` holds each request for name
    until n of them are in flight, then answers them all (after 60 s of waiting, it answers
    503 and counts the name in `not_together`).
    """

    def __init__(self):
        self.files, self.cut_after, self.pause, self.redirect, self.together = {}, {}, {}, {}, {}
        self.requests, self.not_together = [], []
        barriers, barriers_lock = {}, threading.Lock()
        server = self

        def wait_for_the_others(name):
            with barriers_lock:
                barrier = barriers.setdefault(name, threading.Barrier(server.together[name]))
            try:
                barrier.wait(timeout=60)
                return True
            except threading.BrokenBarrierError:
                server.not_together.append(name)
                return False

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append(name)
                if name in server.redirect:
                    self.send_response(302)
                    self.send_header("Location", "/" + server.redirect[name])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if name not in server.files:
                    self.send_error(404)
                    return
                if name in server.together and not wait_for_the_others(name):
                    self.send_error(503, "the other requests did not come")
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                body = body[: server.cut_after.get(name, len(body))]
                chunk = 100 if name in server.pause else max(len(body), 1)
                stop = time.monotonic() + 120  # the test's bound: never serve for longer
                for start in range(0, len(body), chunk):
                    try:
                        self.wfile.write(body[start : start + chunk])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        return
                    time.sleep(server.pause.get(name, 0))
                    if time.monotonic() > stop:
                        return
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def local_server():
    server = LocalServer()
    yield server
    server.close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 that refuses connections for the whole test.

    A socket bound to it but not listening holds it: a connection is refused at once, and no
    other process can start listening there meanwhile.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


# The longest tests (20 s to a minute each) start first, so that both workers end together
# rather than one waiting on the other's last long test.
SLOWEST = [
    "test_a_run_on_pima_prints_and_saves_the_interval",  # the first to ask for the folds' runs
    "test_the_notebooks_parameters_are_the_flags",
    "test_full_mnist",
    "test_default_network_on_real_digits",
    "test_the_snippet_for_ones_own_code",
    "test_same_seed_same_numbers",
    "test_quick_runs_on_other_backends",
    "test_without_tensorflow_the_scripts",
    "test_predict_reads_and_prints_labels",
    "test_the_pima_notebook",
    "test_the_readme_run_command",
    "test_dropout_network_is_article_cs",
    "test_pima_compare_writes_compare_json",  # the first to ask for the compare runs
    "test_mnist_compare_writes_compare_json",
]


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not item.name.startswith(tuple(SLOWEST)))
