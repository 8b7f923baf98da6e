"""What mnist_dense.py and pima_binary.py both need at the edges of their steps.

Copy this file along with a script: the scripts use nothing else from this project.

- `run(main)`: a mistake the user can fix (`UserError`), Ctrl-C, SIGTERM or SIGHUP ends in
  one line, never a traceback; in IPython or Jupyter the interpreter stays alive.
- `download`: a dataset fetched once into a data folder, checked by SHA-256.
- `start_keras(seed)`: Keras on TensorFlow, else JAX, else PyTorch, without TensorFlow's
  start-up log, seeded so that the same seed gives the same numbers.
- `check_writable`, `save_outputs`: a run's files, written all together at the end or not
  at all, with the two pictures both scripts draw (the network and its learning curves).
- `load_model`: a saved model for --predict, or one line that says how to train one.

Only the standard library is imported here at first, so that --help answers at once.
"""

import argparse
import contextlib
import http.client
import importlib.util
import io
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
MIN_BYTES_PER_SECOND = 20_000  # a download slower than this on average is given up
BACKENDS = {"tensorflow": "tensorflow", "jax": '"jax[cpu]"', "torch": "torch"}  # and pip names


class UserError(Exception):
    """A problem the user can fix: shown as one line, without a traceback."""


def one_line(text, limit=300):
    """Text fit for a one-line message: newlines folded, long text cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


## Stopping: one line, never a traceback

_unfinished_files = set()  # temporary outputs and downloads under way: deleted on a stop
_stderr_fd = 2  # where the one line goes, even while _cpp_log_hidden holds file descriptor 2
_STOPS = {getattr(signal, name): text for name, text in [
    ("SIGINT", "interrupted (Ctrl-C)"), ("SIGTERM", "stopped (SIGTERM)"),
    ("SIGHUP", "stopped (SIGHUP: the terminal closed)")] if hasattr(signal, name)}


def _in_ipython():
    ipython = sys.modules.get("IPython")
    return ipython is not None and ipython.get_ipython() is not None


def run(main):
    """Call main(); a UserError or a stop signal becomes one line on stderr and an exit code.

    In IPython and Jupyter (%run) the interpreter and its Ctrl-C handler stay as they were.
    """
    in_ipython = _in_ipython()
    previous = {signum: signal.getsignal(signum) for signum in _STOPS}
    if not in_ipython:  # a signal the caller ignores (nohup) stays ignored
        for signum, handler in previous.items():
            if handler in (signal.default_int_handler, signal.SIG_DFL):
                signal.signal(signum, _stop_at_once)
    real_stdout, sys.stdout = sys.stdout, _ClosedStdoutIgnored(sys.stdout)
    try:
        main()
    except (UserError, KeyboardInterrupt) as error:
        _remove_unfinished()
        line = f"error: {error}" if isinstance(error, UserError) else f"{_STOPS[signal.SIGINT]}: stopped"
        if in_ipython:
            print(line, file=sys.stderr)
            return
        sys.exit(line if isinstance(error, UserError) else 130)
    finally:
        sys.stdout = real_stdout
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not in_ipython:
        # Leave without the interpreter's teardown, in which TensorFlow takes half a second
        # to unload, and which would report a closed stdout once more.
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


class _ClosedStdoutIgnored:
    """stdout that stops printing, not the run, when it is a closed pipe or a full disk."""

    def __init__(self, stream):
        self._stream, self._closed = stream, False

    def write(self, text):
        if not self._closed:
            try:
                self._stream.write(text.encode(self._stream.encoding or "utf-8", "backslashreplace")
                                   .decode(self._stream.encoding or "utf-8"))
            except OSError:  # BrokenPipeError (output | head), ENOSPC (> /dev/full)
                self._closed = True
        return len(text)

    def flush(self):
        if not self._closed:
            try:
                self._stream.flush()
            except OSError:
                self._closed = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _remove_unfinished():
    for path in list(_unfinished_files):
        with contextlib.suppress(OSError):
            os.remove(path)


def _stop_at_once(signum, frame):
    # Unwinding a KeyboardInterrupt out of a TensorFlow step can crash the interpreter (seen:
    # "free(): invalid next size"), so delete what is half-written and leave at once.
    _remove_unfinished()
    os.write(_stderr_fd, f"{_STOPS[signum]}: stopped before the end; no output file was left "
                         "half-written\n".encode())
    os._exit(128 + signum)  # the shell's code for a program stopped by that signal


def positive_int(text):
    """An argparse type: a whole number of 1 or more, such as a count of epochs."""
    if (value := int(text)) < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def seed_int(text):
    """An argparse type: a seed, which NumPy and Keras take from 0 to 2**32 - 1."""
    if not 0 <= (value := int(text)) < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to 4294967295, got {value}")
    return value


## Downloading

def download(url, sha256, data_dir):
    """Return the path of url's file in data_dir, downloading it first unless a copy is there.

    A copy counts only if its SHA-256 matches. The download goes to a temporary name and
    replaces the file only once its SHA-256 has been checked, so two runs can download at
    once, and a differing copy of the user's is kept whenever no good file arrives.
    """
    data_dir = Path(data_dir)
    path = data_dir / url.rsplit("/", 1)[-1]
    if path.is_dir():
        raise UserError(f"{path} is a folder, where the downloaded {path.name} belongs; "
                        "move it away, or pass --data FILE")
    differs = path.is_file() and _sha256(path) != sha256
    if path.is_file() and not differs:
        print(f"Using {path} (already downloaded, SHA-256 checked)")
        return path
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{path.name}-", suffix=".part")
    except OSError as error:
        raise UserError(f"data folder {data_dir}: {one_line(error)}; choose another with --data-dir")
    _unfinished_files.add(temporary)
    try:
        with os.fdopen(handle, "wb") as file:
            _fetch(url, file)
        if (actual := _sha256(temporary)) != sha256:
            raise OSError(f"the file it gave has SHA-256 {actual}, not the published {sha256}")
        os.replace(temporary, path)
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's are OSErrors
        if differs:
            raise UserError(
                f"{path} differs from the published file (SHA-256 {sha256}), and a fresh copy "
                f"could not be downloaded from {url} ({one_line(error)}); to use your copy as "
                f"it is, pass --data {path}")
        raise UserError(f"could not download {url} ({one_line(error)}); nothing was kept; to "
                        f"work offline, put {path.name} in {data_dir}/ or pass --data FILE")
    finally:
        _unfinished_files.discard(temporary)
        with contextlib.suppress(OSError):
            os.remove(temporary)
    return path


def _sha256(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url, file):
    """Copy url into file with a progress line; give up on a silent or very slow server."""
    print(f"Downloading {url}")
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=READ_TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0)
        received = 0
        while block := response.read1(1 << 16):  # what has arrived, not a full block
            file.write(block)
            received += len(block)
            # The read time-out alone lets a trickle of a byte every few seconds go on for
            # days: the whole download gets a deadline that grows with its size.
            allowed = READ_TIMEOUT_SECONDS + max(total, received) / MIN_BYTES_PER_SECOND
            if time.monotonic() - started > allowed:
                raise OSError(f"gave up after {allowed:.0f} s with {received:,} bytes: slower "
                              f"than {MIN_BYTES_PER_SECOND // 1000} kB/s")
            if sys.stdout.isatty():
                share = f"{received / total:4.0%} of {total / 1e6:.1f} MB" if total else ""
                print(f"\r  {received / 1e6:6.1f} MB {share}", end="", flush=True)
    if total and received < total:
        raise OSError(f"the connection closed after {received:,} of {total:,} bytes")
    end = "\r" if sys.stdout.isatty() else ""
    print(f"{end}  {received / 1e6:.1f} MB in {time.monotonic() - started:.1f} s" + " " * 20)


## Starting Keras quietly, on any backend

# The lines TensorFlow's C++ code prints as it loads, some before any log level applies.
_CPP_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following instructions)")


def start_keras(seed=None):
    """Import Keras, say which backend it runs on and why, and seed it when seed is given.

    TF_CPP_MIN_LOG_LEVEL 0 or 1 shows TensorFlow's C++ log; unset, 2 or 3 hide it.
    """
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # a font cache it cannot write
    backend, why = _choose_backend()
    os.environ["KERAS_BACKEND"] = backend
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("", "2", "3")
    if quiet:  # 2 still lets TensorFlow print errors that are none here (no GPU)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _cpp_log_hidden() if quiet else contextlib.nullcontext():
        import keras
        # Keras loads TensorFlow when it is installed, on any backend: let it load while
        # its start-up log is hidden.
        if importlib.util.find_spec("tensorflow") is not None:
            import tensorflow  # noqa: F401
    if why:
        print(f"Keras {keras.__version__} on {backend} ({why})")
    if seed is not None:
        keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's generators
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()  # same sums in the same order
    return keras


def _choose_backend():
    """(backend, why it was chosen, or "" for the usual TensorFlow)."""
    chosen = os.environ.get("KERAS_BACKEND")
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    if not chosen and config.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            chosen = json.loads(config.read_text()).get("backend")
    if chosen:
        if chosen not in BACKENDS:
            raise UserError(f"Keras backend {chosen!r} cannot train these networks; set "
                            "KERAS_BACKEND to tensorflow, jax or torch, or unset it")
        if importlib.util.find_spec(chosen) is None:
            raise UserError(f"Keras backend {chosen!r} is not installed: install it with pip "
                            f"install {BACKENDS[chosen]}, or unset KERAS_BACKEND")
        return chosen, "" if chosen == "tensorflow" else "chosen by KERAS_BACKEND or keras.json"
    for backend in BACKENDS:
        if importlib.util.find_spec(backend) is not None:
            python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
            return backend, "" if backend == "tensorflow" else (
                f"TensorFlow is not installed for {python}; set KERAS_BACKEND to choose")
    raise UserError("no Keras backend is installed: pip install tensorflow, or jax[cpu] where "
                    "TensorFlow has no release for your Python")


@contextlib.contextmanager
def _cpp_log_hidden():
    """Send file descriptor 2 to a file for the block; pass on all but the C++ log lines."""
    global _stderr_fd
    sys.stderr.flush()
    real_stderr = _stderr_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(real_stderr, 2)
            _stderr_fd = 2
            os.close(real_stderr)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not _CPP_LOG_LINE.match(line):
                    sys.stderr.write(line)


## Writing the outputs, all or none

def check_writable(folder):
    """Fail now, not after training, if folder cannot be made or written; create nothing."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise UserError(f"cannot write outputs to {folder} ({one_line(error, 120)}); "
                        "choose another with --out")


def save_outputs(folder, files):
    """Write files {name: what} into folder: all of them, or none and one line that says why.

    What each name holds decides how it is written: a Keras model as model.keras, or as a
    picture of its layers under a .png name (with Graphviz); a History as its learning
    curves; a matplotlib figure as a PNG; a dict as JSON; text or bytes as they are. Each
    file is written under a temporary name first, then all are renamed while stop signals
    wait, so the folder holds this run's set or the previous run's, never a mix.
    """
    folder, temporary, saved = Path(folder), {}, []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            if (folder / name).is_dir():
                raise IsADirectoryError(f"a folder named {name} is in the way")
            temporary[name] = str(folder / f".{os.getpid()}-{name}")  # ends as name does
            _unfinished_files.add(temporary[name])
            if _write(temporary[name], content):  # False: a picture that cannot be drawn here
                saved.append(name)
        with _stop_signals_held(), _folder_locked(folder):  # one run's renames at a time
            for name in saved:
                os.replace(temporary[name], folder / name)
    except OSError as error:  # a full disk, say: nothing of this run is kept
        raise UserError(f"could not write to {folder} ({one_line(error, 160)}); nothing of "
                        "this run was saved; free some space or choose another --out")
    finally:
        for path in temporary.values():
            _unfinished_files.discard(path)
            with contextlib.suppress(OSError):
                os.remove(path)
    print(f"\nSaved in {folder.absolute()}: {', '.join(saved)}")
    if _in_ipython() and type(sys.modules["IPython"].get_ipython()).__name__ != "TerminalInteractiveShell":
        from IPython.display import Image, display

        for name in saved:
            if name.endswith(".png"):
                display(Image(filename=str(folder / name)))  # the notebook shows the pictures


def _write(path, content):
    """Write content to path as its type says; False when it is a picture that needs Graphviz."""
    if path.endswith(".keras"):
        content.save(path)
    elif hasattr(content, "layers"):  # a model under a .png name: its layers (article E)
        if shutil.which("dot") is None or importlib.util.find_spec("pydot") is None:
            print("network.png not drawn: it needs Graphviz (apt install graphviz, brew "
                  "install graphviz or conda install graphviz) and pip install pydot")
            return False
        import keras

        keras.utils.plot_model(content, to_file=path, show_shapes=True,
                               show_layer_activations=True, dpi=72)
    elif hasattr(content, "epoch"):  # the History that fit returns
        _history_figure(content).savefig(path, format="png", dpi=80)
    elif hasattr(content, "savefig"):
        content.savefig(path, format="png", dpi=80)
    else:
        if isinstance(content, dict):
            content = json.dumps(content, indent=2) + "\n"
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")  # file names as they were
        Path(path).write_bytes(content)
    return True


def _history_figure(history):
    """Loss and accuracy per epoch, training and validation; the best epoch marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    curves = history.history
    figure = Figure(figsize=(10, 4), layout="tight")
    best = 1 + min(range(len(curves["val_loss"])), key=curves["val_loss"].__getitem__)
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        epochs = range(1, len(curves[metric]) + 1)
        axis.plot(epochs, curves[metric], label="training")
        axis.plot(epochs, curves[f"val_{metric}"], label="validation")
        axis.axvline(best, color="grey", linestyle=":", label=f"lowest validation loss: epoch {best}")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3: no 1.5
        axis.set(xlabel="epoch", ylabel=metric)
        axis.legend()
    figure.suptitle(f"{history.model.name}: learning curves")
    return figure


@contextlib.contextmanager
def _folder_locked(folder):
    """Let one run at a time rename its files into folder (where the OS has flock)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


@contextlib.contextmanager
def _stop_signals_held():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done (where the OS allows it)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(_STOPS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


## Loading a saved model

def load_model(path, how_to_train):
    """The model saved at path; a UserError that says how to train one if there is none."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no trained model at {path}; train one first with: {how_to_train}")
    keras = start_keras()
    try:
        # compile=False: predicting needs no optimizer, and the training settings saved with
        # the model (steps_per_execution) may not suit this backend.
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise UserError(f"{path} is not a Keras model this script can load "
                        f"({one_line(error, 120)}); train one with: {how_to_train}")
