"""The README's Jupyter cells, run in a real Jupyter kernel: pictures come out inline, a
mistake is one line, and the kernel lives on with its own Ctrl-C handler."""

import re
import shutil

import numpy as np
import pytest

from conftest import ROOT, script_env
from makers import draw_digit, write_image, write_own_csv, write_own_npz

nbformat = pytest.importorskip("nbformat", reason="nbformat is in requirements-dev.txt")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in requirements-dev.txt")
pytest.importorskip("ipykernel", reason="ipykernel is in requirements-dev.txt")


def copy_project(folder):
    """The project's files a user copies beside a notebook: the scripts and what they load."""
    for path in [*ROOT.glob("*.py"), ROOT / "draw_digit.html", ROOT / "requirements.txt"]:
        shutil.copy(path, folder / path.name)


def readme_cells():
    """The code blocks after the <!-- notebook --> marker, up to the next section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- notebook -->", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def outputs_of(cell):
    return [output for output in cell.get("outputs", [])]


def text_of(cell, stream):
    return "".join(
        output.get("text", "")
        for output in outputs_of(cell)
        if output.get("output_type") == "stream" and output.get("name") == stream
    )


def images_in(cell):
    return [output for output in outputs_of(cell) if "image/png" in output.get("data", {})]


def test_the_readme_notebook_cells_run_in_a_jupyter_kernel_show_pictures_and_keep_it_alive(
    tmp_path,
):
    work = tmp_path / "notebook"
    work.mkdir()
    copy_project(work)
    npz, csv = write_own_npz(tmp_path / "digits.npz"), write_own_csv(tmp_path / "patients.csv")
    write_image(work / "my_digit.jpg", draw_digit(size=200, width=14))
    cells = readme_cells()
    assert len(cells) >= 3, "the README's notebook section lost its cells"
    # No internet here: the training cells read the same kind of data from local files. The
    # install cell resolves the requirements but changes nothing in the environment under test.
    assert cells[0].strip() == "%pip install -q -r requirements.txt"
    cells = [cells[0].replace("install", "install --dry-run")] + [
        cell.replace("mnist_dense.py --quick", f"mnist_dense.py --quick --data {npz}").replace(
            "pima_binary.py --quick", f"pima_binary.py --quick --data {csv}"
        )
        for cell in cells[1:]
    ]
    checks = [
        "import signal; print('handler', signal.getsignal(signal.SIGINT)); kept = 'mine'",
        "%run pima_binary.py --data no-such-file.csv",
        "print('still alive', kept); print('handler', signal.getsignal(signal.SIGINT))",
    ]
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in checks[:1] + cells + checks[1:]]
    )
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    with client.setup_kernel(env=script_env()):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on a traceback

    handler_before = text_of(notebook.cells[0], "stdout")
    mistake, alive = notebook.cells[-2], notebook.cells[-1]
    assert "still alive mine" in text_of(alive, "stdout")  # the user's variables outlive %run
    assert (
        text_of(alive, "stdout").splitlines()[-1] == handler_before.strip()
    )  # its own Ctrl-C handler again
    assert text_of(mistake, "stderr").strip().splitlines() == [
        "error: no-such-file.csv does not exist; check the path"
    ]
    assert not [output for output in outputs_of(mistake) if output.get("output_type") == "error"]

    run_cells = [cell for cell in notebook.cells if "%run mnist_dense.py --quick" in cell.source]
    assert (
        len(images_in(run_cells[0])) >= 6
    )  # samples, history, confusion, predictions, mistakes...
    assert (work / "outputs" / "mnist_dense" / "model.keras").is_file()
    assert (work / "outputs" / "pima_binary" / "metrics.json").is_file()
    predicted = [cell for cell in notebook.cells if "--predict" in cell.source]
    assert predicted and images_in(predicted[-1]), "own_predictions.png was not shown"
    rows = (work / "outputs" / "mnist_dense" / "own_predictions.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("my_digit.jpg,")
    assert np.isclose(sum(float(p) for p in rows[1].split(",")[3:]), 1, atol=1e-3)


def run_in_a_kernel(work, sources):
    """Execute each source as a cell, in order, in one real Jupyter kernel; the cells."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    with client.setup_kernel(env=script_env()):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on a traceback
    return notebook.cells


def errors_in(cell):
    return [output for output in outputs_of(cell) if output.get("output_type") == "error"]


def test_a_mistyped_flag_in_a_kernel_is_argparses_lines_and_no_systemexit(tmp_path):
    """Issue 31: "SystemExit: 2" was a red error that stopped Run All."""
    copy_project(tmp_path)
    epochs = "argument --epochs: must be a whole number of 1 or more, got"
    mistakes = {
        "%run mnist_dense.py --no-such-flag": "unrecognized arguments: --no-such-flag",
        "%run mnist_dense.py --epochs 0": f"{epochs} '0'",
        "%run pima_binary.py --no-such-flag": "unrecognized arguments: --no-such-flag",
        "%run pima_binary.py --epochs x": f"{epochs} 'x'",
    }
    cells = run_in_a_kernel(tmp_path, [*mistakes, "%run mnist_dense.py --help", "print('alive')"])
    for cell, expected in zip(cells, mistakes.values()):
        script = cell.source.split()[1]
        lines = text_of(cell, "stderr").strip().splitlines()
        assert lines[-1] == f"{script}: error: {expected}", lines
        assert lines[0].startswith("usage: ")  # argparse's usage, as in a terminal
        assert not errors_in(cell) and "SystemExit" not in text_of(cell, "stderr")
    assert text_of(cells[-2], "stdout").startswith("usage: mnist_dense.py")  # --help: no error
    assert not errors_in(cells[-2]) and text_of(cells[-2], "stderr") == ""
    assert text_of(cells[-1], "stdout") == "alive\n"


def test_the_readme_photo_cell_reads_names_with_spaces_quotes_and_dollars(tmp_path):
    """Issue 31: %run split "IMG 2041.png" in two and choked on the quote in "it's.png"."""
    copy_project(tmp_path)
    names = ["IMG 2041.png", "it's.png", "$HOME {x}.png"]
    for name in names:
        write_image(tmp_path / name, draw_digit(size=200, width=14))
    npz = write_own_npz(tmp_path / "digits.npz")
    [photo_cell] = [cell for cell in readme_cells() if "photos" in cell]
    assert 'photos = ["my_digit.jpg"]' in photo_cell
    photo_cell = photo_cell.replace('photos = ["my_digit.jpg"]', f"photos = {names!r}")
    train, photos = run_in_a_kernel(
        tmp_path, [f"%run mnist_dense.py --quick --data {npz}", photo_cell]
    )
    assert not errors_in(photos) and text_of(photos, "stderr") == ""
    assert images_in(photos), "own_predictions.png was not shown"
    rows = (tmp_path / "outputs" / "mnist_dense" / "own_predictions.csv").read_text().splitlines()
    assert [row.rsplit(",", 12)[0] for row in rows[1:]] == names
