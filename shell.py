"""What a script needs to run well from a shell, apart from its lesson: --help at once, Keras
loaded without TensorFlow's log, a mistake or a stop signal in one line with the shell's exit code,
a log file in plain lines, and the flags both scripts share. A notebook needs none of it."""

import atexit
import contextlib
import gc
import importlib
import importlib.util
import os
import re
import signal
import sys
import types
from pathlib import Path

import tutorial_helpers as helpers
from tutorial_helpers import UserError

STOPS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "stopped (SIGTERM)"}
STOPS[signal.SIGHUP] = "stopped (SIGHUP: the terminal closed)"
# The files a copy of a script may lack, and the flags that need each (README, "Copy a script").
ONLY_FOR_FLAGS = {"own_digits": "--predict and --draw", "draw_page": "--draw",
                  "new_rows": "--predict", "folds": "--folds", "compare": "--compare"}  # fmt: skip
_stderr = 2  # where a stop's one line goes, even while TensorFlow's log goes to /dev/null


@contextlib.contextmanager
def quiet_start():
    """tutorial_helpers.quiet_start, as a script in a shell needs it: for --help, no Keras at all;
    a backend that is not installed, one line; TensorFlow's C++ start-up log hidden; a stop
    signal while Keras loads, one line."""
    global _stderr
    for name in ["stdout", "stderr"]:  # closed at the start (>&-): /dev/null takes its number
        setattr(sys, name, getattr(sys, name) or open(os.devnull, "w"))
    if _asks_for_help(sys._getframe(2)):  # python script.py --help: the flags, at once
        sys.modules.setdefault("keras", types.ModuleType("keras"))  # not loaded: never used
        yield
        return
    try:
        helpers.check_backend()
    except UserError as error:
        if helpers.ipython():  # where run() is not there yet to catch it
            raise
        sys.exit(f"error: {error}")
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
        with helpers.quiet_start():
            yield
    finally:
        for signum, handler in handlers.items():  # a program importing a script keeps its own
            signal.signal(signum, handler)


def run(main, *args):
    """main(*args) as a script: a UserError or a stop signal ends in one line and an exit code."""
    ipython = helpers.ipython()
    if not ipython:
        _stop_on_signals()
        atexit.register(gc.freeze)  # no last garbage collection of all Keras made: a second
    plain = not ipython and not _is_terminal(sys.stdout)  # a log: one line an epoch
    stdout, sys.stdout, helpers.script_flags = sys.stdout, _Stdout(sys.stdout, plain), True
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
        sys.stdout, helpers.script_flags = stdout, False


## The flags both scripts share


# fmt: off
def shared_flags(parser, out, data_dir, patience):
    """The flags both scripts word alike: where the download and the outputs go, --early-stop,
    --tensorboard."""
    add = parser.add_argument
    add("--data-dir", type=Path, metavar="DIR", default=data_dir,
        help="where the download is kept (default: data/ beside this script)")
    add("--out", type=Path, metavar="DIR", default=out,
        help="folder for the model, pictures and metrics (default: %(default)s)")
    add("--early-stop", action="store_true", help=f"stop once the validation loss has not "
        f"fallen for {patience} epochs, and keep the weights of its lowest")
    add("--tensorboard", type=Path, metavar="DIR",
        help="write TensorBoard logs into DIR; watch them with: tensorboard --logdir DIR")
# fmt: on


def refuse_unread_flags(parser, args, read, kind):
    """Exit 2 (argparse's error) naming each flag given that a run of this kind would not read."""
    given = [action.option_strings[0] for action in parser._actions
             if action.option_strings and action.dest not in read | {"help"}
             and getattr(args, action.dest) != action.default]  # fmt: skip
    if given:
        parser.error(f"{kind} trains nothing, so it reads no {', '.join(given)}; leave "
                     f"{'it' if len(given) == 1 else 'them'} out")  # fmt: skip


## Streams and stop signals


def _asks_for_help(frame):  # python script.py ... --help ..., frame the script's; not in IPython
    argv = sys.argv[1 : sys.argv.index("--") if "--" in sys.argv else None]
    run = frame.f_globals.get("__name__") == "__main__" and not helpers.ipython()
    return run and bool({"-h", "--help"} & set(argv))


def _is_terminal(stream):
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return stream.isatty()
    return False


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
        helpers.finish_saving()  # a save that was renaming its files: all of them, not a mix
        for path in list(helpers.unfinished_files):
            with contextlib.suppress(OSError):
                os.remove(path)
        line = f"{STOPS[signum]}: stopped before the end; no output file was left half-written"
        os.write(_stderr, f"{line}\n".encode())
        os._exit(128 + signum)  # the shell's code for a program stopped by that signal

    for signum in [] if helpers.ipython() else STOPS:  # IPython's own Ctrl-C handler stops a cell
        if signal.getsignal(signum) in (signal.default_int_handler, signal.SIG_DFL):
            signal.signal(signum, stop)
