"""What mnist_dense.py and pima_binary.py both need at the edges of their steps; copy it
along with a script. Only the standard library loads at first, so --help answers at once.

- run(main): a fixable mistake (UserError) or a stop signal ends in one line, never a
  traceback; a closed stdout stops the printing, not the work; %run in IPython or Jupyter
  leaves the interpreter alive.
- download: a dataset fetched once into a data folder, checked by SHA-256.
- start_keras(seed): Keras on TensorFlow, else JAX, else PyTorch, quiet and seeded.
- check_writable, save_outputs: a run's files, all or none, with the two pictures both
  scripts draw (the network, the learning curves); load_model: a saved model, or how to train one.
"""

import argparse
import contextlib
import hashlib
import http.client
import importlib.util
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
import warnings
from pathlib import Path

READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
MIN_BYTES_PER_SECOND = 20_000  # a download slower than this on average is given up
BACKENDS = {"tensorflow": "tensorflow", "jax": '"jax[cpu]"', "torch": "torch"}  # pip names


class UserError(Exception):
    """A problem the user can fix: shown as one line, without a traceback."""


def one_line(text, limit=300):
    """Text fit for a one-line message: newlines folded, long text cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def whole_number(low, high=None):
    """An argparse type: a whole number from low to high (no limit when high is None)."""
    def parse(text):
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be {low} or more, got {value}" if high is None else f"must be from {low} to {high}, got {value}")
        return value
    return parse


## Stopping: one line, never a traceback

_unfinished_files = set()  # temporary outputs and downloads under way: deleted on a stop
_stderr_fd = 2  # where the one line goes, even while _cpp_log_hidden holds file descriptor 2
_STOPS = {getattr(signal, name): text for name, text in [
    ("SIGINT", "interrupted (Ctrl-C)"), ("SIGTERM", "stopped (SIGTERM)"),
    ("SIGHUP", "stopped (SIGHUP: the terminal closed)")] if hasattr(signal, name)}


def _ipython():
    """The running IPython or Jupyter shell, or None."""
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


def run(main):
    """Call main(); a UserError or a stop signal becomes one line on stderr and an exit code."""
    ipython = _ipython()
    previous = {signum: signal.getsignal(signum) for signum in _STOPS}
    for signum, handler in previous.items():  # a signal the caller ignores (nohup) stays ignored
        if not ipython and handler in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(signum, _stop_at_once)
    stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        main()
    except (UserError, KeyboardInterrupt) as error:  # KeyboardInterrupt: only in IPython
        _remove_unfinished_files()
        line = f"error: {error}" if isinstance(error, UserError) else f"{_STOPS[signal.SIGINT]}: stopped"
        if ipython:  # the user's variables live on; a SystemExit would print a traceback
            return print(line, file=sys.stderr)
        sys.exit(line)
    finally:
        sys.stdout = stdout
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if not ipython:  # skip the teardown, in which TensorFlow takes half a second to unload
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        os._exit(0)


class _Stdout:
    """stdout that stops printing, not the run, once it is a closed pipe or a full disk, and
    shows a file name's undecodable bytes as escapes."""

    def __init__(self, stream):
        self.stream, self.open = stream, True

    def write(self, text):
        if self.open:
            encoding = self.stream.encoding or "utf-8"
            try:
                self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
            except OSError:  # BrokenPipeError (| head), ENOSPC (> /dev/full)
                self.open = False
        return len(text)

    def flush(self):
        if self.open:
            try:
                self.stream.flush()
            except OSError:
                self.open = False

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _remove_unfinished_files():
    for path in list(_unfinished_files):
        with contextlib.suppress(OSError):
            os.remove(path)


def _stop_at_once(signum, frame):
    # Unwinding a KeyboardInterrupt out of a TensorFlow step can crash the interpreter (seen:
    # "free(): invalid next size"), so delete what is half-written and leave at once.
    _remove_unfinished_files()
    os.write(_stderr_fd, f"{_STOPS[signum]}: stopped before the end; no output file was left "
                         "half-written\n".encode())
    os._exit(128 + signum)  # the shell's code for a program stopped by that signal


## Downloading

def download(url, sha256, data_dir):
    """The path of url's file in data_dir, downloaded first unless a copy with that SHA-256 is there.

    The download goes to a temporary name and takes the file's name only once its SHA-256
    matches: two runs can download at once, and a differing copy is replaced only by a good one.
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
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()  # datasets of megabytes: read at once


def _fetch(url, file):
    """Copy url into file with a progress line; give up on a silent or very slow server."""
    print(f"Downloading {url}")
    started, received = time.monotonic(), 0
    with urllib.request.urlopen(url, timeout=READ_TIMEOUT_SECONDS) as response:
        total = int(response.headers.get("Content-Length") or 0)
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
    """Import Keras, say which backend it runs on when not TensorFlow, and seed it.

    TF_CPP_MIN_LOG_LEVEL 0 or 1 shows TensorFlow's C++ log; unset, 2 or 3 hide it.
    """
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # a font cache it cannot write
    # JAX 0.12 warns each time it computes NumPy's 64-bit data in 32 bits, as Keras asks.
    warnings.filterwarnings("ignore", "Explicitly requested dtype", UserWarning)
    backend, why = _choose_backend()
    os.environ["KERAS_BACKEND"] = backend
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("", "2", "3")
    if quiet:  # 2 still lets TensorFlow print errors that are none here (no GPU)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _cpp_log_hidden() if quiet else contextlib.nullcontext():
        import keras
        if importlib.util.find_spec("tensorflow"):  # Keras loads it on any backend: quietly
            import tensorflow  # noqa: F401
    if why:
        print(f"Keras backend: {backend} ({why})")
    if seed is not None:
        keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's generators
        if backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()  # the same sums in the same order
    return keras


def _choose_backend():
    """(backend, why, or "" for TensorFlow): KERAS_BACKEND, keras.json, or what is installed."""
    chosen = os.environ.get("KERAS_BACKEND")
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    if not chosen:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            chosen = json.loads(config.read_text()).get("backend")
        chosen = None if chosen == "tensorflow" else chosen  # Keras writes that one there itself
    if chosen not in BACKENDS and chosen:
        raise UserError(f"Keras backend {chosen!r} cannot train these networks; set "
                        "KERAS_BACKEND to tensorflow, jax or torch, or unset it")
    if chosen and not importlib.util.find_spec(chosen):
        raise UserError(f"Keras backend {chosen!r} is not installed: install it with pip "
                        f"install {BACKENDS[chosen]}, or unset KERAS_BACKEND")
    if chosen:
        return chosen, "" if chosen == "tensorflow" else "set by KERAS_BACKEND or keras.json"
    installed = [name for name in BACKENDS if importlib.util.find_spec(name)]
    if not installed:
        raise UserError('no Keras backend is installed: pip install tensorflow, or pip install '
                        '"jax[cpu]" where TensorFlow has no release for your Python')
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    return installed[0], "" if installed[0] == "tensorflow" else (
        f"TensorFlow is not installed for {python}; set KERAS_BACKEND to choose")


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
    """Fail now, not after training, if folder cannot be made or written to; create nothing."""
    existing = Path(folder).absolute()
    while not existing.exists():
        existing = existing.parent
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise UserError(f"cannot write outputs to {folder} ({one_line(error, 120)}); choose another with --out")


def save_outputs(folder, files):
    """Write files {name: content} into folder, all or none; a UserError says why it was none.

    A Keras model is saved under a .keras name and drawn under a .png name (with Graphviz);
    a History becomes its learning curves; a matplotlib Figure a PNG; a dict JSON; text and
    bytes stay as they are. Every file is written under a temporary name, then all are
    renamed while stop signals wait and no other run renames into folder: the folder holds
    this run's set or an earlier one's, never a mix.
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
        with _renaming_alone(folder):
            for name in saved:
                os.replace(temporary[name], folder / name)
    except OSError as error:
        raise UserError(f"could not write to {folder} ({one_line(error, 160)}); nothing of this "
                        "run was saved; free some space or choose another --out")
    finally:
        for path in temporary.values():
            _unfinished_files.discard(path)
            with contextlib.suppress(OSError):
                os.remove(path)
    print(f"\nSaved in {folder.absolute()}: {', '.join(saved)}")
    if type(_ipython()).__name__ == "ZMQInteractiveShell":  # Jupyter, Colab: show the pictures
        from IPython.display import Image, display

        for name in (name for name in saved if name.endswith(".png")):
            display(Image(filename=str(folder / name)))


def _write(path, content):
    """Write content to path as its type says; False for a drawing that needs Graphviz."""
    if path.endswith(".keras"):
        content.save(path)
    elif hasattr(content, "layers"):  # a model under a .png name: its layers (article E)
        if not (shutil.which("dot") and importlib.util.find_spec("pydot")):
            print("network.png not drawn: it needs Graphviz (apt install graphviz, brew "
                  "install graphviz or conda install graphviz) and pip install pydot")
            return False
        import keras

        keras.utils.plot_model(content, to_file=path, show_shapes=True, show_layer_activations=True, dpi=72)
    elif hasattr(content, "savefig") or hasattr(content, "epoch"):  # a Figure; fit's History
        figure = content if hasattr(content, "savefig") else _curves(content.history, content.model.name)
        figure.savefig(path, format="png", dpi=80)
    else:
        content = json.dumps(content, indent=2) + "\n" if isinstance(content, dict) else content
        Path(path).write_bytes(content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content)
    return True


def _curves(history, title):
    """Loss and accuracy per epoch, training and validation, the lowest validation loss marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="tight")
    best = 1 + min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], label="training")
        axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.axvline(best, color="grey", linestyle=":", label=f"lowest validation loss: epoch {best}")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3: no 1.5
        axis.set(xlabel="epoch", ylabel=metric)
        axis.legend()
    figure.suptitle(f"{title}: learning curves")
    return figure


@contextlib.contextmanager
def _renaming_alone(folder):
    """Hold Ctrl-C, SIGTERM and SIGHUP, and other runs' renames into folder, for the block."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, set(_STOPS)) if hasattr(signal, "pthread_sigmask") else None
    lock = os.open(folder, os.O_RDONLY) if os.name == "posix" else None
    try:
        if lock is not None:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the handle closes
        yield
    finally:
        if lock is not None:
            os.close(lock)
        if held is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


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
