"""notebooks/*.ipynb: written from the scripts by notebooks/make_notebooks.py, and run, each on
its own, in a real Jupyter kernel with nothing beside it but a local data file."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import LICENSED_DIGITS, ROOT, own_digit_files, run_ok, script_env, shared_file

nbformat = pytest.importorskip("nbformat", reason="nbformat is in requirements-dev.txt")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in requirements-dev.txt")
pytest.importorskip("ipykernel", reason="ipykernel is in requirements-dev.txt")

MAKER = ROOT / "notebooks" / "make_notebooks.py"


def test_the_committed_notebooks_are_what_make_notebooks_writes_from_the_scripts():
    result = subprocess.run(
        [sys.executable, str(MAKER), "--check"], capture_output=True, text=True, env=script_env()
    )
    assert result.returncode == 0, result.stderr


def test_a_script_changed_without_its_notebook_is_caught(tmp_path):
    for name in ["mnist_dense.py", "pima_binary.py", "own_digits.py", "new_rows.py",
                 "tutorial_helpers.py", "requirements.txt"]:  # fmt: skip
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    script = tmp_path / "mnist_dense.py"
    script.write_text(script.read_text().replace("Softmax gives ten", "Softmax gives 10"))
    check = [sys.executable, str(tmp_path / "notebooks" / "make_notebooks.py"), "--check"]
    result = subprocess.run(check, capture_output=True, text=True, env=script_env())
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "notebooks/mnist_dense.ipynb is out of date: python notebooks/make_notebooks.py"
    )
    # A step the tool can no longer put in a notebook's words stops it, by name.
    script.write_text(script.read_text().replace("load_npz(npz_path)", "load_npz(npz_path, 1)"))
    result = subprocess.run(check, capture_output=True, text=True, env=script_env())
    assert result.returncode == 1 and "mnist_dense.py no longer has" in result.stderr


def run_notebook(name, work, settings, after_settings=None):
    """Run notebooks/name alone in work, with settings in a cell after the parameters cell
    (and after_settings after the cell of the script's settings, such as DATA_URL)."""
    shutil.copy(ROOT / "notebooks" / name, work / name)
    notebook = nbformat.read(work / name, as_version=4)
    tagged = [
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    ]
    assert len(tagged) == 1, "one cell tagged parameters, as papermill expects"
    defaults = notebook.cells[tagged[0]].source
    for variable in re.findall(r"^(\w+) =", settings, re.M):
        assert re.search(rf"^{variable} = ", defaults, re.M), f"no parameter {variable}"
    if after_settings:
        at = next(i for i, cell in enumerate(notebook.cells) if cell.get("id") == "settings")
        notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(after_settings))
    notebook.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(settings))
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    with client.setup_kernel(env=script_env()):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on any error
    return {cell.get("id"): cell for cell in notebook.cells}


def printed(cell):
    return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def images(cell):
    return [out for out in cell.outputs if "image/png" in out.get("data", {})]


def test_the_mnist_notebook_runs_alone_learns_and_reads_licensed_digits(tmp_path):
    data = shared_file("mnist-real-10k.npz")
    licensed = {path.name: path for path in own_digit_files(LICENSED_DIGITS)}
    digits = [licensed[name] for name in ["3_ianburke_1.png", "7_teraflops_1.png"]]
    for path in [data, *digits]:
        shutil.copy(path, tmp_path / path.name)
    settings = f'data_file = "{data.name}"\nepochs = 2\nphotos = {[p.name for p in digits]}'
    cells = run_notebook("mnist_dense.ipynb", tmp_path, settings)
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        ["mnist_dense.ipynb", data.name, "outputs", *(p.name for p in digits)]
    )
    # Learning nothing scores about 0.11 (the commonest digit); this network, 2 epochs on these
    # 8,000 digits, about 0.95: 0.90 fails a network that stopped learning after a few steps.
    accuracy = float(re.search(r"Test accuracy: ([\d.]+)", printed(cells["step-7"]))[1])
    assert accuracy > 0.90
    assert "Always answering the commonest training digit would get 0.1" in printed(cells["step-7"])
    for step, count in [("step-2", 1), ("step-6", 1), ("step-7", 1), ("step-8", 2)]:
        assert len(images(cells[step])) == count, step
    ending = cells[max(cells, key=lambda key: key.startswith("end-"))]
    read = [line.split(" (")[0] for line in printed(ending).splitlines()]
    assert read == ["3_ianburke_1.png: reads 3", "7_teraflops_1.png: reads 7"]
    assert len(images(ending)) == 1
    metrics = json.loads((tmp_path / "outputs" / "mnist_dense" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_the_pima_notebook_downloads_runs_alone_and_gives_the_scripts_numbers(
    tmp_path, local_server
):
    data = shared_file("pima-indians-diabetes.data.csv")
    # data_file = None: keras.utils.get_file downloads the CSV, here from 127.0.0.1, and
    # checks it by the SHA-256 in the settings cell (the published one: the same bytes).
    local_server.files[data.name] = data.read_bytes()
    server = f'DATA_URL = "{local_server.url}/{data.name}"'
    cells = run_notebook("pima_binary.ipynb", tmp_path, "epochs = 30", after_settings=server)
    assert local_server.requests == [data.name]
    assert "pima-indians-diabetes.data.csv" in printed(cells["step-1"])
    evaluation = printed(cells["step-5"])
    accuracy = float(re.search(r"held-out rows: ([\d.]+) \(test loss ([\d.]+)", evaluation)[1])
    # Always answering 0 scores 0.649 and guessing the class share a loss of about 0.65; this
    # network, 30 epochs, about 0.75 and 0.50.
    assert accuracy >= 0.70 and float(re.search(r"test loss ([\d.]+)", evaluation)[1]) < 0.60
    assert len(images(cells["step-4"])) == 1  # the learning curves
    new_rows = printed(cells[max(cells, key=lambda key: key.startswith("end-"))]).splitlines()
    assert len(new_rows) == 2 and all(" -> probability 0." in row for row in new_rows)
    # The notebook is the script's steps: the same seed gives the script's numbers.
    out = tmp_path / "script"
    run_ok("pima_binary.py", "--data", data, "--epochs", 30, "--out", out)
    script = json.loads((out / "metrics.json").read_text())
    notebook = json.loads((tmp_path / "outputs" / "pima_binary" / "metrics.json").read_text())
    for key in ["test_accuracy", "test_loss", "confusion_matrix", "val_loss", "n_train"]:
        assert notebook[key] == script[key], key
