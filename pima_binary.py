"""Predict diabetes onset from the Pima Indians data: a first binary classifier in Keras 3.

Read it beside article B, "Develop your first neural network in Python with Keras step by
step" (https://machinelearningmastery.com/tutorial-first-neural-network-python-keras/):
the numbered sections below are its steps, written for Keras 3. --network dropout trains
article C's network, "Building your first neural network using Keras"
(https://medium.com/mlearning-ai/building-your-first-neural-network-using-keras-478a9885117).

Expected with the defaults (150 epochs, batch 10, seed 7), in about 10 s on 2 cores: 0.83 on
the training rows (the article reports about 0.78) and 0.77 on held-out rows, the figure to
believe, against 0.65 for always answering "no onset" (other seeds: 0.69 to 0.77).

    python pima_binary.py                         # download the Pima CSV into data/, train
    python pima_binary.py --data my_table.csv     # numeric features, any two labels last
    python pima_binary.py --quick                 # a few seconds, to check the set-up
    python pima_binary.py --predict new_rows.csv  # new patients, read by the saved model

Writes model.keras, metrics.json, history.png and network.png (with Graphviz) to --out.
"""

import argparse
import csv
import importlib.util
import re
import sys
import time
from pathlib import Path

import tutorial_helpers as helpers  # before NumPy: from here on a Ctrl-C is one line

import numpy as np
import new_rows

DATA_URL = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
)
DATA_SHA256 = "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af"
DEFAULT_OUT = Path("outputs/pima_binary")
EPOCHS, BATCH_SIZE = 150, 10  # article B's, and article C's too
TEST_FRACTION = 0.2  # rows held out for the final, honest accuracy
VALIDATION_FRACTION = 0.2  # of the training rows, to draw validation curves while fitting
PATIENCE = 20  # epochs without a lower validation loss before --early-stop stops (README.md)


def main(argv=None):
    args = parse_args(argv)
    if args.predict:  # new patients: new_rows.py
        return new_rows.predict_new_rows(args)
    helpers.check_writable(args.out)  # now, not after training
    if args.tensorboard:
        helpers.check_writable(args.tensorboard, "--tensorboard", "TensorBoard logs")

    ## 1. Load the data
    # The article calls numpy.loadtxt; read_labelled_csv (below) also names a bad cell and
    # turns any two labels into 0 and 1. The article evaluates on its training rows, which
    # flatters the model: here a seeded, stratified 20% of the rows is held out till the end.
    csv_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    features, labels, classes = read_labelled_csv(csv_path, args.positive, args.drop_missing)
    train, test = stratified_split(labels, TEST_FRACTION, np.random.default_rng(args.seed))
    x_train, y_train, x_test, y_test = features[train], labels[train], features[test], labels[test]
    positive = int(labels.sum())
    print(
        f"Loaded {csv_path}: {len(labels)} rows, {features.shape[1]} features, {positive} positive"
    )
    print(f"Training rows {x_train.shape}, held-out test rows {x_test.shape}")
    # The article seeds NumPy only; Keras 3 needs keras.utils.set_random_seed: the helper's.
    # only now, as loading Keras takes seconds
    keras = helpers.start_keras(args.seed, tensorboard=bool(args.tensorboard))

    ## 2. Define the model and 3. compile it: one function per article, below main()
    model = NETWORKS[args.network](keras, x_train, 1 if keras.backend.backend() == "torch" else 50)
    model.summary()
    pictures = helpers.network_drawing(keras, model)

    ## 4. Fit the model
    # The last 20% of the training rows (in random order since the split) draw the
    # validation curves; the test rows stay unseen.
    n_val = max(1, round(VALIDATION_FRACTION * len(x_train)))
    x_fit, y_fit, fit_batch = x_train[:-n_val], y_train[:-n_val], args.batch_size
    x_val, y_val = x_train[-n_val:], y_train[-n_val:]
    validation = (x_val, y_val)
    if keras.backend.backend() == "tensorflow":
        # Keras 3.15 on TensorFlow, once seeded, shuffles NumPy arrays into the same order
        # every epoch (tests/test_keras_facts.py); a tf.data pipeline draws a new one each.
        # Validating from one, in Keras's default batches of 32, is faster too (benchmarks/).
        import tensorflow as tf

        rows = tf.data.Dataset.from_tensor_slices((x_fit, y_fit)).shuffle(len(x_fit), args.seed)
        x_fit, y_fit, fit_batch = rows.batch(args.batch_size).prefetch(2), None, None
        validation = tf.data.Dataset.from_tensor_slices(validation).batch(32)
    callbacks = []
    if args.early_stop:  # stop where the validation loss is lowest, and keep those weights
        callbacks += [keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)]
    if args.tensorboard:  # a folder per run, so that TensorBoard shows runs side by side
        run = f"{model.name}-seed{args.seed}" + "-early-stop" * args.early_stop
        run += time.strftime("-%Y%m%d-%H%M%S")
        callbacks += [keras.callbacks.TensorBoard(args.tensorboard / run)]
    class_weight = None
    if args.balance:  # a rare class's rows weigh more in the loss: both classes weigh the same
        class_weight = {c: 0.5 / float(np.mean(y_train[:-n_val] == c)) for c in (0, 1)}
        print(f"--balance: a row weighs {class_weight[0]:.3f} in class 0, "
              f"{class_weight[1]:.3f} in class 1")  # fmt: skip
    start = time.perf_counter()
    history = model.fit(
        x_fit,
        y_fit,
        batch_size=fit_batch,
        epochs=args.epochs,
        validation_data=validation,
        callbacks=callbacks,
        class_weight=class_weight,  # None: every row weighs the same
        shuffle=fit_batch is not None,  # tf.data batches come shuffled
        verbose=1 if sys.stdout.isatty() else 2,  # 2: one line an epoch, for a log file
    )
    fit_seconds = time.perf_counter() - start
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Trained {len(history.epoch)} of {args.epochs} epochs; the validation loss was lowest "
          f"after epoch {best_epoch}" + ", whose weights were kept" * args.early_stop)  # fmt: skip
    pictures["history.png"] = helpers.learning_curves(history.history, best_epoch, model.name)

    ## 5. Evaluate the model
    # The accuracy on the training rows is what the article prints; on the held-out rows,
    # what to expect on new patients.
    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=1024, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    print(f"\nAccuracy on the training rows: {train_accuracy:.4f} (the figure the article prints)")
    print(f"Accuracy on the held-out rows: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    # Always answering 0 already scores 0.65. Beside that baseline, the confusion matrix shows
    # which mistakes are made, and recall how many of the sick the network finds.
    predicted = (model.predict(x_test, batch_size=1024, verbose=0)[:, 0] > 0.5).astype(int)
    actual = y_test.astype(int)
    confusion = np.histogram2d(actual, predicted, bins=2, range=[[0, 2], [0, 2]])[0].astype(int)
    (tn, fp), (fn, tp) = confusion
    baseline = max(actual.mean(), 1 - actual.mean())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    print(
        f"Always answering {int(actual.mean() > 0.5)}, the commoner class, would get {baseline:.4f}"
    )
    # Not in the articles: where one class is rare, accuracy flatters (rare_class_lines, below).
    for line in rare_class_lines(confusion, labels.mean(), classes, args.balance):
        print(line)
    print(f"\n{'held-out rows':>16}  predicted 0  predicted 1")
    print(f"{'actually 0':>16}  {tn:11d}  {fp:11d}\n{'actually 1':>16}  {fn:11d}  {tp:11d}")
    print(f"Precision {precision:.3f}: of the {tp + fp} rows predicted 1, {tp} are 1.")
    print(
        f"Recall {recall:.3f}: of the {tp + fn} rows that are 1, {tp} were found and {fn} missed."
    )

    ## 6. Tie it together: this file is the whole program, steps 1 to 5 and 7.

    ## 7. Make predictions
    # predict gives the probability of class 1; above 0.5 means class 1.
    probabilities = model.predict(x_test[:10], verbose=0)[:, 0]
    print("\nFirst held-out rows:\n probability  predicted  actual")
    for probability, label in zip(probabilities, y_test[:10]):
        mark = "" if int(probability > 0.5) == label else "  <- wrong"
        print(f"    {probability:.3f}        {int(probability > 0.5)}        {int(label)}{mark}")

    ## Save the model, its pictures and figures, all or none
    metrics = {"data": str(csv_path), "network": args.network, "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy, "test_loss": test_loss, "baseline_accuracy": baseline,
        "confusion_matrix": confusion.tolist(), "precision": precision, "recall": recall,
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "n_train": len(y_train), "n_validation": n_val, "n_test": len(y_test),
        "fit_seconds": round(fit_seconds, 2), "best_epoch": best_epoch,
        "epochs_trained": len(history.epoch), "val_loss": history.history["val_loss"],
        "classes": classes, "class_weight": class_weight}  # fmt: skip
    helpers.save_outputs(args.out, {"model.keras": model.save, **pictures, "metrics.json": metrics})
    print(f"Predict new rows with it: python pima_binary.py --predict ROWS.csv --out {args.out}")


## The articles' networks, each defined and compiled in one block (keras.Input: input_dim=).
## steps_per_execution: 50 batches per call into the backend, faster, same numbers (benchmarks/).
# Not in the articles: Normalization scales each feature to mean 0 and variance 1 by the
# training rows: raw columns span 0.08-2.4 (pedigree) to 0-846 (insulin), on which the network
# learns slowly (README.md). Inside the model, it lets the saved file take raw rows.


def article_b(keras, x_train, steps_per_execution):
    """Article B: 12 and 8 units, then one sigmoid output: the probability of onset."""
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            normalize,
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="pima_first",
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    return model


def article_c(keras, x_train, steps_per_execution):
    """Article C: 64 units, then dropout 0.2, which silences a random fifth of the units at
    each step so that none can be relied on alone: a guard against overfitting. Its later
    layers cannot be read; this script's choice is 32 units, dropout 0.2."""
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            normalize,
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name="pima_dropout",
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    return model


NETWORKS = {"first": article_b, "dropout": article_c}


## Beside the accuracy, when one class is rare (not in the articles)
RARE_SHARE = 0.2  # a class with a smaller share of the rows is rare: accuracy then says little


def rare_class_lines(confusion, share_of_1, classes, balanced):
    """Lines on the rare class's precision and recall, and on a network that does no better
    than always answering the commoner class; [] where neither applies."""
    (tn, fp), (fn, tp) = confusion
    rare = int(share_of_1 < 0.5)
    share = share_of_1 if rare else 1 - share_of_1
    lines = []
    if share < RARE_SHARE:
        found, flagged, total = (tp, tp + fp, tp + fn) if rare else (tn, tn + fn, tn + fp)
        precision, recall = found / max(flagged, 1), found / max(total, 1)
        hint = "" if balanced else "; --balance weighs it up"
        lines.append(
            f"Imbalanced: class {rare} (label {classes[rare]}) is only {share:.1%} of the rows, so "
            f"accuracy says little; for that class, held out: precision {precision:.3f} ({found} "
            f"of {flagged} flagged are right), recall {recall:.3f} ({found} of {total} found){hint}"
        )
    right, common = tn + tp, int(fn + tp > tn + fp)
    if right <= max(tn + fp, fn + tp):
        lines.append(
            f"The network does no better than always answering {common} (label {classes[common]}):"
            f" {right} of {tn + fp + fn + tp} held-out rows right, against {max(tn + fp, fn + tp)}"
        )
    return lines


## Flags. A reader of the articles may skip from here on.
# fmt: off
def parse_args(argv=None):
    number = helpers.whole_number
    parser = argparse.ArgumentParser(
        description="Train a network on the Pima Indians diabetes CSV (or a CSV of your own: "
        "numeric features, then two labels, such as 0/1 or yes/no, in the last column), or "
        "predict new rows with a trained one (--predict).")
    add = parser.add_argument
    add("--network", choices=NETWORKS, default="first",
        help="first: article B's 12-8-1 (default); dropout: article C's 64-32-1 with dropout")
    add("--data", type=Path, metavar="FILE", help="a local CSV to use instead of downloading one")
    add("--positive", metavar="LABEL",
        help="the label that is class 1 (default: 1 of 0/1, the larger number, a yes, true or "
        "positive; else the rarer label)")
    add("--drop-missing", action="store_true",
        help="leave out the rows with a missing value (?, NA, an empty cell...), never guessed; "
        "without it, such a file is refused")
    add("--balance", action="store_true",
        help="weigh the rows of each class by the inverse of its share (Keras's class_weight), "
        "for a table where one class is rare")
    add("--data-dir", type=Path, metavar="DIR", default=Path(__file__).resolve().parent / "data",
        help="where the download is cached (default: data/ beside this script)")
    add("--epochs", type=number(1), metavar="N",
        help=f"passes over the training rows (default: {EPOCHS}; 2 with --quick)")
    add("--batch-size", type=number(1), metavar="N", default=BATCH_SIZE,
        help="rows per weight update (default: %(default)s)")
    add("--seed", type=number(0, 2**32 - 1), metavar="N", default=7,
        help="seed for the split, the weights and the shuffling (default: %(default)s)")
    add("--out", type=Path, metavar="DIR", default=DEFAULT_OUT,
        help="folder for the model, plots and metrics (default: %(default)s)")
    add("--quick", action="store_true", help="train for 2 epochs: a smoke test")
    add("--early-stop", action="store_true",
        help=f"stop once the validation loss has not fallen for {PATIENCE} epochs, and keep the "
        "weights of the epoch where it was lowest (default: train every epoch)")
    add("--tensorboard", type=Path, metavar="DIR",
        help="write TensorBoard logs into a new folder in DIR; watch: tensorboard --logdir DIR")
    add("--predict", type=Path, metavar="ROWS.csv",
        help="no training: predict these rows with the saved model; each row holds the "
        "features in the training order, optionally followed by the label")
    add("--model", type=Path, metavar="FILE",
        help="the model --predict uses (default: model.keras in --out)")
    args = parser.parse_args(argv)
    if args.tensorboard and not all(map(importlib.util.find_spec, ["tensorflow", "tensorboard"])):
        parser.error("--tensorboard needs TensorFlow and TensorBoard: "
                     "pip install tensorflow tensorboard")
    args.epochs = args.epochs or (2 if args.quick else EPOCHS)
    return args
# fmt: on


## Reading and checking CSV files. A reader of the articles may skip this section.

MIN_ROWS = 10
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}  # a missing value, not a name
LARGEST_VALUE = 1e18  # the network computes in 32-bit floats, whose squares overflow at 1.8e19


YES_WORDS = {"yes", "y", "true", "t", "positive", "pos"}  # a label holding one is class 1


def read_labelled_csv(path, positive=None, drop_missing=False):
    """Features, 0/1 labels, and the file's own labels of class 0 and class 1, from a CSV with
    numeric features and any two labels in the last column; a UserError names what is wrong."""
    header, rows, line_numbers = read_cells(path)
    n_features = len(rows[0]) - 1 if rows else 0
    features, kept = feature_table(path, header, rows, line_numbers, n_features, drop_missing)
    if len(kept) < MIN_ROWS or n_features < 1:
        raise helpers.UserError(
            f"{path} has {len(kept)} data rows" + " left" * (len(kept) < len(rows)) + f"; it "
            f"needs at least {MIN_ROWS}, each with one or more numeric features and a label in "
            "the last column"
        )
    labels, classes = label_classes(
        path, [rows[i][-1] for i in kept], [line_numbers[i] for i in kept], positive
    )
    return features, labels, classes


def read_cells(path):
    """(header or None, rows of cells as text, line number of each row) from a CSV file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path")
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; pass a CSV file")
    except OSError as error:
        raise helpers.UserError(f"cannot read {path} ({error.strerror})")
    if data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        raise helpers.UserError(
            f"{path} is compressed (gzip or zip); decompress it and pass the CSV inside"
        )
    if b"\0" in data:
        raise helpers.UserError(
            f"{path} is not a text file; pass a CSV file (numbers separated by commas)"
        )
    try:
        text = data.decode("utf-8-sig")  # -sig: Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as error:
        raise helpers.UserError(
            f"{path} is not UTF-8 text (byte {data[error.start]:#x} at offset "
            f"{error.start}); save or convert it as UTF-8 and try again"
        )
    # Commas, as the article's files have them; a semicolon file (with decimal commas) or a
    # tab file is read too, as is a quoted cell ("6" or '6'). A first row counts as a header only
    # when no cell is a number or a mark of a missing value (NA), so that a typo in the first
    # data row is reported.
    first = next((line for line in text.splitlines() if line.strip()), "")
    separator = next((mark for mark in ";\t," if mark in first), ",")
    if separator == ";":  # where a comma is the decimal mark: 33,6 is 33.6
        text = text.replace(",", ".")
    csv.field_size_limit(len(text) + 1)  # a cell as long as the file is reported, not refused
    lines = [
        (number, [unquoted(cell) for cell in cells])
        for number, cells in enumerate(csv.reader(text.splitlines(), delimiter=separator), 1)
        if any(cell.strip() for cell in cells)
    ]
    header = None
    if lines and not any(is_number(cell) or cell.lower() in MISSING for cell in lines[0][1]):
        header = lines[0][1]
        lines = lines[1:]
    if header and lines and len(header) != len(lines[0][1]):
        raise helpers.UserError(
            f"{path}: the header row names {len(header)} columns, but the rows "
            f"have {len(lines[0][1])}"
        )
    for number, cells in lines:
        if len(cells) != len(lines[0][1]):
            earlier = len(lines[0][1])
            raise helpers.UserError(
                f"{path} line {number}: {len(cells)} columns, but earlier rows have {earlier}"
            )
    return header, [cells for _, cells in lines], [number for number, _ in lines]


def unquoted(cell):
    """The cell without the spaces and the one pair of quotes around it: ' "R"' is R."""
    cell = cell.strip()
    if len(cell) > 1 and cell[0] == cell[-1] and cell[0] in "'\"":
        cell = cell[1:-1].strip()
    return cell


def feature_table(path, header, rows, line_numbers, n_features, drop_missing=None):
    """float64 features from the first n_features columns, and the indices of the rows kept.

    A text column, a cell that is no number, or a missing value (?, NA, empty: in the label
    column too) is named in one line; drop_missing=True leaves the rows with a missing value
    out and says so. None: there is no --drop-missing (--predict), the fix named is the user's.
    """

    def column_name(column):  # 0-based
        label = " (the label)" * (column == n_features and not header)
        return f"{column + 1}" + (f" ({header[column]})" if header and header[column] else label)

    gaps = [[cell.lower() in MISSING for cell in cells] for cells in rows]
    text_columns = []
    for column in range(n_features):
        cells = [cells[column] for cells, gap in zip(rows, gaps) if not gap[column]]
        words = [cell for cell in cells if not is_number(cell)]
        if len(words) > len(cells) / 2:  # text in a few cells only: typos, named below
            text_columns.append((column, list(dict.fromkeys(words))))
    if text_columns:
        column, words = text_columns[0]
        shown = ", ".join(repr(helpers.one_line(word, 20)) for word in words[:3])
        others = [column_name(other) for other, _ in text_columns[1:]]
        also = ", ".join(others[:5]) + " and more" * (len(others) > 5)
        also = f", as do columns {also}" if len(others) > 1 else f", as does column {also}"
        raise helpers.UserError(
            f"{path}: column {column_name(column)} holds text, not numbers ({shown}"
            + ", ..." * (len(words) > 3)
            + ")"
            + also * bool(others)
            + "; the network reads numbers only: encode each text column as numbers first, "
            "e.g. one 0/1 column per category"
        )
    for cells, gap, number in zip(rows, gaps, line_numbers):
        for column, cell in enumerate(cells[:n_features], 1):
            if gap[column - 1]:
                continue
            if not is_number(cell):
                shown = helpers.one_line(cell, 40)
                raise helpers.UserError(
                    f"{path} line {number}, column {column}: {shown!r} is not "
                    "a number; the file must hold numbers separated by commas"
                )
            if abs(float(cell)) > LARGEST_VALUE:
                raise helpers.UserError(
                    f"{path} line {number}, column {column}: {float(cell):g} is too large; values "
                    f"must lie within ±{LARGEST_VALUE:g}, as the network computes in 32-bit floats"
                )
    holed = [row for row, gap in enumerate(gaps) if any(gap)]
    kept = [row for row, gap in enumerate(gaps) if not any(gap)]
    if holed:
        columns = sorted({column for row in holed for column, gap in enumerate(gaps[row]) if gap})
        named = ", ".join(map(column_name, columns[:6])) + " and more" * (len(columns) > 6)
        where = f"column{'s' * (len(columns) > 1)} {named}"
        if drop_missing:
            print(
                f"--drop-missing: left out {len(holed)} of {len(rows)} rows, those with a missing "
                f"value (in {where}); {len(kept)} rows remain"
            )
        else:
            first = holed[0]
            fix = (
                "pass --drop-missing to leave those rows out, or fill the cells in"
                if drop_missing is False
                else "fill the cells in, or leave those rows out"
            )
            raise helpers.UserError(
                f"{path}: {len(holed)} of {len(rows)} rows hold a missing value (?, NA, an empty "
                f"cell...) in {where}, the first at line {line_numbers[first]}, column "
                f"{gaps[first].index(True) + 1}; {fix}: this script never guesses a value"
            )
    table = [[float(cell) for cell in rows[row][:n_features]] for row in kept]
    return np.array(table, dtype="float64").reshape(len(kept), n_features), kept


def is_number(cell):
    """True for a finite number such as 6, 0.627 or 1e3; not for text, NaN, infinity or 1_000."""
    try:
        return "_" not in cell and np.isfinite(float(cell))
    except ValueError:
        return False


def label_key(cell):
    """What makes two labels the same: the number for numbers (1 and 1.0), else the text."""
    return float(cell) if is_number(cell) else cell


def label_text(key):
    return f"{key:.15g}" if isinstance(key, float) else key


def label_classes(path, cells, line_numbers, positive=None):
    """0/1 classes (float64) for two labels as the file writes them, and the two labels, class
    0's first. Prints the rule that chose which is class 1."""
    keys = [label_key(cell) for cell in cells]
    kinds = list(dict.fromkeys(keys))  # in the order they first appear
    if len(kinds) == 1:
        raise helpers.UserError(
            f"{path}: every label is {label_text(kinds[0])} (the last column); the data needs "
            "rows of two classes, such as 0 and 1"
        )
    if len(kinds) > 2:
        third = line_numbers[keys.index(kinds[2])]
        listed = ", ".join(map(label_text, kinds[:6])) + ", ..." * (len(kinds) > 6)
        raise helpers.UserError(
            f"{path}: the label (last column) takes {len(kinds)} different values ({listed}; "
            f"a third first at line {third}); this script learns two classes: keep the rows of "
            "two labels, or merge the labels into two"
        )
    if positive is not None:
        one = label_key(unquoted(positive))
        if one not in kinds:
            raise helpers.UserError(
                f"{path}: --positive {positive} is not one of its labels, "
                f"{label_text(kinds[0])} and {label_text(kinds[1])}"
            )
        rule = "as --positive chose"
    elif all(isinstance(key, float) for key in kinds):  # 0 and 1 keep their meaning
        one = max(kinds)
        rule = "as written" if set(kinds) == {0, 1} else "the larger number is class 1"
    else:
        says_yes = [
            key for key in kinds if YES_WORDS & set(re.split("[^a-z]+", label_text(key).lower()))
        ]
        counts = [keys.count(key) for key in kinds]
        if len(says_yes) == 1:
            one, rule = says_yes[0], "a label saying yes, true or positive is class 1"
        elif counts[0] != counts[1]:
            one, rule = kinds[counts.index(min(counts))], "the rarer label is class 1"
        else:
            one = max(kinds, key=label_text)
            rule = "as common as each other, the later in alphabetical order is class 1"
    zero = kinds[1 - kinds.index(one)]
    print(
        f"Label {label_text(one)} is class 1, {label_text(zero)} is class 0: {rule}"
        + f" (--positive {label_text(zero)} swaps them)" * (positive is None)
    )
    labels = np.array([float(key == one) for key in keys], dtype="float64")
    return labels, [label_text(zero), label_text(one)]


def stratified_split(labels, test_fraction, rng):
    """Indices of training and test rows, each class split in the same proportion."""
    train, test = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_test = max(1, round(test_fraction * len(rows)))
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    return rng.permutation(train), rng.permutation(test)


if __name__ == "__main__":
    helpers.run(main)
