"""A script copied alone into an empty folder, with the project files it imports at its top
(README, issue 42): it trains, and a flag that needs a file the copy lacks says in one line which
file to add, with no traceback."""

import shutil

import pytest

from conftest import ROOT, assert_one_line_error, assert_succeeded, run, shared_file

# The runs are children of a Python that has loaded Keras only (tests/warm.py), not the project:
# each imports the copy's own files, from the copy's folder.
pytestmark = pytest.mark.warm

COPIES = {
    "mnist_dense.py": {
        "beside": ["tutorial_helpers.py", "shell.py", "mnist_npz.py"],
        "data": "mnist-real-10k.npz",
        "missing": {
            "--predict x.png": "own_digits.py",
            "--draw": "draw_page.py",
            "--compare": "compare.py",
        },
    },
    "pima_binary.py": {
        "beside": ["tutorial_helpers.py", "shell.py", "labelled_csv.py"],
        "data": "pima-indians-diabetes.data.csv",
        "missing": {
            "--predict rows.csv": "new_rows.py",
            "--folds 3": "folds.py",
            "--compare": "compare.py",
        },
    },
}


@pytest.mark.parametrize("script", COPIES)
def test_a_copy_with_the_files_it_imports_at_its_top_trains(tmp_path, script):
    copy = COPIES[script]
    data = shared_file(copy["data"])
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in [script, *copy["beside"]]:
        shutil.copy(ROOT / name, folder)
    result = run(folder / script, "--quick", "--data", data, "--out", "out", cwd=folder)
    assert_succeeded(result)
    assert (folder / "out" / "model.keras").is_file()

    for flags, needed in copy["missing"].items():  # the file those flags need, lacking
        data_flags = [] if flags.startswith(("--predict", "--draw")) else ["--data", data]
        result = run(folder / script, *flags.split(), *data_flags, cwd=folder)
        assert_one_line_error(result, flags.split()[0], f" {needed} is not beside the script")
    # Nothing beside the copy but its outputs (and Python's cache): no data/, no stray file.
    made = {path.name for path in folder.iterdir()} - {script, *copy["beside"]}
    assert made <= {"out", "__pycache__"}, made
