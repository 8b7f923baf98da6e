"""notebooks/*.ipynb: written from the scripts by notebooks/make_notebooks.py, and run, each on
its own, in a real Jupyter kernel with nothing beside it but its data: the script's numbers, the
script's one line for a mistake, and a second Run All as quiet as the first."""

import json
import re
import shutil

import pytest

from conftest import LICENSED_DIGITS, ROOT, own_digit_files, run, script_env
from conftest import shared_file
from makers import write_own_csv

nbformat = pytest.importorskip("nbformat", reason="nbformat is in requirements-dev.txt")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in requirements-dev.txt")
pytest.importorskip("ipykernel", reason="ipykernel is in requirements-dev.txt")

MAKER = ROOT / "notebooks" / "make_notebooks.py"


def test_the_committed_notebooks_are_what_make_notebooks_writes_from_the_scripts():
    result = run(MAKER, "--check")
    assert result.returncode == 0, result.stderr


def test_a_script_changed_without_its_notebook_is_caught(tmp_path):
    for path in ROOT.glob("*.py"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(ROOT / "requirements.txt", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    script = tmp_path / "mnist_dense.py"
    script.write_text(script.read_text().replace("the largest is the answer", "the answer"))
    result = run(tmp_path / "notebooks" / "make_notebooks.py", "--check")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "notebooks/mnist_dense.ipynb is out of date: python notebooks/make_notebooks.py"
    )


def run_notebook(name, work, *settings):
    """Run notebooks/name alone in work, once per settings (code run after the parameters
    cell), one Run All after the other in one kernel, going on after an error: the cells of
    each run, each with its outputs."""
    shutil.copy(ROOT / "notebooks" / name, work / name)
    notebook = nbformat.read(work / name, as_version=4)
    at = [
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    ]
    assert len(at) == 1, "one cell tagged parameters, as papermill expects"
    runs = []
    for setting in settings:
        cells = [nbformat.from_dict(json.loads(json.dumps(cell))) for cell in notebook.cells]
        cells.insert(at[0] + 1, nbformat.v4.new_code_cell(setting))
        runs.append(cells)
    notebook.cells = [cell for cells in runs for cell in cells]
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    with client.setup_kernel(env=script_env()):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    return runs


def printed(cell, name="stdout"):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == name)


def errors(cells):
    return [o for cell in cells for o in cell.get("outputs", []) if o.output_type == "error"]


def step(cells, heading):
    """The code cell right after the markdown cell whose heading starts with heading."""
    at = next(
        i
        for i, cell in enumerate(cells)
        if cell.cell_type == "markdown" and cell.source.startswith(f"## {heading}")
    )
    return next(cell for cell in cells[at + 1 :] if cell.cell_type == "code")


def test_the_mnist_notebook_runs_alone_learns_and_reads_licensed_digits(tmp_path):
    data = shared_file("mnist-real-10k.npz")
    licensed = {path.name: path for path in own_digit_files(LICENSED_DIGITS)}
    digits = [licensed[name] for name in ["3_ianburke_1.png", "7_teraflops_1.png"]]
    for path in [data, *digits]:
        shutil.copy(path, tmp_path / path.name)
    photos = [path.name for path in digits]
    (cells,) = run_notebook(
        "mnist_dense.ipynb", tmp_path, f'data_file = "{data.name}"\nepochs = 2\nphotos = {photos}'
    )
    assert errors(cells) == []
    assert [printed(cell, "stderr") for cell in cells if printed(cell, "stderr")] == []  # no log
    # Learning nothing scores about 0.11 (the commonest digit); this network, 2 epochs on these
    # 8,000 digits, about 0.95: 0.90 fails a network that stopped learning after a few steps.
    evaluation = printed(step(cells, "7."))
    accuracy = float(re.search(r"Test accuracy: ([\d.]+) \(95 % interval", evaluation)[1])
    assert accuracy > 0.90
    saved = [o for o in step(cells, "9.").outputs if "image/png" in o.get("data", {})]
    assert len(saved) == 6  # samples, history, predictions, mistakes, confusion, network
    read = re.findall(r"^ +(\d) .* (\S+)$", printed(cells[-1]), re.M)
    assert read == [("3", "3_ianburke_1.png"), ("7", "7_teraflops_1.png")]
    metrics = json.loads((tmp_path / "outputs" / "mnist_dense" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_the_pima_notebook_downloads_and_gives_the_scripts_numbers(tmp_path, local_server):
    data = shared_file("pima-indians-diabetes.data.csv")
    local_server.files[data.name] = data.read_bytes()
    server = f'DATA_URL = "{local_server.url}/{data.name}"\nepochs = 30'
    (cells,) = run_notebook("pima_binary.ipynb", tmp_path, server)
    assert errors(cells) == []
    assert local_server.requests == [data.name]
    assert (tmp_path / "data" / data.name).read_bytes() == data.read_bytes()
    out = tmp_path / "script"
    run("pima_binary.py", "--data", data, "--epochs", 30, "--out", out, ok=True)
    script = json.loads((out / "metrics.json").read_text())
    notebook = json.loads((tmp_path / "outputs" / "pima_binary" / "metrics.json").read_text())
    assert notebook["backend"] == script["backend"] == "jax"  # chosen in the first code cell
    for key in ["test_accuracy", "test_accuracy_interval", "test_loss", "confusion_matrix"]:
        assert notebook[key] == script[key], key
    assert notebook["history"] == script["history"]


def test_the_pima_notebook_on_labels_1_and_2_says_which_is_class_1_and_is_quiet_twice(tmp_path):
    """Issue 42: the old notebook took 1 and 2 for numbers to learn, and printed a negative
    loss and a share of -26.5%; the script said "Label 2 is class 1". A second Run All in the
    same kernel printed "triggered tf.function retracing" in each step that fits or predicts."""
    rows = write_own_csv(tmp_path / "own.csv", header=None).read_text().splitlines()
    table = tmp_path / "survival.csv"  # labels 1 and 2, as in Haberman's survival data
    table.write_text("".join(row[:-1] + str(int(row[-1]) + 1) + "\n" for row in rows))
    setting = f'data_file = "{table.name}"\nepochs = 3'
    first, second = run_notebook("pima_binary.ipynb", tmp_path, setting, setting)
    assert errors(first + second) == []
    said = printed(step(first, "1.")).splitlines()[0]
    assert said.startswith("Label 2 is class 1, 1 is class 0: the larger number is class 1")
    script = run("pima_binary.py", "--data", table, "--epochs", 3, "--out", tmp_path / "s")
    assert script.stdout.splitlines()[0] == said.replace("(positive", "(--positive")
    assert [printed(cell, "stderr") for cell in first + second if printed(cell, "stderr")] == []
    assert printed(step(second, "5.")) == printed(step(first, "5."))  # the same seed


def test_a_mistake_in_a_notebook_ends_in_the_scripts_one_line_and_keeps_nothing(tmp_path):
    """Issue 42: a text file as data_file ended in NumPy's advice to load it with allow_pickle;
    offline, a 28-frame traceback never named data_file; a failed download stayed in ~/.keras."""
    (tmp_path / "notes.txt").write_text("not an npz\n")
    bad, offline = run_notebook(
        "mnist_dense.ipynb",
        tmp_path,
        'data_file = "notes.txt"',
        'DATA_URL = "http://127.0.0.1:9/mnist.npz"',  # port 9: nothing listens
    )
    script = run("mnist_dense.py", "--data", "notes.txt", cwd=tmp_path)
    (line,) = script.stderr.splitlines()
    assert script.returncode == 1 and line.startswith("error: notes.txt is not a readable .npz")
    (error,) = errors(bad)[:1]
    assert error.traceback == [line.replace("--data", "data_file")]
    assert "allow_pickle" not in json.dumps([cell.get("outputs") for cell in bad])
    (error,) = errors(offline)[:1]
    assert len(error.traceback) == 1 and "could not download" in error.traceback[0]
    assert "name a copy with data_file" in error.traceback[0]
    assert not (tmp_path / "data").exists()  # nothing kept, not even an empty folder
    assert not list(tmp_path.glob(".mnist.npz-*"))


def test_the_notebooks_parameters_are_the_flags_with_their_rules_and_their_lines(tmp_path):
    """Issue 48: quick = True and network = "deep" take the script's settings (1 epoch of 32
    for deep with --quick), and give its numbers; a bad value ends in the line the flag gets,
    naming the parameter, before anything trains."""
    data = shared_file("mnist-real-10k.npz")
    good_folder, bad_folder = tmp_path / "good", tmp_path / "bad"
    for folder in (good_folder, bad_folder):
        folder.mkdir()
        shutil.copy(data, folder / data.name)
    good = f'data_file = "{data.name}"\nquick = True\nnetwork = "deep"\nphotos = ["nope.png"]'
    data_file = f'data_file = "{data.name}"'
    bad = {
        "epochs = 0": "epochs: must be a whole number of 1 or more, got '0'",
        "batch_size = 0": "batch_size: must be a whole number of 1 or more, got '0'",
        "seed = -1": "seed: must be a whole number from 0 to 4294967295, got '-1'",
        'network = "cnn"': "network: 'cnn' is not one of first, dropout, deep",
    }
    (cells,) = run_notebook("mnist_dense.ipynb", good_folder, good)
    (photo,) = errors(cells)  # the last cell's: the photo is not there
    assert photo.traceback == ["error: nope.png does not exist; check the path given to photos"]
    notebook = json.loads((good_folder / "outputs" / "mnist_dense" / "metrics.json").read_text())
    # Each value that the rules refuse, one Run All after the other, going on after the error
    # as Jupyter would not: the first error is the rules cell's.
    refused = run_notebook("mnist_dense.ipynb", bad_folder, *(f"{data_file}\n{b}" for b in bad))
    out = tmp_path / "script"
    run("mnist_dense.py", "--quick", "--network", "deep", "--data", data, "--out", out, ok=True)
    script = json.loads((out / "metrics.json").read_text())
    assert (notebook["epochs"], notebook["batch_size"]) == (script["epochs"], script["batch_size"])
    assert (script["epochs"], script["batch_size"]) == (1, 32)
    assert notebook["test_accuracy"] == script["test_accuracy"]
    for (setting, line), cells in zip(bad.items(), refused):
        (error, *_) = errors(cells)
        assert error.traceback == [f"error: {line}"], setting
    pima = run_notebook("pima_binary.ipynb", bad_folder, 'network = "deep"')[0]
    assert errors(pima)[0].traceback == ["error: network: 'deep' is not one of first, dropout"]
