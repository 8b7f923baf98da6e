"""What mnist_dense.py and pima_binary.py both need, kept out of their way.

Copy this file along with a script: the scripts use nothing else from this project.

- `run(main)`: a mistake the user can fix (`UserError`), Ctrl-C, SIGTERM or SIGHUP ends in
  one line on stderr, never a traceback, and deletes the files left unfinished.
- `import_keras()`: Keras and its backend, loaded after the flags are read and without
  TensorFlow's C++ start-up log.
- `set_seed`: one call seeds Python, NumPy and Keras and makes TensorFlow's ops deterministic.
- `batches`, `progress_verbosity`, `steps_per_call`: how the rows reach fit, the same way on
  TensorFlow, JAX and PyTorch.
- `download`: fetch a dataset once into a data folder, checked by SHA-256.
- `Outputs`, `history_figure`, `draw_network`: the files a run writes, all of them at the
  end or none; two of the pictures both scripts draw.
- `load_model`: a saved model for --predict, or one line that says how to train one.
- `positive_int`, `seed_int`: argparse types.

Only the standard library is imported here at first, so that --help answers at once.
"""

import argparse
import contextlib
import hashlib
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

keras = None  # set by import_keras()

READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
MIN_BYTES_PER_SECOND = 20_000  # a download slower than this on average is given up
BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": '"jax[cpu]"', "torch": "torch"}


class UserError(Exception):
    """A problem the user can fix: shown as one line, without a traceback."""


def one_line(text, limit=300):
    """Text fit for a one-line message: newlines folded, long text cut."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


## Stopping: one line, never a traceback

# Files being written right now (temporary outputs, a download under way): deleted on a stop.
_unfinished_files = set()
_stderr_fd = 2  # where the one line goes, even while _cpp_log_hidden has file descriptor 2
_STOP_SIGNALS = {signal.SIGINT: "interrupted (Ctrl-C)"}
if hasattr(signal, "SIGTERM"):
    _STOP_SIGNALS[signal.SIGTERM] = "stopped (SIGTERM)"
if hasattr(signal, "SIGHUP"):
    _STOP_SIGNALS[signal.SIGHUP] = "stopped (SIGHUP: the terminal closed)"


def run(main):
    """Call main(); turn a UserError or a stop signal into one line on stderr and an exit code."""
    for signum in _STOP_SIGNALS:  # a signal the caller ignores (nohup) stays ignored
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(signum, _stop_at_once)
    try:
        main()
    except UserError as error:
        sys.exit(f"error: {error}")
    # Every output file is closed by now. Leave without the interpreter's teardown, in which
    # TensorFlow takes half a second to unload.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _stop_at_once(signum, frame):
    # Unwinding a KeyboardInterrupt out of a TensorFlow step can crash the interpreter (seen:
    # "free(): invalid next size"), so delete what is half-written and leave at once.
    for path in list(_unfinished_files):
        with contextlib.suppress(OSError):
            os.remove(path)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os.write(_stderr_fd, f"{_STOP_SIGNALS[signum]}: stopped before the end; no output file was left "
                "half-written\n".encode())
    os._exit(128 + signum)  # the shell's code for a program stopped by that signal


def positive_int(text):
    """An argparse type: a whole number of 1 or more, such as a count of epochs."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def seed_int(text):
    """An argparse type: a seed, which NumPy and Keras take from 0 to 2**32 - 1."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be from 0 to 4294967295, got {value}")
    return value


## Loading Keras quietly, on any backend

# The lines TensorFlow's C++ code prints as it loads, some before any log level applies.
_CPP_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following instructions)")


def import_keras():
    """Import Keras and its backend; hide TensorFlow's C++ log unless the user asked for it.

    TF_CPP_MIN_LOG_LEVEL 0 or 1 shows the log; unset, 2 or 3 hide it. At 2, TensorFlow still
    prints errors that are no errors here (no GPU, a tf.data attribute), so 3 is used.
    """
    global keras
    if keras is not None:
        return keras
    quiet = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ("", "2", "3")
    if quiet:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # font cache, read-only HOME
    backend = os.environ.get("KERAS_BACKEND") or _backend_in_keras_json() or "tensorflow"
    if backend not in BACKEND_PACKAGES:
        raise UserError(f"Keras backend {backend!r} cannot train these networks; set "
                        f"KERAS_BACKEND to tensorflow, jax or torch, or unset it")
    if importlib.util.find_spec(backend) is None:
        raise UserError(f"Keras backend {backend!r} is not installed: install it with "
                        f"pip install {BACKEND_PACKAGES[backend]}, or unset KERAS_BACKEND "
                        "to use TensorFlow")
    with _cpp_log_hidden() if quiet else contextlib.nullcontext():
        import keras as loaded
        # Keras loads TensorFlow, when it is installed, on any backend (set_random_seed seeds
        # it too): load it here, while its start-up log is hidden.
        if importlib.util.find_spec("tensorflow") is not None:
            import tensorflow  # noqa: F401
    keras = loaded
    return keras


def _backend_in_keras_json():
    config = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "keras.json"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return json.loads(config.read_text()).get("backend")
    return None


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


def set_seed(seed):
    """Same seed, same numbers: seeds Python, NumPy and Keras, and makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


## Feeding fit

def progress_verbosity():
    """Keras's progress bar on a terminal; in a log file or a pipe, one plain line an epoch."""
    return 1 if sys.stdout.isatty() else 2


def steps_per_call(steps):
    """How many batches fit may run per call into the backend; PyTorch allows only one."""
    return 1 if keras.backend.backend() == "torch" else steps


def batches(features, labels, batch_size, shuffle_seed=None):
    """The rows in batches for fit, in a new order every epoch when shuffle_seed is given.

    Given NumPy arrays once a seed is set, Keras 3 on TensorFlow shuffles them in the same
    order every epoch (measured: seeded MNIST runs lost about half a point of accuracy),
    and it builds a heavy input pipeline twice an epoch, which for Pima's 49 small batches
    took longer than the training itself. On TensorFlow this is a tf.data pipeline; on JAX
    and PyTorch, a keras.utils.PyDataset.
    """
    import numpy as np

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        rows = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle_seed is not None:
            rows = rows.shuffle(len(features), seed=shuffle_seed, reshuffle_each_iteration=True)
        return rows.batch(batch_size).prefetch(tf.data.AUTOTUNE)  # next batch ready during a step

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = np.arange(len(features))
            self.rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
            self.on_epoch_end()

        def __len__(self):
            return -(-len(features) // batch_size)

        def __getitem__(self, index):
            rows = self.order[index * batch_size:(index + 1) * batch_size]
            return features[rows], labels[rows]

        def on_epoch_end(self):
            if self.rng is not None:
                self.rng.shuffle(self.order)

    return Batches()


## Downloading

def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url, sha256, data_dir):
    """Return the path of url's file in data_dir, downloading it first unless a copy is there.

    A copy counts only if its SHA-256 matches. The download goes to a temporary name and
    replaces the file only once its SHA-256 has been checked, so a file of the user's is
    never lost and two runs can download at once.
    """
    data_dir = Path(data_dir)
    path = data_dir / url.rsplit("/", 1)[-1]
    if path.is_dir():
        raise UserError(f"{path} is a folder, where the downloaded {path.name} belongs; "
                        "move it away, or pass --data FILE")
    differs = path.is_file() and sha256_of(path) != sha256
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
        actual = sha256_of(temporary)
        if actual != sha256:
            raise OSError(f"the file it gave has SHA-256 {actual}, not the published {sha256}")
        os.replace(temporary, path)
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's are OSErrors
        reason = one_line(error)
        if differs:
            raise UserError(
                f"{path} differs from the published file (SHA-256 {sha256}), and a fresh copy "
                f"could not be downloaded from {url} ({reason}); to use your copy as it is, "
                f"pass --data {path}")
        raise UserError(f"could not download {url} ({reason}); nothing was kept; to work "
                        f"offline, put {path.name} in {data_dir}/ or pass --data FILE")
    finally:
        _unfinished_files.discard(temporary)
        with contextlib.suppress(OSError):
            os.remove(temporary)
    return path


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


## Writing the outputs

class Outputs:
    """The files a run writes to one folder: kept until save(), then written all together.

    save() writes each file under a temporary name, then renames them all while Ctrl-C,
    SIGTERM and SIGHUP wait, so the folder holds the previous run's set or this run's, never
    a mix. A file that cannot be written is reported, and the others are still saved.
    """

    def __init__(self, folder):
        """Fail now, not after training, if nothing can be written to folder."""
        self.folder = Path(folder)
        self.writers = {}  # file name -> function that writes the file at a path
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.folder):
                pass
        except OSError as error:
            raise UserError(f"cannot write outputs to {self.folder} "
                            f"({one_line(error.strerror or error, 120)}); choose another with --out")

    def add(self, name, write):
        self.writers[name] = write

    def add_bytes(self, name, data):
        self.add(name, lambda path: Path(path).write_bytes(data))

    def add_json(self, name, data):
        self.add_bytes(name, (json.dumps(data, indent=2) + "\n").encode())

    def add_figure(self, name, figure):
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=80)
        self.add_bytes(name, png.getvalue())

    def save(self):
        """Write every file; return their names. A UserError lists any that failed."""
        written, failed = {}, {}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)  # again: it may have been deleted
        except OSError as error:
            raise UserError(f"cannot write outputs to {self.folder} ({one_line(error)})")
        for name, write in self.writers.items():
            stem, suffix = os.path.splitext(name)
            try:
                handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{stem}-", suffix=suffix)
                os.close(handle)
            except OSError as error:
                failed[name] = one_line(error.strerror or error, 120)
                continue
            _unfinished_files.add(temporary)
            try:
                write(temporary)
                os.chmod(temporary, 0o666 & ~_umask())  # mkstemp's file is private
                written[name] = temporary
            except Exception as error:  # a full disk, say: keep whatever else can be written
                failed[name] = one_line(getattr(error, "strerror", None) or error, 120)
                _unfinished_files.discard(temporary)
                with contextlib.suppress(OSError):
                    os.remove(temporary)
        with _stop_signals_held():
            for name, temporary in written.items():
                try:
                    os.replace(temporary, self.folder / name)
                except OSError as error:  # a folder of that name, say
                    failed[name] = one_line(error.strerror or error, 120)
                    with contextlib.suppress(OSError):
                        os.remove(temporary)
                _unfinished_files.discard(temporary)
        saved = [name for name in self.writers if name not in failed]
        if failed:
            problems = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
            kept = f"saved {', '.join(saved)}" if saved else "nothing was saved"
            raise UserError(f"could not write to {self.folder}: {problems}; {kept}")
        return saved


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _stop_signals_held():
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done (where the OS allows it)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, set(_STOP_SIGNALS))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def history_figure(history, title):
    """Loss and accuracy per epoch, training and validation, side by side."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="tight")
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], label="training")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epoch 1, 2, 3: no 1.5
        axis.set(xlabel="epoch", ylabel=metric)
        axis.legend()
    figure.suptitle(printable(title))
    return figure


def printable(text):
    """Text that any font and terminal can show: a file name's undecodable bytes become '?'."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").replace("\ufffd", "?")


def draw_network(model, outputs):
    """network.png, the model as a graph of layers, when Graphviz is installed (article E)."""
    if shutil.which("dot") is None or importlib.util.find_spec("pydot") is None:
        missing = "pip install pydot" if shutil.which("dot") else (
            "apt install graphviz, brew install graphviz or conda install graphviz")
        print(f"network.png not drawn: it needs Graphviz ({missing})")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "network.png"
        keras.utils.plot_model(model, to_file=path, show_shapes=True,
                               show_layer_activations=True, dpi=72)
        outputs.add_bytes("network.png", path.read_bytes())


## Loading a saved model

def load_model(path, how_to_train):
    """The model saved at path; a UserError that says how to train one if there is none."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no trained model at {path}; train one first with: {how_to_train}")
    import_keras()
    try:
        # compile=False: predicting needs no optimizer, and the training settings saved with
        # the model (steps_per_execution) may not suit this backend.
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise UserError(f"{path} is not a Keras model this script can load "
                        f"({one_line(error, 120)}); train one with: {how_to_train}")
