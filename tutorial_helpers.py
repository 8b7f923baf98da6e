"""What mnist_dense.py and pima_binary.py need at the edges of their steps; copy it along
with a script. Only the standard library loads at first, so --help answers at once.

- download(url, sha256, data_dir): a data set fetched once into data/, checked by SHA-256.
- start_keras(seed): Keras on TensorFlow, else JAX, else PyTorch, quiet and seeded.
- check_writable(folder), save_outputs(folder, files): a run's files, all or none.
- load_saved_model(path, how_to_train): a trained model, to predict with.
- run(main, *args): a fixable mistake (UserError) or a stop signal ends in one line, not a
  traceback.
- whole_number, network_drawing, learning_curves: a flag's type and the two pictures both draw.
"""

import argparse
import atexit
import contextlib
import gc
import hashlib
import importlib.util
import itertools
import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path

READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
MIN_BYTES_PER_SECOND = 20_000  # a download slower than this on average is given up
BACKENDS = ["tensorflow", "jax", "torch"]  # the first one installed, unless the user chose
# NumPy 2 warns when Keras saves a TensorFlow variable, whose __array__ predates NumPy 2.
_NUMPY_COPY_WARNING = r"__array__ implementation doesn't accept a copy keyword"
# At exit Python's last garbage collections walk every object TensorFlow and Keras made: about
# a second; frozen, they are left to the operating system (benchmarks/README.md, "Exit").
atexit.register(gc.freeze)


class UserError(Exception):
    """A problem the user can fix: shown as one line, without a traceback."""


def one_line(text, limit=300):
    """Text fit for a one-line message: newlines folded, long text cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def download(url, sha256, data_dir):
    """The path of url's file in data_dir, downloaded unless a copy with that SHA-256 is there. A
    download takes the name only once its SHA-256 matches; a differing copy there is the user's,
    kept under a dated name (printed) when the download replaces it."""
    import http.client  # here, not at the top: a script's first lines load fast
    import urllib.request

    data_dir = Path(data_dir)
    path = data_dir / url.rsplit("/", 1)[-1]
    if path.is_dir():
        raise UserError(
            f"{path} is a folder, where the downloaded {path.name} belongs; move it away, "
            "or pass --data FILE"
        )
    differs = path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != sha256
    if path.is_file() and not differs:
        print(f"Using {path} (already downloaded, SHA-256 checked)")
        return path
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{path.name}-", suffix=".part")
    except OSError as error:
        if differs:
            raise UserError(
                f"{path} differs from the published file (SHA-256 {sha256}), and {data_dir} "
                f"cannot take a fresh copy ({error.strerror or error}); to use your copy as it "
                f"is, pass --data {path}"
            )
        raise UserError(
            f"data folder {data_dir}: {error.strerror or error}; choose another with --data-dir, "
            "or pass --data FILE"
        )
    _unfinished_files.add(temporary)
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)  # a normal file's mode; mkstemp makes it private (0600)
    print(f"Downloading {url}", flush=True)
    started, received = time.monotonic(), 0
    try:
        with (
            os.fdopen(handle, "wb") as file,
            urllib.request.urlopen(url, timeout=READ_TIMEOUT_SECONDS) as response,
        ):
            total = int(response.headers.get("Content-Length") or 0)
            while block := response.read1(1 << 16):  # what has arrived, not a full block
                file.write(block)
                received += len(block)
                # A trickle of a byte every few seconds would beat the read time-out for days.
                allowed = READ_TIMEOUT_SECONDS + max(total, received) / MIN_BYTES_PER_SECOND
                if time.monotonic() - started > allowed:
                    raise OSError(
                        f"gave up after {allowed:.0f} s with {received:,} bytes: slower than "
                        f"{MIN_BYTES_PER_SECOND // 1000} kB/s"
                    )
        if total and received < total:
            raise OSError(f"the connection closed after {received:,} of {total:,} bytes")
        if (actual := hashlib.sha256(Path(temporary).read_bytes()).hexdigest()) != sha256:
            raise OSError(f"the file it gave has SHA-256 {actual}, not the published {sha256}")
        kept = _keep_aside(path) if differs else None
        os.replace(temporary, path)
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's are OSErrors
        if differs:
            raise UserError(
                f"{path} differs from the published file (SHA-256 {sha256}), and a fresh copy "
                f"could not be downloaded from {url} ({one_line(error)}); to use your copy as it "
                f"is, pass --data {path}"
            )
        raise UserError(
            f"could not download {url} ({one_line(error)}); nothing was kept; to work offline, "
            f"put {path.name} in {data_dir}/ or pass --data FILE"
        )
    finally:
        _unfinished_files.discard(temporary)
        with contextlib.suppress(OSError):
            os.remove(temporary)
    print(f"  {received / 1e6:.1f} MB in {time.monotonic() - started:.1f} s")
    if kept:
        print(
            f"  {path} differed from the published file: yours is kept as {kept}; "
            f"to use it, pass --data {kept}"
        )
    return path


def _keep_aside(path):
    """A second, dated name beside path for the file there (the user's), before a download
    takes path: pima.csv.yours-2026-12-02, or ...-2 and on when that is taken."""
    dated = f"{path.name}.yours-{time.strftime('%Y-%m-%d')}"
    for number in itertools.count(1):
        kept = path.with_name(dated if number == 1 else f"{dated}-{number}")
        try:
            os.link(path, kept)  # the same file under a second name: nothing copied or lost
            return kept
        except FileExistsError:
            continue
        except OSError as error:  # a file system without hard links, say
            raise UserError(
                f"{path} differs from the published file, and could not be kept as {kept} "
                f"({error.strerror or error}); move it away to download the published file, "
                f"or pass --data {path} to use it"
            )


def start_keras(seed=None, tensorboard=False):
    """Import Keras, say which backend it runs on when not TensorFlow, and seed it.
    TF_CPP_MIN_LOG_LEVEL 0 or 1 shows TensorFlow's C++ log; unset, 2 or 3 hide it.
    A run on JAX or PyTorch loads no TensorFlow unless it writes TensorBoard logs."""
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # a font cache it cannot write
    # JAX 0.12 warns each time it computes NumPy's 64-bit data in 32 bits, as Keras asks.
    warnings.filterwarnings("ignore", "Explicitly requested dtype", UserWarning)
    chosen, why = os.environ.get("KERAS_BACKEND"), "set by KERAS_BACKEND or keras.json"
    if chosen and chosen not in BACKENDS:
        raise UserError(
            f"Keras backend {chosen!r} cannot train these networks; set KERAS_BACKEND to "
            "tensorflow, jax or torch, or unset it"
        )
    installed = [name for name in BACKENDS if importlib.util.find_spec(name)]
    if not chosen and "tensorflow" not in installed:  # Keras would try TensorFlow, its default
        if not installed:
            raise UserError(
                'no Keras backend is installed: pip install tensorflow, or pip install "jax[cpu]" '
                "where TensorFlow has no release for your Python"
            )
        os.environ["KERAS_BACKEND"] = installed[0]
        why = (
            f"TensorFlow is not installed for Python {sys.version_info.major}."
            f"{sys.version_info.minor}; set KERAS_BACKEND to choose"
        )
    log_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "")
    quiet = "tensorflow" in installed and log_level in ("", "2", "3")
    if quiet:  # 2 still lets TensorFlow print errors that are none here (no GPU)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    with _cpp_log_hidden() if quiet else contextlib.nullcontext():
        try:
            import keras

            if "tensorflow" in installed and tensorboard:  # TensorFlow writes the logs
                import tensorflow  # noqa: F401
        except ModuleNotFoundError as error:  # the backend KERAS_BACKEND or keras.json names
            pip_name = '"jax[cpu]"' if error.name == "jax" else error.name
            raise UserError(
                f"Keras backend {error.name!r} is not installed: install it with pip install "
                f"{pip_name}, or name another in KERAS_BACKEND or keras.json"
            )
    if keras.backend.backend() != "tensorflow":
        print(f"Keras backend: {keras.backend.backend()} ({why})")
    elif quiet:  # a notebook running a script again traces Keras's functions again: no warning
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if seed is not None:
        # Keras asks once whether TensorFlow is installed, and imports it to find out: hidden,
        # it never loads it on JAX or PyTorch (seconds saved: benchmarks/README.md).
        with _tensorflow_hidden():
            keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's generators
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()  # the same sums in the same order
    return keras


def check_writable(folder, flag="--out", what="outputs"):
    """Fail now, not after training, if folder cannot be made or written to; create nothing."""
    folder = Path(folder).absolute()
    existing = next(path for path in [folder, *folder.parents] if path.exists())
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise UserError(
            f"cannot write {what} to {folder} ({error.strerror or one_line(error, 120)}); "
            f"choose another with {flag}"
        )


def save_outputs(folder, files):
    """Write files {name: a function such as model.save, a Figure, dict (JSON), text or bytes} into
    folder, all or none: each under a temporary name, then all renamed while stop signals wait
    and no other run renames into folder. A UserError says why none was written."""
    folder, temporary = Path(folder), {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            if (folder / name).is_dir():
                raise IsADirectoryError(f"a folder named {name} is in the way")
            path = temporary[name] = str(folder / f".{os.getpid()}-{name}")  # ends as name does
            _unfinished_files.add(path)
            if callable(content):  # model.save, say: called with the temporary name
                with warnings.catch_warnings():  # TensorFlow's, not yours: PYTHONWARNINGS=error
                    warnings.filterwarnings("ignore", _NUMPY_COPY_WARNING, DeprecationWarning)
                    content(path)
            elif hasattr(content, "savefig"):
                content.savefig(path, format="png", dpi=80)
            else:
                if isinstance(content, dict):
                    content = json.dumps(content, indent=2) + "\n"
                if isinstance(content, str):
                    content = content.encode("utf-8", "surrogateescape")
                Path(path).write_bytes(content)
        with _renaming_alone(folder):
            for name in files:
                os.replace(temporary[name], folder / name)
    except OSError as error:
        raise UserError(
            f"could not write to {folder} ({one_line(error, 160)}); nothing of this run was "
            "saved; free some space or choose another --out"
        )
    finally:
        for path in temporary.values():
            _unfinished_files.discard(path)
            with contextlib.suppress(OSError):
                os.remove(path)
    print(f"\nSaved in {folder.absolute()}: {', '.join(files)}")
    if type(_ipython()).__name__ == "ZMQInteractiveShell":  # Jupyter, Colab: show the pictures
        from IPython.display import Image, display

        for name in (name for name in files if name.endswith(".png")):
            display(Image(filename=str(folder / name)))


def load_saved_model(path, how_to_train):
    """The Keras model saved at path, to predict with; a UserError says how to train one."""
    if not path.is_file():
        raise UserError(f"no trained model at {path}; train one first with: {how_to_train}")
    keras = start_keras()
    try:  # compile=False: predicting needs no optimizer, nor the saved training settings
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise UserError(
            f"{path} is not a Keras model this script can load ({one_line(error, 120)}); "
            f"train one with: {how_to_train}"
        )


def run(main, *args):
    """Call main(*args); a UserError or a stop signal becomes one line on stderr and an exit code.
    In a notebook, run(mnist_dense.main, ["--predict", *photos]) passes the flags as a list."""
    ipython = _ipython()
    if not ipython:  # IPython's own Ctrl-C handler stays: it stops main() and keeps the variables
        _stop_on_signals()
    stdout, sys.stdout = sys.stdout, _Stdout(sys.stdout)
    try:
        main(*args)
    except SystemExit as error:  # argparse's, after its usage and error line (or --help)
        if not ipython:
            raise
        if not isinstance(error.code, (int, type(None))):
            print(error.code, file=sys.stderr)
        return None  # in IPython, %run would add "SystemExit: 2" and stop a notebook's Run All
    except (UserError, KeyboardInterrupt) as error:  # KeyboardInterrupt: only in IPython
        stopped = f"{_STOPS[signal.SIGINT]}: stopped"
        line = f"error: {error}" if isinstance(error, UserError) else stopped
        if ipython:  # the user's variables live on; a SystemExit would print a traceback
            return print(line, file=sys.stderr)
        sys.exit(line)
    finally:
        sys.stdout.flush()  # through _Stdout: a closed pipe raises nothing
        sys.stdout = stdout


def whole_number(low, high=None):
    """An argparse type: a whole number from low to high (no limit when high is None)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid whole number: {text!r}")
        if value < low or (high is not None and value > high):
            limits = f"{low} or more" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {limits}, got {value}")
        return value

    return parse


def network_drawing(keras, model):
    """{"network.png": the layers, drawn by Graphviz}, or {} without it."""
    if not (shutil.which("dot") and importlib.util.find_spec("pydot")):
        print(
            "network.png not drawn: it needs Graphviz (apt install graphviz, brew install "
            "graphviz or conda install graphviz) and pip install pydot"
        )
        return {}
    drawing = keras.utils.model_to_dot(
        model, show_shapes=True, show_layer_names=False, show_layer_activations=True, dpi=72
    )
    return {"network.png": drawing.create_png()}


def learning_curves(history, best_epoch, title):
    """Loss and accuracy per epoch, training and validation, the lowest validation loss marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="tight")
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        epochs = range(1, len(history[metric]) + 1)
        style = ".-" if len(epochs) <= 20 else "-"  # a dot an epoch while they can be told apart
        axis.plot(epochs, history[metric], style, label="training")
        axis.plot(epochs, history[f"val_{metric}"], style, label="validation")
        axis.axvline(
            best_epoch,
            color="grey",
            linestyle=":",
            label=f"lowest validation loss: epoch {best_epoch}",
        )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # no epoch 1.5
        axis.set(xlabel="epoch", ylabel=metric, xlim=(0.5, len(epochs) + 0.5))
        axis.legend()
    figure.suptitle(f"{title}: learning curves")
    return figure


## Plumbing: stop signals, stdout, TensorFlow's C++ log, the lock on --out ##################

_unfinished_files = set()  # temporary outputs and downloads under way: deleted on a stop


@contextlib.contextmanager
def _tensorflow_hidden():
    """While it holds, importing TensorFlow fails unless it is loaded already."""
    if "tensorflow" in sys.modules:
        yield
        return
    sys.modules["tensorflow"] = None
    try:
        yield
    finally:
        del sys.modules["tensorflow"]


_stderr_fd = 2  # where the one line goes, even while _cpp_log_hidden holds file descriptor 2
_STOPS = {
    getattr(signal, name): text
    for name, text in [
        ("SIGINT", "interrupted (Ctrl-C)"),
        ("SIGTERM", "stopped (SIGTERM)"),
        ("SIGHUP", "stopped (SIGHUP: the terminal closed)"),
    ]
    if hasattr(signal, name)
}


def _ipython():
    """The running IPython or Jupyter shell, or None."""
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


class _Stdout:
    """stdout that stops printing, not the run, once it is a closed pipe or a full disk; a file
    name's undecodable bytes become escapes."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        if self.stream is None:  # started with stdout closed (>&-): there is nowhere to print
            return len(text)
        encoding = self.stream.encoding or "utf-8"
        with contextlib.suppress(OSError):  # BrokenPipeError (| head), ENOSPC (> /dev/full)
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        return len(text)

    def flush(self):
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: stream is None
            self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _stop_on_signals():
    """Ctrl-C, SIGTERM and SIGHUP stop at once, in one line; one ignored (nohup) stays ignored."""
    for signum in _STOPS:
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(signum, _stop_at_once)


def _stop_at_once(signum, frame):
    # A KeyboardInterrupt unwinding out of a TensorFlow step can crash Python, so: exit here.
    for path in list(_unfinished_files):
        with contextlib.suppress(OSError):
            os.remove(path)
    line = f"{_STOPS[signum]}: stopped before the end; no output file was left half-written\n"
    os.write(_stderr_fd, line.encode())
    os._exit(128 + signum)  # the shell's code for a program stopped by that signal


def _imported_by_the_main_script():
    """True when the program's main file itself imports this module, whatever its name."""
    frame = sys._getframe(2)  # 0: this function, 1: this module, 2: import machinery or importer
    while frame is not None and frame.f_globals.get("__name__", "").startswith("importlib"):
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__") == "__main__"


def _closed_streams_to_devnull():
    """stdout or stderr closed at the start (>&-, as a service manager may start a program): give
    its number to /dev/null. Else the next file opened takes it, and printing lands in that file."""
    for number, name in [(1, "stdout"), (2, "stderr")]:
        try:
            os.fstat(number)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)  # the lowest free number: usually this
            if devnull != number:
                os.dup2(devnull, number)
                os.close(devnull)
            setattr(sys, name, open(number, "w", closefd=False))


# A script imports this module before NumPy, so that a stop in its first second is the same
# one line. Programs that import it otherwise (pytest, IPython, your own) keep their handlers.
if _imported_by_the_main_script() and not _ipython():
    _closed_streams_to_devnull()
    _stop_on_signals()


# The lines TensorFlow's C++ code prints as it loads, before any log level applies.
_CPP_LOG_LINE = re.compile(
    rb"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)


@contextlib.contextmanager
def _cpp_log_hidden():
    """Send file descriptor 2 to a file for the block; pass on all but the C++ log lines."""
    global _stderr_fd
    sys.stderr.flush()
    _stderr_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(_stderr_fd, 2)
            real_stderr, _stderr_fd = _stderr_fd, 2
            os.close(real_stderr)
            captured.seek(0)
            for line in captured:
                if not _CPP_LOG_LINE.match(line):
                    sys.stderr.write(line.decode(errors="replace"))


@contextlib.contextmanager
def _renaming_alone(folder):
    """Hold Ctrl-C, SIGTERM and SIGHUP, and other runs' renames into folder, for the block."""
    if os.name != "posix":
        yield
        return
    import fcntl

    held = signal.pthread_sigmask(signal.SIG_BLOCK, set(_STOPS))
    lock = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the handle closes
        yield
    finally:
        os.close(lock)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
