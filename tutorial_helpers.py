"""What the lessons' steps call, in a script and in a notebook alike: Keras loaded with its
backend checked, a download checked by its SHA-256, the settings' rules, outputs saved all or
none, learning curves, an accuracy's interval; a mistake as one line (UserError). Importing it
changes nothing: its functions act. What a script needs in a shell is in shell.py.
"""

import argparse
import contextlib
import hashlib
import http.client
import importlib
import importlib.util
import json
import logging
import math
import os
import sys
import tempfile
import urllib.request
import warnings
from pathlib import Path

SEEDS = 2**32 - 1  # the largest seed: NumPy's generators take 0 to 2**32 - 1
READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
BACKENDS = ["jax", "tensorflow", "torch"]  # the Keras backends that train
PACKAGES = {"jax": '"jax[cpu]"'}  # what pip installs for a backend, where not its name
# What the scripts' runs leave in --out: a training run replaces them all (save_outputs).
RUN_FILES = {"model.keras", "metrics.json", "history.png", "samples.png", "predictions.png",
             "mistakes.png", "confusion.png", "network.png", "folds.png", "own_predictions.csv",
             "own_predictions.png", "compare.json", "compare.png"}  # fmt: skip
FORMULA_MARKS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell so begun
unfinished_files = set()  # temporary outputs and downloads under way: a stop deletes them
_renames = []  # save_outputs' last stage, [(temporary file, name, or None: remove name)]
script_flags = False  # True while shell.run runs a script: messages name its flags


class UserError(Exception):
    """A mistake the user can fix: shown as one line, without a traceback (in Jupyter too)."""

    def _render_traceback_(self):  # what IPython shows instead of a traceback
        return [f"error: {self}"]


def setting(name):  # how a message names a setting: --data in a script, data_file in a notebook
    flags = {"data_file": "--data", "photos": "--predict", "new_rows_file": "--predict"}
    return (flags.get(name) or "--" + name.replace("_", "-")) if script_flags else name


def one_line(text, limit=300):  # text fit for a one-line message: newlines folded, long text cut
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def quiet_start():
    """Around the import of Keras: the backend checked first; then, on TensorFlow, op determinism
    on (same seed, same numbers) and its retracing warnings off. shell.py adds what a script in a
    shell needs."""
    check_backend()
    yield
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # a font cache it cannot write
    if sys.modules["keras"].backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing, from a fifth run on


def check_backend():
    """A UserError, naming the fix, if the backend KERAS_BACKEND names is not installed."""
    installed = [name for name in BACKENDS if importlib.util.find_spec(name)]
    if (chosen := os.environ.get("KERAS_BACKEND") or "tensorflow") not in installed:
        fix = "use jax, tensorflow or torch"
        if chosen in BACKENDS:  # or the first one installed
            fix = f"pip install {PACKAGES.get(chosen, chosen)}"
            fix += "".join(f", or run on {name}: KERAS_BACKEND={name}" for name in installed[:1])
        raise UserError(f"Keras backend {chosen!r} cannot train these networks here; {fix}")


def whole_number(low, high=None):
    """An argparse type: a whole number from low to high (no limit when high is None)."""

    def parse(text):
        if not (text.strip().lstrip("+-").isdigit() and low <= int(text) <= (high or int(text))):
            limits = f"of {low} or more" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {limits}, got {text!r}")
        return int(text)

    return parse


def check_number(name, value, low, high=None):
    """value as whole_number checks a flag; else a UserError naming the setting (a notebook's)."""
    try:
        return whole_number(low, high)(str(value))
    except argparse.ArgumentTypeError as error:
        raise UserError(f"{setting(name)}: {error}") from None


def check_settings(epochs_of, batch_size_of, quick_epochs, network, epochs, batch_size, seed,
                   quick, tensorboard, out):  # fmt: skip
    """What a training's settings must be, in a script and in a notebook alike, said before
    anything trains, in one line naming the setting. Returns the epochs and batch size: those
    chosen, else the article's for the network (epochs_of, batch_size_of), or quick_epochs."""
    if network not in epochs_of:
        raise UserError(f"{setting('network')}: {network!r} is not one of {', '.join(epochs_of)}")
    for name, value, low, high in [
        ("epochs", epochs, 1, None),
        ("batch_size", batch_size, 1, None),
        ("seed", seed, 0, SEEDS),
    ]:
        if value is not None or name == "seed":  # None: the article's
            check_number(name, value, low, high)
    check_writable(out)  # now, not after training
    if tensorboard and not all(map(importlib.util.find_spec, ["tensorflow", "tensorboard"])):
        raise UserError(f"{setting('tensorboard')} needs TensorFlow: pip install tensorflow "
                        "tensorboard")  # fmt: skip
    if tensorboard:
        check_writable(tensorboard, "tensorboard")
    return epochs or (quick_epochs if quick else epochs_of[network]), batch_size or batch_size_of[
        network
    ]


def check_writable(folder, name="out"):
    """Fail now, not after training, if folder cannot be made or written to; create nothing."""
    try:
        tempfile.TemporaryFile(dir=_existing(folder)).close()
    except OSError as error:
        why = error.strerror or one_line(error, 120)
        raise UserError(f"cannot write to {folder} ({why}); choose another {setting(name)}")


def download(url, sha256, data_dir):
    """url's file in data_dir, downloaded once; it takes its name only once its SHA-256 matches."""
    path, data_file = Path(data_dir) / url.rsplit("/", 1)[-1], setting("data_file")
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
        print(f"Using {path} (already downloaded, SHA-256 checked)")
        return path
    if path.exists():  # the user's own: never replaced
        raise UserError(f"{path} is there, not the published {path.name} (SHA-256 {sha256}); "
                        f"move it away to download, or name a copy with {data_file}")  # fmt: skip
    check_writable(path.parent, "data_dir")  # now, not after the download
    part = _existing(path.parent) / f".{path.name}-{os.getpid()}.part"  # no folder made till done
    print(f"Downloading {url}", flush=True)
    try:
        unfinished_files.add(part)
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT_SECONDS) as response:
            part.write_bytes(response.read())  # 11 MB at most
        if (actual := hashlib.sha256(part.read_bytes()).hexdigest()) != sha256:
            raise OSError(f"the file it gave has SHA-256 {actual}, not the published {sha256}")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, path)
    except (OSError, ValueError, http.client.HTTPException) as error:  # urllib's are OSErrors
        raise UserError(f"could not download {url} into {path.parent} ({one_line(error)}); "
                        f"nothing was kept; to work offline, put {path.name} there or name a "
                        f"copy with {data_file}")  # fmt: skip
    finally:
        unfinished_files.discard(part)
        with contextlib.suppress(OSError):
            os.remove(part)
    return path


def save_outputs(folder, files):
    """Write {name: text, bytes or a writer such as model.save} into folder, all or none. A
    folder holds one run: a run that saves metrics.json or compare.json (a training, the folds,
    --compare) removes what an earlier one left there that it does not write again, such as a
    model beside the folds' figures; the user's other files stay."""
    folder, temporary, home = Path(folder), {}, _existing(folder)  # no folder made till the end
    try:
        for name, content in files.items():
            if (folder / name).is_dir():  # found before a file is renamed: all or none
                raise IsADirectoryError(f"a folder named {name} is in the way")
            path = temporary[name] = str(home / f".{os.getpid()}-{name}")  # ends as name does
            unfinished_files.add(path)
            if isinstance(content, str) and name.endswith(".json"):  # strict JSON: NaN is null
                content = json.dumps(json.loads(content, parse_constant=lambda _: None), indent=2)
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogateescape")  # a file name's odd bytes too
            if isinstance(content, bytes):
                Path(path).write_bytes(content)
            else:  # model.save or a Figure's savefig: given the temporary name
                with warnings.catch_warnings():  # TensorFlow's, not yours: PYTHONWARNINGS=error
                    warnings.filterwarnings("ignore", "__array__ implementation")
                    content(path)
        folder.mkdir(parents=True, exist_ok=True)
        _renames[:] = [(temporary[name], folder / name) for name in files]
        if {"metrics.json", "compare.json"} & set(files):  # a run's, not --predict's: an
            _renames.extend((None, folder / name) for name in sorted(RUN_FILES - set(files)))
        try:  # earlier run's other files go
            finish_saving()
        except KeyboardInterrupt:  # in IPython; in a script, shell.py's stop finishes them
            finish_saving()
            raise
    except OSError as error:
        raise UserError(f"could not write to {folder} ({one_line(error, 160)}); nothing of "
                        f"this run was saved; free some space, or choose another "
                        f"{setting('out')}")  # fmt: skip
    finally:
        for path in temporary.values():
            unfinished_files.discard(path)
            with contextlib.suppress(OSError):
                os.remove(path)
    print(f"\nSaved in {folder.absolute()}: {', '.join(files)}")
    if type(ipython()).__name__ == "ZMQInteractiveShell":  # Jupyter, Colab: show the pictures
        from IPython.display import Image, display

        display(*[Image(filename=str(folder / name)) for name in files if name.endswith(".png")])


def finish_saving():
    """The renames save_outputs has still to do, done. A script's stop (shell.py) calls it too,
    so that a stop while a save renames its files leaves all of them, never a mix."""
    while _renames:
        temporary, path = _renames[0]
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):  # done before a stop
            os.replace(temporary, path) if temporary else os.remove(path)
        _renames.pop(0)


def spreadsheet_text(cell):
    """The cell as a CSV file for spreadsheets holds it: text that would run as a formula
    (=1+1, -2+3, @SUM(1)) behind a ', which shows it as text; numbers (-2) as they are."""
    return "'" + cell if cell.startswith(FORMULA_MARKS) and not is_number(cell) else cell


def is_number(cell):
    """True for a finite number such as 6, 0.627 or 1e3; not for text, NaN, infinity or 1_000."""
    try:
        return "_" not in cell and math.isfinite(float(cell))
    except ValueError:
        return False


def load_saved_model(path, how_to_train):
    """The Keras model saved at path, to predict with; a UserError says how to train one."""
    if not Path(path).is_file():
        raise UserError(f"no trained model at {path}; train one first with: {how_to_train}")
    try:  # compile=False: predicting needs no optimizer, nor the saved training settings
        return sys.modules["keras"].models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise UserError(f"{path} is not a Keras model ({one_line(error, 120)}); train one "
                        f"with: {how_to_train}")  # fmt: skip


def learning_curves(history, title, best):
    """Loss and accuracy per epoch, training and validation, and the best epoch's line."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), dpi=80, layout="tight")
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        for key, label in [(metric, "training"), (f"val_{metric}", "validation")]:
            axis.plot(range(1, len(history[key]) + 1), history[key], label=label)
        axis.axvline(best, c="grey", ls=":", label=f"lowest validation loss: epoch {best}")
        axis.set(xlabel="epoch", ylabel=metric, title=f"{title}: {metric}")
        axis.xaxis.get_major_locator().set_params(integer=True)  # no epoch 1.5
        axis.legend()
    return figure


def wilson_interval(share, n, z=1.96):
    """Where the true share lies 95 times in 100, measured on n rows: Wilson's score interval."""
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (share * (1 - share) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, min(share, centre - half)), min(1.0, max(share, centre + half))  # rounding


def ipython():
    """The running IPython or Jupyter shell, or None."""
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


def _existing(folder):  # folder, or its nearest parent that exists: written before made
    folder = Path(folder).absolute()
    return next(path for path in [folder, *folder.parents] if path.exists())
