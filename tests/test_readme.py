"""The README's promises that a test can hold it to: its snippet runs as written; and
CONTRIBUTING.md's command for the oldest versions pins each lower bound of requirements.txt and
runs test files that exist."""

import ast
import csv
import re
import shutil

import pytest

from conftest import ROOT, assert_succeeded, run, script_env
from makers import draw_digit, pima_like_features, write_image


def readme_block(marker):
    """The code block that follows `<!-- marker -->` in README.md."""
    text = (ROOT / "README.md").read_text()
    return re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S).group(1)


@pytest.mark.warm  # the scripts' runs; the snippet itself starts a fresh Python
def test_the_snippet_for_ones_own_code_works_as_written_and_agrees_with_predict(
    tmp_path, quick_run
):
    # What the README assumes: both default runs done, a photo of a digit, in this folder.
    features = pima_like_features(60)
    labels = (features[:, 1] > 120).astype(int)
    rows = [
        ",".join(f"{value:.3f}" for value in row) + f",{label}"
        for row, label in zip(features, labels)
    ]
    (tmp_path / "eight_features.csv").write_text("\n".join(rows) + "\n")
    shutil.copytree(quick_run("mnist_dense.py")[1], tmp_path / "outputs" / "mnist_dense")
    # Dark ink on white paper: a 1, with a flag, so that it is not the same digit turned over.
    write_image(tmp_path / "my_digit.jpg", draw_digit("1", size=(50, 60), width=6))

    snippet = readme_block("snippet")
    patients = ast.literal_eval(
        re.search(r"np\.array\(\s*(\[\s*\[.*?\]\s*,?\s*\])", snippet, re.S).group(1)
    )
    (tmp_path / "patients.csv").write_text(
        "".join(",".join(map(str, row)) + "\n" for row in patients)
    )
    # Pima's default run, here quick on a table of 8 features; then --predict as the README runs
    # it, on the snippet's two patients and the photo, with the same models.
    for result in run(
        *["pima_binary.py", "--quick", "--data", "eight_features.csv"],
        then=[
            ["pima_binary.py", "--predict", "patients.csv"],
            ["mnist_dense.py", "--predict", "my_digit.jpg"],
        ],
        cwd=tmp_path,
    ):
        assert_succeeded(result)
    # Another environment than script_env()'s: a fresh Python, even in a test marked warm.
    result = run("-c", snippet, cwd=tmp_path, timeout=300, env=script_env(PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-3000:]
    onset = re.search(r"probability of onset: \[\s*([\d.]+)\s+([\d.]+)\s*\]", result.stdout)
    digit = re.search(r"digit: (\d) confidence: ([\d.]+)", result.stdout)
    assert onset and digit, result.stdout

    # The same two patients and the same photo, as --predict read them.
    with open(tmp_path / "outputs" / "pima_binary" / "own_predictions.csv", newline="") as file:
        predicted = [float(row["probability"]) for row in csv.DictReader(file)]
    assert [float(p) for p in onset.groups()] == pytest.approx(predicted, abs=0.0005 + 1e-6)
    with open(tmp_path / "outputs" / "mnist_dense" / "own_predictions.csv", newline="") as file:
        (read,) = list(csv.DictReader(file))
    assert int(digit.group(1)) == int(read["digit"])
    assert float(digit.group(2)) == pytest.approx(float(read["confidence"]), abs=0.0005 + 0.00005)


def requirement_lines(name):
    lines = (ROOT / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_requirements_lowest_pins_each_lower_bound_and_its_command_runs_real_test_files():
    pins = {}
    for line in requirement_lines("requirements-lowest.txt"):
        name, version = line.split(";")[0].split("==")
        pins[name.strip()] = version.strip()
    for line in requirement_lines("requirements.txt"):
        name, bounds = re.match(r"([\w.-]+)(?:\[\w+\])?\s*([^;]*)", line).groups()
        lowest = re.search(r">=\s*([\d.]+)", bounds).group(1).split(".")
        assert pins[name].split(".")[: len(lowest)] == lowest, (name, pins[name], lowest)
    command = re.search(
        r"<!-- lowest -->\s*```sh\n(.*?)```", (ROOT / "CONTRIBUTING.md").read_text(), re.S
    )
    assert "-c requirements-lowest.txt" in command.group(1)
    test_files = re.findall(r"tests/\S+\.py", command.group(1))
    assert test_files and all((ROOT / path).is_file() for path in test_files)


DOCS = ["README.md", "CONTRIBUTING.md", "benchmarks/README.md"]


@pytest.mark.parametrize("doc", DOCS)
def test_every_file_a_doc_names_exists(doc):
    """Issue 50: a doc that names a deleted file misleads. Each file it quotes (`name.py`,
    `.md`, `.html`, `.txt`, `.ipynb`, `.toml`) or links to is in the project, from the doc's
    folder, from the project's top, or by its name alone (`warm.py`)."""
    text = (ROOT / doc).read_text()
    named = set(re.findall(r"`([\w./-]+\.(?:py|md|html|txt|ipynb|toml))`", text))
    named |= set(re.findall(r"\]\(((?!https?:)[\w./-]+)\)", text))  # links to files
    named = {name for name in named if not name.startswith("keras/")}  # Keras's own source
    assert len(named) >= 3, named  # the doc is read, not empty
    here = (ROOT / doc).parent
    skipped = {".git", ".venv", "__pycache__", "data", "outputs"}
    files = {path for path in ROOT.rglob("*") if not skipped & set(path.parts)}
    missing = [name for name in named if not (here / name).exists() and not (ROOT / name).exists()
               and not any(path.name == name for path in files)]  # fmt: skip
    assert missing == []
