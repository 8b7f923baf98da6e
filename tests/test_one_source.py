"""The lesson's shape (issue 42): the steps are plain Keras as the articles write them, each
notebook's step cells are its script's steps as written, no file imports another in a circle,
every package the code imports is one requirements.txt names, and no notebook holds the shell's
plumbing. Read from the files themselves: nothing here runs a script."""

import ast
import importlib.metadata
import itertools
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


@pytest.mark.parametrize("name", LESSONS)
def test_each_notebooks_step_cells_hold_its_scripts_steps_as_written(name):
    """Line for line: each step's code, as lesson() writes it, is the last code cell under the
    step's heading (the lesson's own functions may stand before it), and nothing else is."""
    _, steps = lesson_of(name)
    notebook = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cells = [(cell["cell_type"], "".join(cell["source"])) for cell in notebook["cells"]]
    headings = re.findall(r"^## (.*)$", steps, re.M)
    in_cells = []
    for heading in headings:
        at = cells.index(next(cell for cell in cells if cell[1].startswith(f"## {heading}")))
        under = list(itertools.takewhile(lambda cell: cell[0] == "code", cells[at + 1 :]))
        in_cells += [line for line in under[-1][1].splitlines()] if under else []
    written = [line for line in steps.splitlines() if line.strip()[:1] not in ("", "#")]
    in_cells = [line for line in in_cells if line.strip()[:1] not in ("", "#")]
    assert len(written) > 40
    assert in_cells == written


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
    assert not {"tensorflow", "tf", "torch", "jax", "sys"} & names  # no backend, no machinery
    # The steps may say which backend ran (keras.backend.backend(), in metrics.json), never ask.
    asked = [node for kind in (ast.If, ast.IfExp, ast.Compare, ast.BoolOp, ast.While)
             for node in ast.walk(lesson) if isinstance(node, kind)]  # fmt: skip
    assert not [node for node in asked if "backend" in ast.unparse(node)], "the steps ask"
    told = [ast.unparse(node) for node in ast.walk(lesson)
            if isinstance(node, ast.Attribute) and node.attr == "backend"]  # fmt: skip
    assert set(told) <= {"keras.backend", "keras.backend.backend"}, told
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


def test_the_readme_runs_its_command_early():
    readme = (ROOT / "README.md").read_text().splitlines()
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


# What a script needs in a shell and a notebook does not (issue 50): stop signals, file
# descriptors moved about, exit hooks, an exit that skips Python's own.
PLUMBING = {"signal", "atexit", "os.dup", "os.dup2", "os._exit"}


def plumbing_in(code):
    """The names of PLUMBING that code imports, calls or reads."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {alias.name for alias in node.names} | {getattr(node, "module", None)}
        elif isinstance(node, (ast.Name, ast.Attribute)):
            found.add(ast.unparse(node))
    return sorted(found & PLUMBING)


@pytest.mark.parametrize("name", LESSONS)
def test_no_notebook_cell_holds_the_shells_plumbing(name):
    """The collapsed cell holds what the steps call (tutorial_helpers.py), never shell.py."""
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    assert any("def save_outputs(" in cell for cell in code)  # the helpers are read, not absent
    assert [plumbing_in(cell) for cell in code if plumbing_in(cell)] == []
    assert plumbing_in((ROOT / "shell.py").read_text())  # what it looks for is there to find


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
