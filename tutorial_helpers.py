"""What mnist_dense.py and pima_binary.py both need, kept out of their way.

- Importing this module imports Keras with TensorFlow's C++ start-up log hidden.
- `set_seed`: one call seeds Python, NumPy and Keras and makes CPU ops deterministic.
- `batches`: rows for fit and its validation, shuffled anew each epoch even when seeded.
- `download`: fetch a dataset once into a data directory, checked by SHA-256.
- `UserError`, `run`, `positive_int`: a mistake the user can fix, or Ctrl-C, ends in one
  line on stderr.
- `atomic_path`, `save_json`, `save_history_plot`: outputs appear whole or not at all.

Copy this file along with a script: the scripts use nothing else from this project.
"""

import argparse
import contextlib
import hashlib
import json
import os
import re
import signal
import socket
import sys
import tempfile
from pathlib import Path

# TensorFlow prints its C++ start-up log (oneDNN, CUDA, CPU features) on import, some of it
# before any log level applies. Hide those lines while Keras loads and pass on the rest, so
# that a Python warning or error raised on import still reaches the user.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_CPP_LOG_LINE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages before absl|To enable the following instructions)"
)


def _import_keras_quietly():
    sys.stderr.flush()
    real_stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras
        finally:
            sys.stderr.flush()
            os.dup2(real_stderr, 2)
            os.close(real_stderr)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not _CPP_LOG_LINE.match(line):
                    sys.stderr.write(line)
    return keras


keras = _import_keras_quietly()
import matplotlib  # noqa: E402  (after Keras, whose import must come first to be quiet)

matplotlib.use("Agg")  # write PNG files; works on a machine with no screen
import matplotlib.pyplot as plt  # noqa: E402

DOWNLOAD_TIMEOUT_SECONDS = 30


class UserError(Exception):
    """A problem the user can fix: shown as one line, without a traceback."""


# Files being written right now (temporary outputs, a download under way): Ctrl-C deletes them.
_unfinished_files = set()


def run(main):
    """Call main(); turn a UserError or Ctrl-C into one line on stderr and an exit code."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, _stop_at_once)
    try:
        main()
    except UserError as error:
        sys.exit(f"error: {error}")
    # Every output file is closed by now. Leave without the interpreter's teardown, in which
    # TensorFlow takes half a second to unload (measured: 0.5 s after a bare import keras).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _stop_at_once(signum, frame):
    # A KeyboardInterrupt raised in the middle of a TensorFlow step can crash the interpreter
    # as it unwinds (seen: "free(): invalid next size"), so delete what is half-written and
    # leave at once instead.
    for path in list(_unfinished_files):
        with contextlib.suppress(OSError):
            os.remove(path)
    sys.stdout.flush()
    print("interrupted: stopped before the end; no output file was left half-written",
          file=sys.stderr, flush=True)
    os._exit(130)  # the shell's code for a program stopped by Ctrl-C


def positive_int(text):
    """An argparse type: a whole number of 1 or more, such as a count of epochs."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def set_seed(seed):
    """Same seed, same numbers: seeds Python, NumPy and Keras, and makes TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def batches(features, labels, batch_size, shuffle_seed=None):
    """The rows as a tf.data pipeline of batches for fit; reshuffled every epoch if seeded.

    Given NumPy arrays, Keras 3 on TensorFlow shuffles them in the same order every epoch
    once a seed is set (measured: seeded MNIST runs lost about half a point of accuracy),
    and it builds a heavy input pipeline twice an epoch, which for Pima's 49 small batches
    took longer than the training itself. This pipeline fixes both and costs nothing.
    """
    import tensorflow as tf

    rows = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle_seed is not None:
        rows = rows.shuffle(len(features), seed=shuffle_seed, reshuffle_each_iteration=True)
    return rows.batch(batch_size).prefetch(tf.data.AUTOTUNE)  # next batch ready during a step


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url, sha256, data_dir):
    """Return the path of url's file in data_dir, downloading it first unless a copy is there.

    A copy counts only if its SHA-256 matches; Keras's get_file downloads again otherwise.
    """
    data_dir = Path(data_dir)
    path = data_dir / url.rsplit("/", 1)[-1]
    if path.is_file() and sha256_of(path) == sha256:
        print(f"Using {path} (already downloaded, SHA-256 checked)")
        return path
    offline_hint = f"to work offline, put {path.name} in {data_dir}/ or pass --data FILE"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        # get_file would quietly fall back to /tmp/.keras for a folder it cannot write to.
        if not os.access(data_dir, os.W_OK):
            raise PermissionError(f"cannot write to {data_dir}")
    except OSError as error:
        raise UserError(f"data folder {data_dir}: {error}; choose another with --data-dir")
    # urllib waits forever on a silent server; a time-out turns that into an error.
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    _unfinished_files.add(path)
    try:
        keras.utils.get_file(
            path.name, origin=url, file_hash=sha256, cache_dir=data_dir, cache_subdir=""
        )
    except ValueError:  # get_file's "hash does not match"; it leaves the bad file behind
        actual = sha256_of(path) if path.exists() else "nothing"
        path.unlink(missing_ok=True)
        raise UserError(
            f"{url} gave a file with SHA-256 {actual}, expected {sha256}; "
            f"the file was deleted; {offline_hint}"
        )
    except Exception as error:  # get_file deletes a partial file before it re-raises
        path.unlink(missing_ok=True)
        raise UserError(f"could not download {url} ({error}); {offline_hint}")
    finally:
        _unfinished_files.discard(path)
        socket.setdefaulttimeout(previous_timeout)
    return path


def check_writable(folder):
    """Fail now, not after training, if the outputs cannot be written to folder."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        reason = error.strerror or error
        raise UserError(f"cannot write outputs to {folder} ({reason}); choose another with --out")
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; it becomes `path` only if the block succeeds."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(handle)
    _unfinished_files.add(temporary)
    try:
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp's file is private; give the usual mode
        os.replace(temporary, path)
    finally:
        _unfinished_files.discard(temporary)
        if os.path.exists(temporary):
            os.remove(temporary)


def save_json(data, path):
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(data, indent=2) + "\n")


def save_history_plot(history, path, title):
    """Loss and accuracy per epoch, training and validation, side by side."""
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, metric in zip(axes, ["loss", "accuracy"]):
        epochs = range(1, len(history[metric]) + 1)
        axis.plot(epochs, history[metric], label="training")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(metric)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=80)
    plt.close(figure)
