"""Run a script's main(), or one download, with some module settings replaced.

    python tests/harness.py pima_binary.DATA_URL='"http://127.0.0.1:8000/x.csv"' -- pima_binary.py
    python tests/harness.py -- download URL SHA256 DATA_DIR
    python tests/harness.py --report-backend -- pima_binary.py --quick
    python tests/harness.py --runs FOLDER --

The tests use it to point the scripts' downloads at a server on 127.0.0.1 that they start,
and to shorten the download time-outs. The run goes through shell.run, as a
script's own does: one line for a UserError, the same exit codes. --report-backend: once
main() has returned, a last line on stdout names the backend the script's Keras ran on, whether
TensorFlow was imported, and whether its op determinism is on (quiet_start turns it on):
"harness: keras backend NAME; tensorflow loaded: yes|no; op determinism: on|off|-".
--runs FOLDER: for each [script, flags] in FOLDER/runs.json, the script's main(flags), in turn
in this one process, as a notebook runs them one after another; run N's output goes to
N.stdout and N.stderr (file descriptors 1 and 2, so TensorFlow's own log too) and its exit
code to N.code.

Tests reach it through conftest.run only: its patch= gives the settings and its then= the
--runs; run(HARNESS, "--", "download", ...) and run(HARNESS, "--report-backend", "--", ...).
"""

import ast
import importlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import shell  # noqa: E402
import tutorial_helpers as helpers  # noqa: E402
from warm import exit_code  # noqa: E402


def run_in_turn(folder):
    for number, (script, flags) in enumerate(json.loads((folder / "runs.json").read_text())):
        script = importlib.import_module(Path(script).stem)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        with open(folder / f"{number}.stdout", "wb") as out:
            err = open(folder / f"{number}.stderr", "wb")
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            err.close()
            try:
                code = exit_code(lambda: shell.run(script.main, flags))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        if "keras" in sys.modules:  # a fresh start for the next run: layer names count anew
            sys.modules["keras"].backend.clear_session()
        (folder / f"{number}.code").write_text(str(code))


separator = sys.argv.index("--")
settings = sys.argv[1:separator]
report_backend = "--report-backend" in settings
runs = Path(settings.pop(settings.index("--runs") + 1)) if "--runs" in settings else None
for setting in [setting for setting in settings if setting not in ["--report-backend", "--runs"]]:
    target, value = setting.split("=", 1)
    module_name, name = target.rsplit(".", 1)
    setattr(importlib.import_module(module_name), name, ast.literal_eval(value))
command = sys.argv[separator + 1 :]
if runs:
    run_in_turn(runs)
elif command[0] == "download":
    shell.run(lambda: print("downloaded", helpers.download(*command[1:])))
else:
    script = importlib.import_module(Path(command[0]).stem)

    def main():
        script.main(command[1:])
        if report_backend:  # the Keras the script imported, whichever way it did
            keras, tf = sys.modules.get("keras"), sys.modules.get("tensorflow")
            determinism = "-"
            if tf:  # TensorFlow asks it in no public function: its own module answers
                from tensorflow.python.framework.config import is_op_determinism_enabled

                determinism = "on" if is_op_determinism_enabled() else "off"
            print(
                "harness: keras backend "
                f"{keras.backend.backend() if keras else 'none: not imported'}; "
                f"tensorflow loaded: {'yes' if tf else 'no'}; op determinism: {determinism}"
            )

    shell.run(main)
