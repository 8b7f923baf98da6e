"""Run a script's main(), or one download, with some module settings replaced.

    python tests/harness.py pima_binary.DATA_URL='"http://127.0.0.1:8000/x.csv"' -- pima_binary.py
    python tests/harness.py -- download URL SHA256 DATA_DIR
    python tests/harness.py --report-backend -- pima_binary.py --quick

The tests use it to point the scripts' downloads at a server on 127.0.0.1 that they start,
and to shorten the download time-outs. The run goes through tutorial_helpers.run, as a
script's own does: one line for a UserError, the same exit codes. --report-backend: once
main() has returned, a last line on stdout names the backend the script's Keras ran on and
whether TensorFlow was imported, "harness: keras backend NAME; tensorflow loaded: yes|no".
"""

import ast
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tutorial_helpers as helpers  # noqa: E402

separator = sys.argv.index("--")
settings = sys.argv[1:separator]
report_backend = "--report-backend" in settings
for setting in [setting for setting in settings if setting != "--report-backend"]:
    target, value = setting.split("=", 1)
    module_name, name = target.rsplit(".", 1)
    setattr(importlib.import_module(module_name), name, ast.literal_eval(value))
command = sys.argv[separator + 1 :]
if command[0] == "download":
    helpers.run(lambda: print("downloaded", helpers.download(*command[1:])))
else:
    script = importlib.import_module(Path(command[0]).stem)

    def main():
        script.main(command[1:])
        if report_backend:  # the Keras the script imported, whichever way it did
            keras = sys.modules.get("keras")
            print(
                "harness: keras backend "
                f"{keras.backend.backend() if keras else 'none: not imported'}; "
                f"tensorflow loaded: {'yes' if 'tensorflow' in sys.modules else 'no'}"
            )

    helpers.run(main)
