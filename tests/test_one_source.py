"""The lesson's shape (issue 42): the steps are plain Keras as the articles write them, each
notebook's step cells are its script's steps as written, the files keep to their sizes, no file
imports another in a circle, and every package the code imports is one requirements.txt names.
Read from the files themselves: nothing here runs a script."""

import ast
import importlib.metadata
import json
import re
import sys
import textwrap

import pytest

from conftest import ROOT

LESSONS = ["mnist_dense", "pima_binary"]
PROJECT = sorted(path.stem for path in ROOT.glob("*.py"))
# Keras's own keywords of fit that the lesson may give: the data, how long, how much at a time,
# what validates, what watches, and (Pima) how much each class weighs.
FIT_KEYWORDS = {"epochs", "batch_size", "validation_split", "validation_data", "callbacks",
                "class_weight"}  # fmt: skip


def lesson_of(name):
    """The lesson() function of a script, as a tree, and its body's lines as written."""
    source = (ROOT / f"{name}.py").read_text()
    lesson = next(
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == "lesson"
    )
    lines = source.splitlines()[lesson.body[0].end_lineno : lesson.end_lineno]
    return lesson, textwrap.dedent("\n".join(lines))


def code_lines(text):
    """The lines of code, without blank and comment-only lines, stripped."""
    return [line.strip() for line in text.splitlines() if line.strip() and line.strip()[0] != "#"]


@pytest.mark.parametrize("name", LESSONS)
def test_each_notebooks_step_cells_hold_its_scripts_steps_as_written(name):
    _, steps = lesson_of(name)
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cells = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    in_cells = {line for cell in cells for line in code_lines(cell)}
    lines = code_lines(steps)
    verbatim = [line for line in lines if line in in_cells]
    assert len(lines) > 40
    assert len(verbatim) >= 0.95 * len(lines), [line for line in lines if line not in in_cells]
    # And in the script's order, step by step: a cell per step, its lines in a row.
    headings = re.findall(r"^## (.*)$", steps, re.M)
    markdown = [
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"
    ]
    assert [heading for heading in headings if any(f"## {heading}" in m for m in markdown)] == (
        headings
    )


def project_calls(tree, script):
    """The calls in tree to what the project defines: the script's own functions, NETWORKS,
    and what it imports from the project's files."""
    imported = {
        alias.asname or alias.name
        for node in script.body
        if isinstance(node, ast.ImportFrom) and (ROOT / f"{node.module}.py").is_file()
        for alias in node.names
    }
    defined = {
        node.name if isinstance(node, ast.FunctionDef) else target.id
        for node in script.body
        if isinstance(node, (ast.FunctionDef, ast.Assign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node])
        if isinstance(node, ast.FunctionDef) or isinstance(target, ast.Name)
    }
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func.value if isinstance(node.func, ast.Subscript) else node.func
            if isinstance(function, ast.Name) and function.id in imported | defined:
                calls.append(function.id)
    return calls


@pytest.mark.parametrize("name", LESSONS)
def test_the_steps_are_plain_keras_with_one_fit_and_the_save_in_sight(name):
    lesson, steps = lesson_of(name)
    script = ast.parse((ROOT / f"{name}.py").read_text())
    names = {node.id for node in ast.walk(lesson) if isinstance(node, ast.Name)}
    attributes = {node.attr for node in ast.walk(lesson) if isinstance(node, ast.Attribute)}
    assert not {"tensorflow", "tf", "torch", "jax", "sys"} & names  # no backend, no machinery
    assert "backend" not in attributes, "the steps ask which backend runs"
    assert not [node for node in ast.walk(lesson) if isinstance(node, (ast.Import, ast.ImportFrom))]
    calls = project_calls(lesson, script)
    assert len(calls) <= 8, calls
    fits = [
        node
        for node in ast.walk(lesson)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "fit"
    ]
    assert len(fits) == 1
    assert {keyword.arg for keyword in fits[0].keywords} <= FIT_KEYWORDS
    assert [ast.unparse(arg) for arg in fits[0].args] == ["x_train", "y_train"]
    assert "model.save" in steps


def test_each_file_keeps_to_its_size_and_the_readme_runs_its_command_early():
    lines = {path.name: len(path.read_text().splitlines()) for path in ROOT.glob("*.py")}
    assert lines["mnist_dense.py"] <= 300 and lines["pima_binary.py"] <= 300, lines
    assert lines["tutorial_helpers.py"] <= 300, lines
    assert len((ROOT / "notebooks" / "make_notebooks.py").read_text().splitlines()) <= 250
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 250
    command = readme.index("<!-- run -->") + 2  # the line after the marker's ```sh
    assert command < 30 and "mnist_dense.py" in readme[command]


def imports_of(path):
    """The project's files that path imports, wherever in the file (a function's too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PROJECT)


def test_no_file_of_the_project_imports_another_in_a_circle():
    graph = {name: imports_of(ROOT / f"{name}.py") - {name} for name in PROJECT}
    assert graph["new_rows"] and graph["mnist_dense"]  # the graph is read, not empty

    def reaches(start, goal, seen=()):
        return any(
            after == goal or (after not in seen and reaches(after, goal, (*seen, after)))
            for after in graph[start]
        )

    assert [name for name in PROJECT if reaches(name, name)] == []


# Imported only where they are there already: IPython inside Jupyter, which brings it.
PROVIDED = {"IPython"}


def test_every_package_the_code_imports_is_one_requirements_txt_names():
    requirements = {
        re.split(r"[<>=\[;\s]", line)[0].lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line[:1].isalpha()
    }
    distributions = importlib.metadata.packages_distributions()
    imported = set().union(
        *(
            {
                (alias.name if isinstance(node, ast.Import) else node.module).split(".")[0]
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
                for alias in node.names
            }
            for path in ROOT.glob("*.py")
        )
    )
    packages = imported - set(PROJECT) - set(sys.stdlib_module_names) - PROVIDED
    assert {"keras", "numpy", "matplotlib", "PIL", "tensorflow"} <= packages
    missing = {
        package
        for package in packages
        if not {name.lower() for name in distributions.get(package, [package])} & requirements
    }
    assert missing == set()
