"""New rows, read by the network pima_binary.py trained: python pima_binary.py --predict ROWS.csv

Each row holds the features in the training order, maybe followed by the label, in the training
file's own words (0/1, M/R, yes/no...); a header row is allowed. Prints each row's probability of
class 1 and the label it predicts, and writes own_predictions.csv to --out.
Not in the articles: a reader may start here once done.
"""

import csv
import io
import json
import shlex
from pathlib import Path

from labelled_csv import feature_table, label_key, read_cells
from tutorial_helpers import UserError, check_writable, load_saved_model, one_line, save_outputs
from tutorial_helpers import spreadsheet_text


def main(args):
    """--predict, with pima_binary.py's flags: the saved model reads the rows."""
    model_path = args.model or args.out / "model.keras"
    how_to_train = f"python pima_binary.py --out {shlex.quote(str(args.out))}"
    check_writable(args.out)
    model = load_saved_model(model_path, how_to_train)
    if len(model.inputs) != 1 or len(model.input_shape) != 2 or model.output_shape[1:] != (1,):
        raise UserError(
            f"{model_path} takes {model.input_shape} and gives {model.output_shape}; this script "
            f"needs a model that takes n features and gives one probability; train one with: "
            f"{how_to_train}"
        )
    classes, source = saved_classes(model_path)
    columns = training_columns(source)
    predict_new_rows(model, args.predict, args.out, classes, source, model_path, columns)


def predict_new_rows(
    model, path, out, classes=("0", "1"), source=None, model_path="the model", columns=None
):
    """The rows of the CSV at path, read by model, printed and written to own_predictions.csv.
    classes: the training file's labels of class 0 and 1, as named in source (metrics.json);
    model_path: where the model was read from, for a message; columns: the training file's
    header, by whose names a header that lists them in another order is read."""
    header, rows, line_numbers, separator = read_cells(path)
    if not rows:
        raise UserError(f"{path} holds no rows to predict")
    if header and columns and header != columns[: len(header)]:
        header, rows = in_training_order(path, header, rows, columns)
    n_features, n_columns = model.input_shape[-1], len(rows[0])
    if n_columns not in (n_features, n_features + 1):
        raise UserError(
            f"{path} has {n_columns} columns; the model takes {n_features} features, in the "
            f"training order, maybe followed by the label ({n_features + 1} columns)"
        )
    features, _ = feature_table(path, header, rows, line_numbers, n_features, separator=separator)
    labels = None
    if n_columns == n_features + 1:  # the label, in the words of the training file
        known = {label_key(name): number for number, name in enumerate(classes)}
        labels = []
        for cells, line in zip(rows, line_numbers):
            if label_key(cells[-1]) not in known:
                raise UserError(
                    f"{path} line {line}: the label (last column) is {one_line(cells[-1], 40)}; "
                    f"the model's labels are {classes[0]} and {classes[1]}"
                    + f" (from {source})"
                    * bool(source)
                )
            labels.append(known[label_key(cells[-1])])
    probabilities = model.predict(features, verbose=0)[:, 0]
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise UserError(
            f"{model_path} gives values outside 0..1, not probabilities (a sigmoid output gives "
            "them); train one with: python pima_binary.py"
        )
    predicted = (probabilities > 0.5).astype(int)

    if list(classes) != ["0", "1"]:
        print(
            f"Labels as {source or 'the training file'} names them: the probability is that of "
            f"{classes[1]} (class 1); above 0.5, {classes[1]} is predicted, else {classes[0]}"
        )
    print(f"   row  probability  predicted{'  label' if labels is not None else ''}")
    for row, (probability, guess) in enumerate(zip(probabilities, predicted), 1):
        label = ""
        if labels is not None:
            label = f"  {classes[labels[row - 1]]:>5}"
            label += "" if guess == labels[row - 1] else "  <- wrong"
        print(f"{row:6d}  {probability:11.3f}  {classes[guess]:>9}{label}")
    if labels is not None:
        right = sum(int(guess == label) for guess, label in zip(predicted, labels))
        print(f"{right} of {len(labels)} rows predicted right")

    names = header or [f"feature_{i}" for i in range(1, n_features + 1)] + (
        ["label"] if labels is not None else []
    )
    # Its text cells as spreadsheet_text writes them: a spreadsheet never runs one as a formula.
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*map(spreadsheet_text, names), "probability", "predicted"])
    words = [spreadsheet_text(name) for name in classes]
    for row, (values, probability, guess) in enumerate(zip(features, probabilities, predicted)):
        # 9 significant digits give back the same 32-bit float the model computed.
        label = [] if labels is None else [words[labels[row]]]
        writer.writerow(
            [*(f"{value:.15g}" for value in values), *label, f"{probability:.9g}", words[guess]]
        )
    save_outputs(out, {"own_predictions.csv": text.getvalue()})


def in_training_order(path, header, rows, columns):
    """header and rows with their columns in the training file's order, where the header names
    the training columns (the features, maybe then the label) in another order."""
    wanted = columns[: len(header)]
    if (
        len(header) < len(columns) - 1
        or sorted(header) != sorted(wanted)
        or len(set(header)) < len(header)
    ):
        return header, rows  # other names, or one twice: read by position, as without a header
    order = [header.index(name) for name in wanted]
    print(f"{path}: its columns, read by the names of the training file's: {', '.join(wanted)}")
    return wanted, [[cells[i] for i in order] for cells in rows]


def training_columns(metrics_path):
    """The header of the file the model was trained on, as metrics.json names it; None where
    it had none, or is not there to read."""
    try:
        data = json.loads(Path(metrics_path).read_text(encoding="utf-8"))["data"]
        return read_cells(data)[0]
    except (TypeError, KeyError, OSError, ValueError, UserError):
        return None


def saved_classes(model_path):
    """The training file's labels of class 0 and class 1, and the metrics.json beside the model
    that names them; 0 and 1 (and None) for a model saved without one."""
    path = Path(model_path).parent / "metrics.json"
    try:
        classes = json.loads(path.read_text(encoding="utf-8")).get("classes", ["0", "1"])
    except FileNotFoundError:
        return ["0", "1"], None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as error:
        raise UserError(
            f"{path} cannot be read ({one_line(str(error), 80)}); it names the model's "
            f"labels: train again, or move {model_path} to a folder of its own"
        )
    if not isinstance(classes, list) or len(set(map(str, classes))) != 2 or len(classes) != 2:
        raise UserError(
            f"{path}: 'classes' is {one_line(repr(classes), 60)}, not two labels; "
            f"train again, or move {model_path} to a folder of its own"
        )
    return [str(name) for name in classes], path
