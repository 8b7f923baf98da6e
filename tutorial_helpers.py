"""What mnist_dense.py and pima_binary.py need around their steps; copy it with a script. Keras
without TensorFlow's log (quiet_start), a mistake in one line (run, UserError), a download checked
by its SHA-256, outputs saved all or none. Importing it changes nothing: its functions act.
"""

import argparse
import atexit
import contextlib
import gc
import hashlib
import http.client
import importlib
import importlib.util
import json
import logging
import os
import re
import signal
import sys
import tempfile
import types
import urllib.request
import warnings
from pathlib import Path

SEEDS = 2**32 - 1  # the largest seed: NumPy's generators take 0 to 2**32 - 1
READ_TIMEOUT_SECONDS = 30  # a server silent for this long has stopped
BACKENDS = ["jax", "tensorflow", "torch"]  # the Keras backends that train
PACKAGES = {"jax": '"jax[cpu]"'}  # what pip installs for a backend, where not its name
STOPS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "stopped (SIGTERM)"}
STOPS[signal.SIGHUP] = "stopped (SIGHUP: the terminal closed)"
# What the scripts' runs leave in --out: a training run replaces them all (save_outputs).
RUN_FILES = {"model.keras", "metrics.json", "history.png", "samples.png", "predictions.png",
             "mistakes.png", "confusion.png", "network.png", "folds.png", "own_predictions.csv",
             "own_predictions.png", "compare.json", "compare.png"}  # fmt: skip
ONLY_FOR_FLAGS = {"own_digits": "--predict and --draw", "new_rows": "--predict", "folds": "--folds"}
ONLY_FOR_FLAGS["compare"] = "--compare"
_unfinished_files = set()  # temporary outputs and downloads under way: deleted on a stop
_stderr = 2  # where a stop's one line goes, even while TensorFlow's log goes to /dev/null
_flags = False  # True while run() runs a script: messages name its flags, not a notebook's names


class UserError(Exception):
    """A mistake the user can fix: shown as one line, without a traceback (in Jupyter too)."""

    def _render_traceback_(self):  # what IPython shows instead of a traceback
        return [f"error: {self}"]


def setting(name):  # how a message names a setting: --data in a script, data_file in a notebook
    flags = {"data_file": "--data", "photos": "--predict", "new_rows_file": "--predict"}
    return (flags.get(name) or "--" + name.replace("_", "-")) if _flags else name


def one_line(text, limit=300):  # text fit for a one-line message: newlines folded, long text cut
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@contextlib.contextmanager
def quiet_start():
    """Around the import of Keras: TensorFlow's log hidden, the backend checked, Ctrl-C one line;
    for --help, no Keras at all."""
    global _stderr
    for name in ["stdout", "stderr"]:  # closed at the start (>&-): /dev/null takes its number
        setattr(sys, name, getattr(sys, name) or open(os.devnull, "w"))
    if _asks_for_help(sys._getframe(2)):  # python script.py --help: the flags, at once
        sys.modules.setdefault("keras", types.ModuleType("keras"))  # not loaded: never used
        yield
        return
    installed = [name for name in BACKENDS if importlib.util.find_spec(name)]
    if (chosen := os.environ.get("KERAS_BACKEND") or "tensorflow") not in installed:
        fix = "use jax, tensorflow or torch"
        if chosen in BACKENDS:  # or the first one installed
            fix = f"pip install {PACKAGES.get(chosen, chosen)}"
            fix += "".join(f", or run on {name}: KERAS_BACKEND={name}" for name in installed[:1])
        message = f"Keras backend {chosen!r} cannot train these networks here; {fix}"
        if _ipython():  # where run() is not there yet to catch a UserError
            raise UserError(message)
        sys.exit(f"error: {message}")
    handlers = {signum: signal.getsignal(signum) for signum in STOPS}
    _stop_on_signals()
    # TensorFlow's C++ code logs as it loads: to /dev/null, unless TF_CPP_MIN_LOG_LEVEL is 0 or
    # 1. On JAX too, where it is installed: keras.utils.set_random_seed loads it, and after JAX
    # it logs whatever the level (benchmarks/README.md measures what loading it costs).
    tensorflow = importlib.util.find_spec("tensorflow") is not None
    if tensorflow and os.environ.get("TF_CPP_MIN_LOG_LEVEL", "") in ["", "2", "3"]:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # 2 lets through errors that are none here
        sys.stderr.flush()
        _stderr, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    try:
        if tensorflow:
            importlib.import_module("tensorflow")
    finally:
        if _stderr != 2:
            os.dup2(_stderr, 2)
            os.close(_stderr)
            _stderr = 2
    try:
        yield
    finally:
        for signum, handler in handlers.items():  # a program importing a script keeps its own
            signal.signal(signum, handler)
    logging.getLogger("matplotlib").setLevel(logging.ERROR)  # a font cache it cannot write
    if sys.modules["keras"].backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing, from a fifth run on


def run(main, *args):
    """main(*args) as a script: a UserError or a stop signal ends in one line and an exit code."""
    global _flags
    ipython = _ipython()
    if not ipython:
        _stop_on_signals()
        atexit.register(gc.freeze)  # no last garbage collection of all Keras made: a second
    plain = not ipython and not _is_terminal(sys.stdout)  # a log: one line an epoch
    stdout, sys.stdout, _flags = sys.stdout, _Stdout(sys.stdout, plain), True
    try:
        main(*args)
    except SystemExit:  # argparse's, after its usage and error line (or --help)
        if not ipython:
            raise
    except (UserError, KeyboardInterrupt, ModuleNotFoundError) as error:  # Ctrl-C: in IPython
        if isinstance(error, ModuleNotFoundError):  # a copy of the script, without that file
            if error.name not in ONLY_FOR_FLAGS:
                raise
            error = UserError(
                f"{error.name}.py is not beside the script (it runs {ONLY_FOR_FLAGS[error.name]})"
            )
        line = f"error: {error}" if isinstance(error, UserError) else "interrupted (Ctrl-C)"
        if not ipython:
            sys.exit(line)
        print(line, file=sys.stderr)  # not SystemExit, whose traceback IPython would show
    finally:
        sys.stdout.end()  # through _Stdout: a closed pipe raises nothing
        sys.stdout, _flags = stdout, False


def whole_number(low, high=None):
    """An argparse type: a whole number from low to high (no limit when high is None)."""

    def parse(text):
        if not (text.strip().lstrip("+-").isdigit() and low <= int(text) <= (high or int(text))):
            limits = f"of {low} or more" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {limits}, got {text!r}")
        return int(text)

    return parse


def refuse_unread_flags(parser, args, read, kind):
    """Exit 2 (argparse's error) naming each flag given that a run of this kind would not read."""
    given = [action.option_strings[0] for action in parser._actions
             if action.option_strings and action.dest not in read | {"help"}
             and getattr(args, action.dest) != action.default]  # fmt: skip
    if given:
        parser.error(f"{kind} trains nothing, so it reads no {', '.join(given)}; leave "
                     f"{'it' if len(given) == 1 else 'them'} out")  # fmt: skip


def check_number(name, value, low, high=None):
    """value as whole_number checks a flag; else a UserError naming the setting (a notebook's)."""
    try:
        return whole_number(low, high)(str(value))
    except argparse.ArgumentTypeError as error:
        raise UserError(f"{setting(name)}: {error}") from None


def check_settings(networks, network, epochs, batch_size, seed, tensorboard, out):
    """What a training's settings must be, in a script and in a notebook alike; said before
    anything trains, in one line naming the setting. networks: the names of the networks."""
    if network not in networks:
        raise UserError(f"{setting('network')}: {network!r} is not one of {', '.join(networks)}")
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
        _unfinished_files.add(part)
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
        _unfinished_files.discard(part)
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
            _unfinished_files.add(path)
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
        held = signal.pthread_sigmask(signal.SIG_BLOCK, set(STOPS))  # Linux, macOS: WSL on Windows
        try:  # a stop signal waits till all are renamed
            for name in files:
                os.replace(temporary[name], folder / name)
            one_run = {"metrics.json", "compare.json"} & set(files)  # not --predict's files
            for name in RUN_FILES - set(files) if one_run else []:
                with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                    os.remove(folder / name)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    except OSError as error:
        raise UserError(f"could not write to {folder} ({one_line(error, 160)}); nothing of "
                        f"this run was saved; free some space, or choose another "
                        f"{setting('out')}")  # fmt: skip
    finally:
        for path in temporary.values():
            _unfinished_files.discard(path)
            with contextlib.suppress(OSError):
                os.remove(path)
    print(f"\nSaved in {folder.absolute()}: {', '.join(files)}")
    if type(_ipython()).__name__ == "ZMQInteractiveShell":  # Jupyter, Colab: show the pictures
        from IPython.display import Image, display

        display(*[Image(filename=str(folder / name)) for name in files if name.endswith(".png")])


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


## Plumbing: stdout, stop signals ##########################################################


def _ipython():  # the running IPython or Jupyter shell, or None
    return sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None


def _asks_for_help(frame):  # python script.py ... --help ..., frame the script's; not in IPython
    argv = sys.argv[1 : sys.argv.index("--") if "--" in sys.argv else None]
    run = frame.f_globals.get("__name__") == "__main__" and not _ipython()
    return run and bool({"-h", "--help"} & set(argv))


def _is_terminal(stream):
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return stream.isatty()
    return False


def _existing(folder):  # folder, or its nearest parent that exists: written before made
    folder = Path(folder).absolute()
    return next(path for path in [folder, *folder.parents] if path.exists())


class _Stdout:
    """stdout that stops printing, not the run, at a closed pipe (| head) or a full disk. Where
    it is no terminal (a log file, a pipe), whole lines as a terminal would have shown them at
    their end: Keras's live progress bar becomes one plain line an epoch ("Epoch 2/5 - 422/422
    ..."), without the backspaces, carriage returns and colours with which it redraws itself."""

    def __init__(self, stream, plain):
        self.stream, self.unfinished, self.epoch = stream, "" if plain else None, ""

    def write(self, text):
        written = len(text)
        if self.unfinished is not None:
            *lines, self.unfinished = (self.unfinished + text).split("\n")
            text = ""
            for line in map(_as_shown, lines):
                if re.fullmatch(r"Epoch \d+/\d+", line):  # Keras's heading, then the epoch's bar
                    self.epoch = f"{line} - "
                else:
                    text, self.epoch = f"{text}{self.epoch}{line}\n", ""
        with contextlib.suppress(OSError):  # BrokenPipeError (| head), ENOSPC (> /dev/full)
            encoding = self.stream.encoding or "utf-8"
            self.stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
        return written

    def end(self):  # the last line, if it has no newline
        if self.unfinished:
            line, self.unfinished = self.epoch + _as_shown(self.unfinished), None  # written as is
            self.write(line)
        self.flush()

    def flush(self):
        with contextlib.suppress(OSError):
            self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _as_shown(line):
    """A line as a terminal shows it: what follows its last carriage return, no colour codes."""
    return re.sub(r"\x1b\[[0-9;]*m", "", line.rsplit("\r", 1)[-1]).replace("\b", "").rstrip()


def _stop_on_signals():
    """Ctrl-C, SIGTERM, SIGHUP: one line, unfinished files deleted; not where ignored (nohup)."""

    def stop(signum, frame):  # a KeyboardInterrupt out of a TensorFlow step can crash Python
        for path in list(_unfinished_files):
            with contextlib.suppress(OSError):
                os.remove(path)
        line = f"{STOPS[signum]}: stopped before the end; no output file was left half-written"
        os.write(_stderr, f"{line}\n".encode())
        os._exit(128 + signum)  # the shell's code for a program stopped by that signal

    for signum in [] if _ipython() else STOPS:  # IPython's own Ctrl-C handler stops a cell
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(signum, stop)
