"""Write notebooks/mnist_dense.ipynb and notebooks/pima_binary.ipynb from the two scripts:

    python notebooks/make_notebooks.py

Each numbered step of a script's main() becomes a markdown cell (its heading, and its first
comments as prose) and a code cell with the step's code. The functions the steps call stand in
cells of their own before their first use. What only a script needs (flags, the project's
helper) gives way to a parameters cell and to Keras's own calls, listed in NOTEBOOK_EDITS: a
step that no longer matches them stops this tool, so a changed script cannot pass unnoticed.
tests/test_notebooks.py fails when a committed notebook differs from what this writes.
"""

import argparse
import ast
import importlib
import json
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ["mnist_dense", "pima_binary"]
HELPERS = "tutorial_helpers"

# (pattern, replacement) in the steps' code: the script's edges, in the notebook's words.
# Every pattern must match, or the tool stops.
COMMON_EDITS = [
    (
        r"args\.data or helpers\.download\((\w+), (\w+), args\.data_dir\)",
        r"args.data or keras.utils.get_file(origin=\1, file_hash=\2)",
    ),
    (
        r"keras = helpers\.start_keras\(args\.seed.*",
        "keras.utils.set_random_seed(seed)  # Python's, NumPy's and the backend's random numbers\n"
        'if keras.backend.backend() == "tensorflow":  # and the same sums in the same order\n'
        "    import tensorflow as tf\n\n"
        "    tf.config.experimental.enable_op_determinism()",
    ),
    (r"helpers\.save_outputs\(", "save_outputs("),
    (r'\nprint\(f"(Read your own digit|Predict new rows) with it: .*', ""),
]
NOTEBOOK_EDITS = {
    "mnist_dense": COMMON_EDITS
    + [
        (
            r"\(x_train, y_train\), \(x_test, y_test\) = load_npz\(npz_path\)",
            "with np.load(npz_path) as npz:  # Keras's mnist.npz layout, pixels 0 to 255\n"
            '    x_train, y_train = npz["x_train"], npz["y_train"]\n'
            '    x_test, y_test = npz["x_test"], npz["y_test"]',
        ),
    ],
    "pima_binary": COMMON_EDITS
    + [
        (r"\n# The article seeds NumPy only.*", ""),
        (r"\(rare_class_lines, below\)", "(rare_class_lines, above)"),
        (
            r"features, labels, classes = read_labelled_csv\(.*\)",
            'table = np.loadtxt(csv_path, delimiter=",")  # numbers only, the 0/1 label last\n'
            "features, labels = table[:, :-1], table[:, -1]\n"
            'classes = ["0", "1"]  # the labels of class 0 and class 1, as the file writes them',
        ),
    ],
}
# The same in the prose, where it speaks of the script.
PROSE_EDITS = {
    "mnist_dense": [
        (
            r"The file mnist\.load_data\(\) keeps in ~/\.keras, here in data/; or --data FILE, "
            r"checked below\.",
            "keras.utils.get_file downloads the file that mnist.load_data() reads, once, into "
            "~/.keras/datasets, and checks its SHA-256; or data_file names a local copy.",
        ),
        (
            r": one function per article, below main\(\)",
            ": one function per article, in the cells above",
        ),
        (r"figures, all or none", "figures"),
    ],
    "pima_binary": [
        (
            r"; read_labelled_csv \(below\) also names a bad cell and turns any two labels into 0 "
            r"and 1\.",
            ", as the cell below does: numbers only, the label 0 or 1 (pima_binary.py reads any "
            "two labels, and names a bad cell).",
        ),
        (r"figures, all or none", "figures"),
        (
            r": one function per article, below main\(\)",
            ": one function per article, in the cells above",
        ),
        (r"this file is the whole program", "this notebook is the whole program"),
    ],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; fail if a notebook is out of date"
    )
    check = parser.parse_args().check
    for lesson in LESSONS:
        path, text = ROOT / "notebooks" / f"{lesson}.ipynb", notebook_text(lesson)
        if not check:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        elif not path.is_file() or path.read_text() != text:
            sys.exit(f"{path.relative_to(ROOT)} is out of date: python notebooks/make_notebooks.py")


def notebook_text(lesson):
    """The notebook of lesson (a script's name without .py), as the JSON text to commit."""
    sys.path.insert(0, str(ROOT))
    script = Module(lesson)
    cells = Cells({name: Module(name) for name in [lesson, HELPERS, "own_digits"]}, lesson)
    cells.markdown(intro(script))
    cells.code(install_cell(), "install")
    at = len(cells.cells)
    cells.steps(script)
    cells.code_with_definitions(*ENDINGS[lesson])
    parameters, settings = parameter_cells(script, lesson, cells.flags_used)
    cells.define_what_is_used(settings, lesson)
    cells.note_imports(settings, lesson)
    constants = "\n".join(text for _, text in sorted(cells.constants))
    cells.cells[at:at] = [
        code_cell(parameters, "parameters", tags=["parameters"]),
        code_cell(cells.imports(), "imports"),
        code_cell(f"{constants}\n\n{settings}".strip(), "settings"),
    ]
    notebook = {
        "cells": cells.cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


class Module:
    """A project file's source: its top-level definitions, imports and comment sections."""

    def __init__(self, name):
        self.name, self.path = name, ROOT / f"{name}.py"
        self.source = self.path.read_text()
        self.lines = self.source.splitlines()
        self.tree = ast.parse(self.source)
        self.definitions, self.imports = {}, {}
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                self.definitions[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in ast.walk(node.targets[0]):
                    if isinstance(target, ast.Name):  # EPOCHS, BATCH_SIZE = 150, 10: both
                        self.definitions[target.id] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    bound = (alias.asname or alias.name).split(".")[0]
                    self.imports[bound] = ast.unparse(
                        type(node)(**{**node.__dict__, "names": [alias]})
                    )

    def text_of(self, node):
        """A definition's lines, with the comment lines right above it."""
        first = node.lineno - 1
        while first > 0 and self.lines[first - 1].startswith("# ") and node.col_offset == 0:
            first -= 1
        return "\n".join(self.lines[first : node.end_lineno])

    def section_of(self, node):
        """The prose of the ## comment block that heads the part of the file holding node."""
        block, prose = [], None
        for line in self.lines[: node.lineno - 1]:
            if line.startswith("## ") or (block and line.startswith("# ")):
                block.append(line.lstrip("# "))
            elif block:
                prose, block = block, []
        return prose

    def main_sections(self):
        """[(heading, prose, code)] for each ## section of main(), from the first one on."""
        main = self.definitions["main"]
        body = textwrap.dedent("\n".join(self.lines[main.lineno : main.end_lineno]))
        parts = re.split(r"^## (.*)\n", body, flags=re.M)[1:]
        sections = []
        for heading, text in zip(parts[::2], parts[1::2]):
            lines = text.strip("\n").splitlines()
            opening = 0
            while opening < len(lines) and lines[opening].startswith("# "):
                opening += 1
            prose = " ".join(line[2:] for line in lines[:opening])
            sections.append((heading, prose, "\n".join(lines[opening:]).strip("\n")))
        return sections


class Cells:
    """The notebook's cells as they are written, each definition once, before its first use."""

    def __init__(self, modules, lesson):
        self.modules, self.lesson, self.cells = modules, lesson, []
        self.defined, self.sections_shown, self.used_imports = set(), set(), {}
        self.constants = []  # (line in the script, text): the settings cell's first part
        self.flags_used = set()
        self.edits = {pattern: 0 for pattern, _ in NOTEBOOK_EDITS[lesson] + PROSE_EDITS[lesson]}

    def markdown(self, text):
        self.cells.append(markdown_cell(text, f"text-{len(self.cells)}"))

    def code(self, source, cell_id, tags=None):
        self.note_imports(source, self.lesson)
        self.cells.append(code_cell(source, cell_id, tags))

    def steps(self, script):
        links = article_links(script)
        for heading, prose, code in script.main_sections():
            code = self.edited(code, NOTEBOOK_EDITS[self.lesson])
            self.flags_used |= set(re.findall(r"\bargs\.(\w+)", code))
            code = re.sub(r"\bargs\.(\w+)", lambda m: parameter_name(m[1]), code)
            code = re.sub(r"  # fmt: skip$", "", code, flags=re.M)
            self.define_what_is_used(code, self.lesson)
            code = code.replace("helpers.", "")
            number = heading.split(".")[0] if heading[0].isdigit() else "save"
            prose = self.edited(prose, PROSE_EDITS[self.lesson])
            heading = self.edited(heading, PROSE_EDITS[self.lesson])
            self.markdown("\n\n".join(part for part in [f"## {heading}", prose, links] if part))
            if code:
                if re.search(r"pictures(\[.*\] =| =|\.update\()", code):  # each one inline
                    code += "\nshow(pictures)"
                    self.define_what_is_used("show", self.lesson)
                self.code(code, f"step-{number}")
        unmatched = [pattern for pattern, count in self.edits.items() if count == 0]
        if unmatched:
            sys.exit(f"make_notebooks.py: {script.name}.py no longer has {unmatched[0]!r}")

    def code_with_definitions(self, prose, code):
        """A part the notebook adds at its end: prose, then code, with what the code calls."""
        self.markdown(prose)
        self.define_what_is_used(code, self.lesson, "own_digits")
        self.code(code, f"end-{len(self.cells)}")

    def edited(self, text, edits):
        for pattern, replacement in edits:
            text, count = re.subn(pattern, replacement, text)
            self.edits[pattern] += count
        return text

    def define_what_is_used(self, code, *module_names):
        """Cells for the definitions that code uses and that are not in the notebook yet."""
        tree = ast.parse(code)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                name, homes = node.id, module_names
            elif isinstance(node, ast.Attribute) and getattr(node.value, "id", "") == "helpers":
                name, homes = node.attr, [HELPERS]
            else:
                continue
            if name in NOTEBOOK_DEFINITIONS and name not in self.defined:
                self.defined.add(name)
                self.define_what_is_used(NOTEBOOK_DEFINITIONS[name], *module_names)
                self.code(NOTEBOOK_DEFINITIONS[name], name.replace("_", "-"))
            home = next((h for h in homes if name in self.modules[h].definitions), None)
            if home is None or name in self.defined or name in NOT_IN_NOTEBOOKS:
                continue
            self.defined.add(name)
            module = self.modules[home]
            node = module.definitions[name]
            text = module.text_of(node).replace("helpers.UserError", "ValueError")
            text = text.replace("helpers.", "")
            text = re.sub(r"  # fmt: skip$", "", text, flags=re.M)
            self.define_what_is_used(text, home, HELPERS)
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                section = module.section_of(node)
                if home == self.lesson and section and section[0] not in self.sections_shown:
                    self.sections_shown.add(section[0])
                    heading, *prose = section
                    self.markdown(f"### {heading}\n\n{' '.join(prose)}".strip())
                self.note_imports(text, home)
                self.code(text, name.replace("_", "-"))
            elif any(name in self.defined for name in names_in(node.value)):
                self.code(text, name.replace("_", "-"))  # NETWORKS: after its functions
            else:  # a setting: with the others, at the top
                self.note_imports(text, home)
                self.constants.append((node.lineno, text))

    def note_imports(self, code, home):
        """Remember the module-level imports code needs, from the file it comes from."""
        imports = self.modules[home].imports
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Name) and node.id in PROJECT_MODULES:
                continue
            if isinstance(node, ast.Name) and node.id in imports:
                self.used_imports[node.id] = imports[node.id]
            elif isinstance(node, ast.Name) and node.id in EXTRA_IMPORTS:
                self.used_imports[node.id] = EXTRA_IMPORTS[node.id]

    def imports(self):
        lines = sorted(set(self.used_imports.values()))
        standard = [
            line for line in lines if line.split()[1].split(".")[0] in sys.stdlib_module_names
        ]
        others = [line for line in lines if line not in standard]
        order = lambda line: (line.startswith("from"), line)  # noqa: E731
        return "\n".join(sorted(standard, key=order) + [""] + sorted(others, key=order))


# Names the scripts' steps use that are not theirs to give: Keras itself, and the notebook's
# own two functions (save_outputs keeps it simple: no temporary files, no locks).
EXTRA_IMPORTS = {
    "keras": "import keras",
    "io": "import io",
    "json": "import json",
    "IPython": "import IPython.display",
    "Path": "from pathlib import Path",
}
NOTEBOOK_DEFINITIONS = {
    "show": '''\
shown = set()


def show(pictures):
    """Show, inline, the pictures not shown yet: matplotlib Figures and PNG bytes."""
    for name, picture in pictures.items():
        if name not in shown:
            shown.add(name)
            if hasattr(picture, "savefig"):
                png = io.BytesIO()
                picture.savefig(png, format="png", dpi=80)
                picture = png.getvalue()
            IPython.display.display(IPython.display.Image(picture))''',
    "save_outputs": '''\
def save_outputs(folder, files):
    """Write files {name: a function such as model.save, a Figure, a dict (JSON), or bytes}."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if callable(content):
            content(folder / name)
        elif hasattr(content, "savefig"):
            content.savefig(folder / name, format="png", dpi=80)
        elif isinstance(content, dict):
            (folder / name).write_text(json.dumps(content, indent=2) + "\\n")
        else:
            (folder / name).write_bytes(content)
    print(f"\\nSaved in {folder.absolute()}: {', '.join(files)}")''',
}
PROJECT_MODULES = {"helpers", "own_digits", "new_rows"}
NOT_IN_NOTEBOOKS = {"main", "parse_args", "UserError", "run"}

ENDINGS = {
    "mnist_dense": (
        """\
## Your own digits

Not in the articles: a reader may stop before this. MNIST's digits were made in one way:
white ink on black, the digit scaled to fit 20x20 pixels and placed in a 28x28 frame with its
centre of mass at the centre. The network has seen nothing else, so a photo of a digit you
wrote is prepared the same way before the network reads it. Name your photos, scans or drawings
(PNG or JPEG) in `photos` in the parameters cell; in Colab, an empty list lets you upload them.""",
        """\
if not photos:
    try:
        from google.colab import files

        photos = list(files.upload())
    except ImportError:
        print('Name your digit photos in the parameters cell: photos = ["my_digit.jpg"]')
if photos:
    from PIL import Image, ImageOps

    images = [ImageOps.exif_transpose(Image.open(photo)) for photo in photos]  # phones: sideways
    own = np.array([prepare_digit(image, photo) for image, photo in zip(images, photos)])
    own_probabilities = model.predict(own.reshape((-1, *image_shape)), verbose=0)
    for photo, shares in zip(photos, own_probabilities):
        print(f"{photo}: reads {shares.argmax()} ({shares.max():.1%} sure)")
    thumbnails = [image.convert("RGB") for image in images]
    for thumbnail in thumbnails:
        thumbnail.thumbnail((160, 160))
    figure = own_predictions_figure(photos, thumbnails, own, own_probabilities)
    show({"own_predictions.png": figure})""",
    ),
    "pima_binary": (
        """\
## Predict new rows

Not in the articles: a reader may stop before this. The saved model reads new patients' rows,
raw, the features in the training order: its Normalization layer scales them as it scaled the
training rows. Name a CSV of such rows in `new_rows_file` in the parameters cell, or use the
two made-up patients below.""",
        """\
if new_rows_file:
    new_patients = np.loadtxt(new_rows_file, delimiter=",", ndmin=2)
else:  # pregnancies, glucose, blood pressure, skin fold, insulin, BMI, pedigree, age
    new_patients = np.array([[1, 95, 70, 25, 80, 24.5, 0.3, 28], [6, 180, 80, 35, 200, 38, 1, 55]])
saved_model = keras.models.load_model(out / "model.keras")
for row, probability in zip(new_patients, saved_model.predict(new_patients, verbose=0)[:, 0]):
    print(f"{row} -> probability {probability:.3f}, predicted {int(probability > 0.5)}")""",
    ),
}
NOTEBOOK_PARAMETERS = {  # the notebook's own, after the script's flags
    "mnist_dense": [("photos", [], 'your digit photos, e.g. ["my_digit.jpg"]; see the end')],
    "pima_binary": [("new_rows_file", None, "a CSV of new rows to predict; see the end")],
}


def names_in(node):
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def parameter_name(flag_dest):
    return {"data": "data_file"}.get(flag_dest, flag_dest)


def parameter_cells(script, lesson, used):
    """The parameters cell (the flags the steps use, at their defaults) and the settings cell
    (the script's constants, and what parse_args derives from the flags)."""
    module = importlib.import_module(lesson)
    defaults = vars(module.parse_args([]))
    parse_args = script.text_of(script.definitions["parse_args"])
    derived = dict(re.findall(r"^ +args\.(\w+) = (.*)$", parse_args, flags=re.M))
    used |= set(re.findall(r"\bargs\.(\w+)", "\n".join(derived.values())))
    used |= {"data", "out"}  # the ending cells use out
    calls = [
        call
        for call in ast.walk(script.definitions["parse_args"])
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "add"
    ]
    flags = {call.args[0].value[2:] for call in calls}
    lines, conversions = [], []
    for call in calls:
        dest = call.args[0].value[2:].replace("-", "_")
        if dest not in used:
            continue
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        value = None if dest in derived else defaults[dest]
        if isinstance(value, Path):
            value = str(value)
        if getattr(keywords.get("type"), "id", "") == "Path" and dest != "data":
            name = parameter_name(dest)
            conversions.append(
                f"{name} = Path({name})" if value else f"{name} = {name} and Path({name})"
            )
        help_text = eval(compile(ast.Expression(keywords["help"]), "help", "eval"), vars(module))
        help_text = help_text.replace("%(default)s", str(value))
        if dest not in derived:
            help_text = re.sub(r" \(default[^)]*\)", "", help_text)
        else:
            help_text = help_text.replace("(default: ", "(None: ")
        help_text = re.sub(
            r"--([a-z-]+)",
            lambda m: parameter_name(m[1].replace("-", "_")) if m[1] in flags else m[0],
            help_text,
        )
        lines.append(parameter_line(parameter_name(dest), value, help_text))
    for name, value, help_text in NOTEBOOK_PARAMETERS[lesson]:
        lines.append(parameter_line(name, value, help_text))
    settings = [
        re.sub(r"\bargs\.(\w+)", lambda m: parameter_name(m[1]), f"args.{dest} = {value}")
        for dest, value in derived.items()
    ]
    return "\n".join(lines), "\n".join(conversions + settings)


def parameter_line(name, value, help_text):
    line = f"{name} = {value!r}".replace("'", '"')
    comment = textwrap.wrap(help_text, 96 - len(line), break_on_hyphens=False)
    return f"{line}  # {comment[0]}" + "".join(
        f"\n{' ' * len(line)}  # {more}" for more in comment[1:]
    )


def article_links(script):
    """'Articles: [A](url) ...' from the script's docstring."""
    docstring = ast.get_docstring(script.tree)
    found = re.findall(
        r"article ([A-E])\b(?:(?!article [A-E]\b).)*?(https://[^\s)]+)", docstring, re.S
    )
    links = sorted(dict(found).items())
    return "Articles: " + ", ".join(f"[{letter}]({url})" for letter, url in links)


def intro(script):
    docstring = ast.get_docstring(script.tree)
    paragraphs = [p for p in docstring.split("\n\n") if not p.startswith("    ")]
    paragraphs = [p for p in paragraphs if not p.startswith("Writes ")]
    title, *rest = paragraphs
    text = "\n\n".join(rest)
    text = re.sub(r"--network (first|dropout|deep)\b", r'`network = "\1"`', text)
    text = re.sub(r"--([a-z-]+)", lambda m: f"`{parameter_name(m[1])}`", text)
    return (
        f"# {title}\n\n{text}\n\nThe cells are the steps of `{script.name}.py`, from which "
        "`notebooks/make_notebooks.py` writes this notebook. Run them in order; change what "
        "you like in the parameters cell first. In Colab: File > Upload notebook."
    )


def install_cell():
    """A cell that installs what requirements.txt asks for and is missing (nothing, on Colab)."""
    requirements = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and "python_version >=" not in line:
            spec = line.split(";")[0].strip()
            requirements[re.split(r"[<>=\[;]", spec)[0]] = spec
    needed = "\n".join(f'    "{name}": "{spec}",' for name, spec in requirements.items())
    return (
        "# What the lesson needs and this Python lacks; on Colab, nothing: it has it all.\n"
        "import importlib.util\nimport os\nimport subprocess\nimport sys\n\n"
        f"needed = {{\n{needed}\n}}\n"
        "missing = [spec for name, spec in needed.items() if not importlib.util.find_spec(name)]\n"
        "if missing:\n"
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)\n'
        'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no TensorFlow C++ log in the cells'
    )


def source_lines(text):
    return text.splitlines(keepends=True)


def markdown_cell(text, cell_id):
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source_lines(text)}


def code_cell(source, cell_id, tags=None):
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"tags": tags} if tags else {},
        "outputs": [],
        "source": source_lines(source),
    }


if __name__ == "__main__":
    main()
