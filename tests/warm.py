"""A Python that has imported Keras once and starts each run a test asks for in a child of its
own, forked: the seconds of importing TensorFlow and Keras are paid once per test worker, not
once per run (README.md, "Run the tests"). Linux only; conftest.py's run uses it in tests
marked `warm`, unless TESTS_COLD is set.

    python tests/warm.py        # then one JSON request a line on stdin, answers on stdout

A request: {"argv": [script, *flags] or ["-c", program, *args], "cwd": FOLDER, "env": {...},
"stdout": FILE, "stderr": FILE}. The answers: {"pid": N} once the child runs, {"code": C} once
it has ended, C as subprocess gives it (minus the signal's number for a child a signal ended).

The child runs the script as `python script flags` does: its own argv, folder, environment,
standard streams, __main__, exit code, and atexit handlers; its own tutorial_helpers and every
module of the project, imported afresh. What differs is what happened before its first line:
Keras is loaded already, with TensorFlow's C++ log at the level the scripts set when the caller
sets none (not through quiet_start: the child's own quiet_start turns op determinism on), and any
warning that shows once a process has been shown. So the tests of start-up, of warnings and of
stop signals start a fresh Python, and a run that must repeat a warm one's numbers is a fresh
Python too.
"""

import atexit
import io
import json
import os
import runpy
import sys
import threading
import traceback
import types


def reopened(number, mode, like):
    """A text stream on file descriptor number, made as Python makes its standard streams."""
    unbuffered = "w" in mode and like.write_through
    binary = io.open(number, mode + "b", buffering=0 if unbuffered else -1, closefd=False)
    return io.TextIOWrapper(
        binary,
        encoding=like.encoding,
        errors=like.errors,
        line_buffering=like.line_buffering,
        write_through=like.write_through,
    )


def exit_code(run):
    """run()'s exit code as Python's own at its end: a SystemExit's text, or the traceback of
    any other exception, goes to stderr."""
    try:
        run()
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return (stop.code or 0) & 0xFF
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def run_main(argv):
    """argv[0], or the program after -c, as Python runs it: as __main__, with argv."""
    if argv[0] == "-c":
        sys.argv, sys.path[0] = ["-c", *argv[2:]], ""
        main = sys.modules["__main__"] = types.ModuleType("__main__")
        exec(compile(argv[1], "<string>", "exec"), main.__dict__)
    else:
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")


def run_as_main(request):
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    written = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for number, path, flags in [
        (0, os.devnull, os.O_RDONLY),
        (1, request["stdout"], written),
        (2, request["stderr"], written),
    ]:
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, number)
        os.close(opened)
    sys.stdin = sys.__stdin__ = reopened(0, "r", sys.__stdin__)
    sys.stdout = sys.__stdout__ = reopened(1, "w", sys.__stdout__)
    sys.stderr = sys.__stderr__ = reopened(2, "w", sys.__stderr__)
    code = exit_code(lambda: run_main(request["argv"]))
    threading._shutdown()  # as Python ends: wait for the threads that are not daemons
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def serve():
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                run_as_main(request)
            finally:
                os._exit(70)  # reached only if run_as_main itself failed
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)


if __name__ == "__main__":
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # what quiet_start sets when the caller sets none
    os.environ.setdefault("KERAS_BACKEND", "jax")  # as the scripts choose it
    import keras  # noqa: F401  the point of this process: each child finds it loaded
    import tensorflow  # noqa: F401  which keras.utils.set_random_seed loads on any backend

    serve()
