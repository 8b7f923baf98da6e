"""Write notebooks/mnist_dense.ipynb and notebooks/pima_binary.ipynb from the two scripts:
python notebooks/make_notebooks.py (--check: write nothing; fail if one is out of date).

A notebook is its script's lesson() as cells: each numbered step a heading, its comments as prose,
then its code as written, after the script's imports and settings and a parameters cell for what
the flags set. What the steps use comes whole from the file that defines it: the lesson's own
functions just before the step that first uses them; the rest (downloads, checks, pictures) in a
collapsed cell at the top, so that the notebook needs no other file. No code is rewritten.
"""

import argparse
import ast
import importlib
import inspect
import json
import os
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not in the articles: each notebook ends by reading data of your own with the trained model.
# Its file, its parameter (name, default, comment), the ending's heading and prose, its code.
ENDINGS = {
    "mnist_dense": ("own_digits", ("photos", [], "photos of your digits, read at the end"), """\
## Your own digits

Not in the articles. Photos, scans or drawings of digits (PNG or JPEG), named in `photos` in the
parameters cell or uploaded here in Colab, made to look like MNIST's and read by the network.""",
        """\
if not photos:
    try:
        from google.colab import files

        photos = list(files.upload())
    except ImportError:
        print('Name photos of your digits in the parameters cell: photos = ["my_digit.jpg"]')
if photos:
    read_own_digits(model, photos, out)"""),
    "pima_binary": ("new_rows", ("new_rows_file", None, "a CSV of new rows, read at the end"), """\
## Predict new rows

Not in the articles. The trained model reads new rows, raw, the features in the training order
(maybe then the label): its Normalization layer scales them as it scaled the training rows.""",
        """\
if new_rows_file:
    predict_new_rows(model, new_rows_file, out, classes)
else:
    print('Name a CSV of new rows in the parameters cell: new_rows_file = "new_rows.csv"')"""),
}  # fmt: skip


# A notebook runs in IPython, where the shell's plumbing (signals, exit codes, file descriptors)
# has nothing to do: what a script takes from shell.py, its notebook takes from
# tutorial_helpers.py, under the same name (quiet_start, without the shell's part).
NOTEBOOK_ROOMS = {"shell": "tutorial_helpers"}


class Module:
    """A project file: its top-level statements by the names they bind, and its imports."""

    def __init__(self, name):
        self.name, self.source = name, (ROOT / f"{name}.py").read_text()
        self.tree, self.lines = ast.parse(self.source), self.source.splitlines()
        self.statements, self.imports, self.project = {}, {}, {}
        for node in self.tree.body:
            for alias in node.names if isinstance(node, (ast.Import, ast.ImportFrom)) else []:
                bound = (alias.asname or alias.name).split(".")[0]
                if (ROOT / f"{getattr(node, 'module', None)}.py").is_file():
                    self.project[bound] = node.module  # from tutorial_helpers import ...
                else:
                    self.imports[bound] = ast.unparse(node)
            for bound in bound_names(node):
                self.statements.setdefault(bound, []).append(node)

    def text(self, node):
        """The statement as written, with the comment lines just above it."""
        first = node.lineno - 1 - len(getattr(node, "decorator_list", []))
        while first > 0 and self.lines[first - 1].startswith("# "):
            first -= 1
        return "\n".join(self.lines[first : node.end_lineno])

    def steps(self):
        """[(heading, prose, code)] for each step of lesson(), from its ## comment lines."""
        node = self.statements["lesson"][0]
        body = textwrap.dedent("\n".join(self.lines[node.body[0].end_lineno : node.end_lineno]))
        steps = []
        for line in body.strip().splitlines():
            if line.startswith("## "):
                steps.append((line[3:], [], []))
            else:
                steps[-1][1 if line.startswith("# ") and not steps[-1][2] else 2].append(line)
        return [(head, " ".join(line[2:] for line in prose), "\n".join(code).strip())
                for head, prose, code in steps]  # fmt: skip


def bound_names(node):
    """The top-level names a statement defines or changes: A[x] = ... changes A."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    targets = [t.value if isinstance(t, ast.Subscript) else t for t in getattr(node, "targets", [])]
    return [name.id for t in targets for name in ast.walk(t) if isinstance(name, ast.Name)]


def used_names(code):
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}


class Notebook:
    def __init__(self, lesson):
        self.script = Module(lesson)
        self.modules, self.cells, self.needed, self.imports = {lesson: self.script}, [], {}, set()

    def need(self, code, module):
        """Every statement of the project that code uses, from the file that defines it."""
        home = self.modules.setdefault(module, Module(module))
        for name in sorted(used_names(code)):
            if name in home.project:
                room = NOTEBOOK_ROOMS.get(home.project[name], home.project[name])
                if name not in self.modules.setdefault(room, Module(room)).statements:
                    sys.exit(f"{room}.py defines no {name}, which a notebook of {home.name} uses")
                self.need(name, room)
            self.imports |= {home.imports[name]} if name in home.imports else set()
            for node in home.statements.get(name, []):
                if node not in self.needed and not isinstance(node, (ast.Import, ast.ImportFrom)):
                    self.needed[node] = home
                    self.need(home.text(node), home.name)

    def cell(self, kind, source, **metadata):
        cell = {"cell_type": kind, "id": f"{kind}-{len(self.cells)}", "metadata": metadata}
        cell |= {"execution_count": None, "outputs": []} if kind == "code" else {}
        self.cells.append(cell | {"source": source.strip("\n").splitlines(keepends=True)})

    def show(self, node):
        """A cell for one of the lesson's own definitions, after those it uses."""
        if self.needed.pop(node, None):
            for name in sorted(used_names(self.script.text(node))):
                for used in self.script.statements.get(name, []):
                    self.show(used)
            self.cell("code", self.script.text(node))


def notebook(lesson):
    book = Notebook(lesson)
    script, (ending_module, parameter, ending_prose, ending_code) = book.script, ENDINGS[lesson]
    docstring = ast.get_docstring(script.tree).split("\n\n")
    title, *paragraphs = [paragraph for paragraph in docstring if not paragraph.startswith(" ")]
    book.cell("markdown", f"# {title}\n\n" + "\n\n".join(paragraphs) + f"\n\nThe cells are the "
              f"steps of `{lesson}.py` as written there: `notebooks/make_notebooks.py` writes this "
              "notebook from it. Run them in order, after changing what you like in the parameters "
              "cell. In Colab: File > Upload notebook.")  # fmt: skip
    # The engine first, in plain sight: the script's own line, before anything loads Keras.
    engine = next(node for node in script.tree.body if "KERAS_BACKEND" in ast.unparse(node))
    book.cell("code", f"import os\n\n{script.text(engine)}\n\n{install_cell()}")
    steps = script.steps()
    imports = next(node for node in script.tree.body if isinstance(node, ast.With))
    book.need("\n".join(code for _, _, code in steps) + "\n" + script.text(imports), lesson)
    book.need(ending_code, ending_module)
    rules = rules_cell(lesson, script)
    book.need(rules, lesson)
    # The lesson's own definitions above main() stand in the notebook: its settings after the
    # imports, its functions before the step that first uses them. The rest, in a collapsed cell.
    main = script.statements["main"][0].lineno
    own = [node for node, home in book.needed.items() if home is script and node.lineno < main]
    functions = {node.name for node in script.tree.body if isinstance(node, ast.FunctionDef)}
    settings = [node for node in own if isinstance(node, ast.Assign)
                and not used_names(script.text(node)) & functions]  # fmt: skip
    book.cell("code", setup_cell(book, [node for node in book.needed if node not in own]),
              jupyter={"source_hidden": True}, cellView="form")  # fmt: skip
    book.cell("code", script.text(imports))
    book.cell("code", "\n".join(script.text(node) for node in settings))
    book.needed = {node: script for node in own if node not in settings}
    book.cell("code", parameters(lesson, parameter), tags=["parameters"])
    book.cell("code", rules)
    for heading, prose, code in steps:
        book.cell("markdown", f"## {heading}" + f"\n\n{prose}" * bool(prose))
        for name in sorted(used_names(code)):
            for node in script.statements.get(name, []):
                book.show(node)
        if code:
            book.cell("code", code)
    book.cell("markdown", ending_prose)
    book.cell("code", ending_code)
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    document = {"cells": book.cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def setup_cell(book, nodes):
    """The imports and the statements the steps need from the project's other files (and the
    lesson's pictures), file by file, each in the order its file has them."""
    files = ["tutorial_helpers", *sorted(book.modules), book.script.name]
    nodes = sorted(nodes, key=lambda node: (files.index(book.needed[node].name), node.lineno))
    standard = sorted(line for line in book.imports
                      if line.split()[1].split(".")[0] in sys.stdlib_module_names)  # fmt: skip
    others = sorted(line for line in book.imports if line not in standard)
    code = "# @title What the steps use from the project's files: run it, and read on\n"
    code += "\n".join(standard) + "\n\n" + "\n".join(others)
    for previous, node in zip([None, *nodes], nodes):  # the settings of a file side by side
        together = isinstance(previous, ast.Assign) and isinstance(node, ast.Assign)
        code += ("\n" if together else "\n\n\n") + book.needed[node].text(node)
    return code


def rules_cell(lesson, script):
    """main()'s own line that applies the flags' rules, settings(), as the notebook's: the
    same function, called on the parameters of the same names."""
    main = script.statements["main"][0]
    call = next(node for node in ast.walk(main) if isinstance(node, ast.Assign)
                and "settings(" in ast.unparse(node.value))  # fmt: skip
    targets = ast.unparse(call.targets[0]).replace("args.", "").strip("()")
    names = ", ".join(settings_parameters(lesson))
    return (f"# The flags' rules, as python {lesson}.py applies them: each value checked,\n"
            f"# then the article's settings for what is left at None.\n"
            f"{targets} = settings({names})")  # fmt: skip


def settings_parameters(lesson):
    function = importlib.import_module(lesson).settings
    kinds = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return [name for name, p in inspect.signature(function).parameters.items() if p.kind == kinds]


def parameters(lesson, ending):
    """lesson()'s parameters at their defaults (and the others settings() reads, at their
    flags'), each with its flag and the flag's help."""
    module = importlib.import_module(lesson)
    flags = {action.dest: action for action in module.parser()._actions}
    lines = [f"# What the script's flags set: python {lesson}.py --help"]
    defaults = {name: p.default for name, p in inspect.signature(module.lesson).parameters.items()}
    defaults |= {name: flags[name].default for name in settings_parameters(lesson)
                 if name not in defaults}  # fmt: skip
    for name, value in {**defaults, ending[0]: ending[1]}.items():
        if isinstance(value, Path):  # relative to the notebook's folder
            value = os.path.relpath(value, ROOT) if value.is_absolute() else str(value)
        flag = flags.get(name)
        about = f"{flag.option_strings[0]}: {flag.help % {'default': value}}" if flag else ending[2]
        line = f"{name} = {json.dumps(value) if isinstance(value, str) else repr(value)}"
        comment = textwrap.wrap(about, 96 - len(line))
        lines += [f"{line}  # {comment[0]}", *(f"{' ' * len(line)}  # {c}" for c in comment[1:])]
    return "\n".join(lines)


def install_cell():
    """A cell in which pip installs what requirements.txt asks for and this Python lacks."""
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    needed = json.dumps(
        [line.split("#")[0].strip() for line in lines if line[:1].isalpha()], indent=4
    )
    return f"""\
# What the lesson needs: pip installs what this Python lacks (on Colab, nothing).
import subprocess
import sys

needed = {needed}
pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
subprocess.run([*pip, *needed], check=True)"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if out of date")
    check = parser.parse_args().check
    sys.path.insert(0, str(ROOT))
    for lesson in ENDINGS:
        path, text = ROOT / "notebooks" / f"{lesson}.ipynb", notebook(lesson)
        if check and (not path.is_file() or path.read_text() != text):
            sys.exit(f"{path.relative_to(ROOT)} is out of date: python notebooks/make_notebooks.py")
        if not check:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
