"""Predict diabetes onset from the Pima Indians data: a first binary classifier in Keras 3.

Read it beside article B, "Develop your first neural network in Python with Keras step by
step" (https://machinelearningmastery.com/tutorial-first-neural-network-python-keras/):
the numbered sections below are the article's steps, written for Keras 3. --network dropout
trains article C's network instead, "Building your first neural network using Keras"
(https://medium.com/mlearning-ai/building-your-first-neural-network-using-keras-478a9885117).

Expected result on the real CSV with the defaults (150 epochs, batch 10, seed 7): 0.83
accuracy on the training rows (the article reports about 0.78) and 0.77 on the held-out
rows it never trained on, which is the figure to believe, against 0.65 for always answering
"no onset". Other seeds hold out other rows and give 0.69 to 0.77. About 8 seconds of
training on a 2-core CPU.

Works on any numeric CSV whose last column is a 0/1 label (a header row is skipped):

    python pima_binary.py                        # download the Pima CSV into data/, train
    python pima_binary.py --data my_table.csv    # your own data instead
    python pima_binary.py --quick                # a few seconds, to check the set-up
    python pima_binary.py --predict new_rows.csv # new patients, read by the saved model

Writes to --out: model.keras, metrics.json, history.png and network.png (with Graphviz).
--predict writes own_predictions.csv there.
"""

import argparse
import csv
import importlib.util
import io
import shutil
import sys
import time
from pathlib import Path

import tutorial_helpers as helpers  # before NumPy: from here on a Ctrl-C is one line, not a traceback

import numpy as np

DATA_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
DATA_SHA256 = "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af"
TEST_FRACTION = 0.2  # rows held out for the final, honest accuracy
VALIDATION_FRACTION = 0.2  # of the training rows, to draw validation curves while fitting
MIN_ROWS = 10
MISSING = {"", "na", "n/a", "nan", "null", "none", "?", "-"}  # marks of a missing value, not names
LARGEST_VALUE = 1e18  # the network computes in 32-bit floats, whose squares overflow at 1.8e19
PATIENCE = 20  # epochs without a lower validation loss before --early-stop stops (benchmarks/README.md)
DEFAULT_OUT = Path("outputs/pima_binary")


def whole_number(low, high=None):
    """An argparse type: a whole number from low to high (no limit when high is None)."""
    def parse(text):
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {low} or more, got {value}" if high is None
                                             else f"must be from {low} to {high}, got {value}")
        return value
    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train a network on the Pima Indians diabetes CSV (or any numeric CSV with "
        "a 0/1 label in the last column), or predict new rows with a trained one (--predict).")
    parser.add_argument("--network", choices=["first", "dropout"], default="first",
                        help="first: article B's 12-8-1 (default); dropout: article C's 64-32-1 with dropout")
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="a local CSV to use instead of downloading one")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        default=Path(__file__).resolve().parent / "data",
                        help="where the download is cached (default: data/ beside this script, "
                        "wherever you run it from)")
    parser.add_argument("--epochs", type=whole_number(1), metavar="N",
                        help="passes over the training rows (default: 150; 2 with --quick)")
    parser.add_argument("--batch-size", type=whole_number(1), metavar="N", default=10,
                        help="rows per weight update (default: %(default)s)")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), metavar="N", default=7,
                        help="seed for the split, the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=DEFAULT_OUT,
                        help="folder for the model, plots and metrics, in the folder you run from "
                        "(default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="train for 2 epochs: a smoke test")
    parser.add_argument("--early-stop", action="store_true",
                        help=f"stop once the validation loss has not fallen for {PATIENCE} epochs, and "
                        "keep the weights of the epoch where it was lowest (default: train every epoch)")
    parser.add_argument("--tensorboard", type=Path, metavar="DIR",
                        help="write TensorBoard logs into a new folder in DIR; watch with: tensorboard --logdir DIR")
    parser.add_argument("--predict", type=Path, metavar="ROWS.csv",
                        help="no training: predict these rows with the saved model; each row holds "
                        "the features in the training order, optionally followed by the 0/1 label")
    parser.add_argument("--model", type=Path, metavar="FILE",
                        help="the model --predict uses (default: model.keras in --out)")
    args = parser.parse_args(argv)
    if args.tensorboard and not (importlib.util.find_spec("tensorflow") and importlib.util.find_spec("tensorboard")):
        parser.error("--tensorboard needs TensorFlow and TensorBoard: pip install tensorflow tensorboard")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.predict:
        return predict_new_rows(args)
    epochs = args.epochs or (2 if args.quick else 150)
    helpers.check_writable(args.out)  # now, not after training

    ## 1. Load the data
    # The article calls numpy.loadtxt; read_csv (below) reads the same file and also names
    # a bad row. The article evaluates on the rows it trained on, which flatters the model:
    # here a seeded, stratified 20% of the rows is held out and used only at the end.
    csv_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    features, labels = read_training_csv(csv_path)
    train, test = stratified_split(labels, TEST_FRACTION, np.random.default_rng(args.seed))
    x_train, y_train, x_test, y_test = features[train], labels[train], features[test], labels[test]
    print(f"Loaded {csv_path}: {len(labels)} rows, {features.shape[1]} features, "
          f"{int(labels.sum())} positive")
    print(f"Training rows {x_train.shape}, held-out test rows {x_test.shape}")
    # Keras loads only now, as it takes seconds: a mistyped flag is reported at once. The
    # article seeds NumPy only; Keras 3 needs keras.utils.set_random_seed, which the helper calls.
    keras = helpers.start_keras(args.seed)

    ## 2. Define the model
    # Not in the article: a Normalization layer rescales each feature to mean 0 and variance
    # 1, with statistics of the training rows only. Raw columns span 0.08-2.4 (pedigree) to
    # 0-846 (insulin), on which the network learns slowly (README.md). Inside the model,
    # it lets the saved file take raw rows. Keras 3 has no input_dim=: keras.Input says it.
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    Dense, Dropout = keras.layers.Dense, keras.layers.Dropout
    if args.network == "first":  # article B: 12 and 8 units
        hidden = [Dense(12, activation="relu"), Dense(8, activation="relu")]
    else:
        # Article C: 64 units, then dropout 0.2, which silences a random fifth of the units
        # at each step so that none can be relied on alone: a guard against overfitting.
        # Its later layers cannot be read; this script's choice is 32 units, dropout 0.2.
        hidden = [Dense(64, activation="relu"), Dropout(0.2), Dense(32, activation="relu"), Dropout(0.2)]
    model = keras.Sequential([keras.Input(shape=(x_train.shape[1],)), normalize, *hidden,
                              Dense(1, activation="sigmoid")], name=f"pima_{args.network}")
    model.summary()
    pictures = network_drawing(keras, model)  # network.png, with Graphviz (below)

    ## 3. Compile the model
    # steps_per_execution: up to 50 batches per call into the backend, the same numbers in
    # less time (benchmarks/README.md); PyTorch takes one at a time.
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"],
                  steps_per_execution=1 if keras.backend.backend() == "torch" else 50)

    ## 4. Fit the model
    # The last 20% of the training rows (in random order since the split) draw the
    # validation curves; the test rows stay unseen.
    n_val = max(1, round(VALIDATION_FRACTION * len(x_train)))
    x_fit, y_fit, x_val, y_val = x_train[:-n_val], y_train[:-n_val], x_train[-n_val:], y_train[-n_val:]
    fit_data = dict(x=x_fit, y=y_fit, batch_size=args.batch_size)
    if keras.backend.backend() == "tensorflow":
        # Keras 3.15 on TensorFlow shuffles NumPy arrays the same way every epoch once a seed
        # is set (tests/test_keras_facts.py); tf.data reshuffles them each epoch.
        import tensorflow as tf

        fit_data = dict(x=tf.data.Dataset.from_tensor_slices((x_fit, y_fit)).shuffle(
            len(x_fit), seed=args.seed).batch(args.batch_size).prefetch(2), shuffle=False)
    callbacks = []
    if args.early_stop:  # stop where the validation curve is best, and keep that epoch's weights
        callbacks.append(keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True))
    if args.tensorboard:  # a folder per run, so that TensorBoard shows runs side by side
        run = f"{model.name}-seed{args.seed}{'-early-stop' * args.early_stop}-{time.strftime('%Y%m%d-%H%M%S')}"
        callbacks.append(keras.callbacks.TensorBoard(args.tensorboard / run))
    started = time.perf_counter()
    history = model.fit(**fit_data, validation_data=(x_val, y_val), callbacks=callbacks, epochs=epochs,
                        verbose=1 if sys.stdout.isatty() else 2)  # 2: one line an epoch
    fit_seconds = time.perf_counter() - started
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Trained {len(history.epoch)} of {epochs} epochs; the validation loss was lowest after epoch "
          f"{best_epoch}" + (", whose weights were kept" if args.early_stop else ""))
    pictures["history.png"] = learning_curves(history.history, best_epoch, model.name)

    ## 5. Evaluate the model
    # Accuracy on the training rows is what the article prints; accuracy on the held-out
    # rows is what to expect on new patients.
    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=1024, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    print(f"\nAccuracy on the training rows: {train_accuracy:.4f} (the figure the article prints)")
    print(f"Accuracy on the held-out rows: {test_accuracy:.4f} (test loss {test_loss:.4f})")
    # Two patients in three have no onset, so always answering 0 already scores 0.65. Beside
    # that baseline, the confusion matrix shows which mistakes are made, and recall how many
    # sick patients the network finds.
    predicted = (model.predict(x_test, batch_size=1024, verbose=0)[:, 0] > 0.5).astype(int)
    actual = y_test.astype(int)
    confusion = np.zeros((2, 2), dtype=int)  # [[tn, fp], [fn, tp]]
    np.add.at(confusion, (actual, predicted), 1)
    (tn, fp), (fn, tp) = confusion
    baseline_accuracy = max(actual.mean(), 1 - actual.mean())
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    print(f"Always answering {int(actual.mean() > 0.5)}, the commoner class, would get {baseline_accuracy:.4f}")
    print(f"\n{'held-out rows':>16}  predicted 0  predicted 1")
    print(f"{'actually 0':>16}  {tn:11d}  {fp:11d}\n{'actually 1':>16}  {fn:11d}  {tp:11d}")
    print(f"Precision {precision:.3f}: of the {tp + fp} rows predicted 1, {tp} are 1.")
    print(f"Recall {recall:.3f}: of the {tp + fn} rows that are 1, {tp} were found and {fn} missed.")

    ## 6. Tie it together: this file is the whole program, steps 1 to 5 and 7.

    ## 7. Make predictions
    # predict gives the probability of class 1; above 0.5 means class 1.
    probabilities = model.predict(x_test[:10], verbose=0)[:, 0]
    print("\nFirst held-out rows:\n probability  predicted  actual")
    for probability, label in zip(probabilities, y_test[:10]):
        mark = "" if int(probability > 0.5) == label else "  <- wrong"
        print(f"    {probability:.3f}        {int(probability > 0.5)}        {int(label)}{mark}")

    ## Save the model, its pictures and figures: all files or none
    helpers.save_outputs(args.out, {
        "model.keras": model, **pictures,
        "metrics.json": {
            "data": str(csv_path), "network": args.network, "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy, "test_loss": test_loss,
            "baseline_accuracy": baseline_accuracy, "confusion_matrix": confusion.tolist(),
            "precision": precision, "recall": recall, "epochs": epochs,
            "batch_size": args.batch_size, "seed": args.seed, "n_train": len(y_train),
            "n_validation": n_val, "n_test": len(y_test), "fit_seconds": round(fit_seconds, 2),
            "best_epoch": best_epoch, "epochs_trained": len(history.epoch),
            "val_loss": history.history["val_loss"]}})
    print(f"Predict new rows with it: python {Path(__file__).name} --predict ROWS.csv"
          + ("" if args.out == DEFAULT_OUT else f" --out {args.out}"))


## Predict new patients (--predict). The articles end above: a reader may stop here.

def predict_new_rows(args):
    """Rows of features in the training order, read by the saved model; the label is optional."""
    helpers.check_writable(args.out)
    header, table, line_numbers = read_table(args.predict)
    if len(table) == 0:
        raise helpers.UserError(f"{args.predict} holds no rows to predict")
    how_to_train = "python pima_binary.py" + ("" if args.out == DEFAULT_OUT else f" --out {args.out}")
    model_path = args.model or args.out / "model.keras"
    if not model_path.is_file():
        raise helpers.UserError(f"no trained model at {model_path}; train one first with: {how_to_train}")
    keras = helpers.start_keras()
    try:  # compile=False: predicting needs no optimizer, nor the training settings saved with the model
        model = keras.models.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise helpers.UserError(f"{model_path} is not a Keras model this script can load "
                                f"({helpers.one_line(error, 120)}); train one with: {how_to_train}")
    if len(model.inputs) != 1 or len(model.input_shape) != 2 or model.output_shape[1:] != (1,):
        raise helpers.UserError(
            f"{model_path} takes {model.input_shape} and gives {model.output_shape}; this script "
            f"needs a model that takes n features and gives one probability; train one with: {how_to_train}")
    n_features = model.input_shape[-1]
    if table.shape[1] not in (n_features, n_features + 1):
        raise helpers.UserError(
            f"{args.predict} has {table.shape[1]} columns; the model takes {n_features} features, "
            f"in the training order, optionally followed by the 0/1 label ({n_features + 1} columns)")
    features, labels = table[:, :n_features], None
    if table.shape[1] == n_features + 1:
        labels = check_labels(table[:, -1], line_numbers, args.predict)
    probabilities = model.predict(features, verbose=0)[:, 0]
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise helpers.UserError(f"{model_path} gives values outside 0..1, not probabilities (a "
                                f"sigmoid output gives them); train one with: {how_to_train}")
    predicted = (probabilities > 0.5).astype(int)

    print(f"   row  probability  predicted{'  label' if labels is not None else ''}")
    for row, (probability, guess) in enumerate(zip(probabilities, predicted), 1):
        label = "" if labels is None else f"      {int(labels[row - 1])}" + (
            "" if guess == labels[row - 1] else "  <- wrong")
        print(f"{row:6d}  {probability:11.3f}  {guess:9d}{label}")
    if labels is not None:
        print(f"{int((predicted == labels).sum())} of {len(labels)} rows predicted right")

    names = header or [f"feature_{i}" for i in range(1, n_features + 1)] + (
        ["label"] if labels is not None else [])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*names, "probability", "predicted"])
    for cells, probability, guess in zip(table, probabilities, predicted):
        # 9 significant digits give back the same 32-bit float the model computed.
        writer.writerow([*(f"{value:.15g}" for value in cells), f"{probability:.9g}", guess])
    helpers.save_outputs(args.out, {"own_predictions.csv": text.getvalue()})


## Reading and checking CSV files. A reader of the article may skip this section.

def read_training_csv(path):
    """Features and 0/1 labels from a numeric CSV, label last; a UserError names any bad cell."""
    _, table, line_numbers = read_table(path, label_last=True)
    if len(table) < MIN_ROWS or table.shape[1] < 2:
        raise helpers.UserError(
            f"{path} has {len(table)} data rows; it needs at least {MIN_ROWS}, each with one or "
            "more numeric features and a 0/1 label in the last column")
    labels = check_labels(table[:, -1], line_numbers, path)
    if labels.min() == labels.max():
        raise helpers.UserError(
            f"{path}: every label is {labels[0]:g}; the data needs rows of both classes, 0 and 1")
    return table[:, :-1], labels


def read_table(path, label_last=False):
    """(header or None, float64 table, line number of each row) from a numeric CSV file."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path")
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; pass a CSV file")
    except OSError as error:
        raise helpers.UserError(f"cannot read {path} ({error.strerror})")
    if data[:2] == b"\x1f\x8b" or data[:4] == b"PK\x03\x04":
        raise helpers.UserError(f"{path} is compressed (gzip or zip); decompress it and pass the CSV inside")
    if b"\0" in data:
        raise helpers.UserError(f"{path} is not a text file; pass a CSV file (numbers separated by commas)")
    try:
        text = data.decode("utf-8-sig")  # -sig: Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as error:
        raise helpers.UserError(f"{path} is not UTF-8 text (byte {data[error.start]:#x} at offset "
                                f"{error.start}); save or convert it as UTF-8 and try again")
    # Commas, as the article's files have them; a semicolon file (with decimal commas) or a
    # tab file is read too, as is a quoted cell ("6"). A first row counts as a header only
    # when no cell is a number or a mark of a missing value (NA), so that a typo in the first
    # data row is reported.
    first = next((line for line in text.splitlines() if line.strip()), "")
    separator = next((mark for mark in ";\t," if mark in first), ",")
    if separator == ";":  # where a comma is the decimal mark: 33,6 is 33.6
        text = text.replace(",", ".")
    csv.field_size_limit(len(text) + 1)  # a cell as long as the file is reported, not refused
    lines = [(number, cells) for number, cells in enumerate(csv.reader(text.splitlines(), delimiter=separator), 1)
             if any(cell.strip() for cell in cells)]
    header = None
    if lines and not any(is_number(cell) or cell.strip().lower() in MISSING for cell in lines[0][1]):
        header = [cell.strip() for cell in lines[0][1]]
        lines = lines[1:]
    if header and lines and len(header) != len(lines[0][1]):
        raise helpers.UserError(f"{path}: the header row names {len(header)} columns, but the rows "
                                f"have {len(lines[0][1])}")
    rows = []
    for number, cells in lines:
        if len(cells) != len(lines[0][1]):
            raise helpers.UserError(
                f"{path} line {number}: {len(cells)} columns, but earlier rows have {len(lines[0][1])}")
        for column, cell in enumerate(cells, 1):
            if not is_number(cell):
                shown = helpers.one_line(cell.strip(), 40)
                if label_last and column == len(cells):
                    raise helpers.UserError(
                        f"{path} line {number}, column {column}: {shown!r} is not a number; this "
                        "is the label column, and its classes must be 0 and 1")
                raise helpers.UserError(f"{path} line {number}, column {column}: {shown!r} is not "
                                        "a number; the file must hold numbers separated by commas")
            if abs(float(cell)) > LARGEST_VALUE:
                raise helpers.UserError(
                    f"{path} line {number}, column {column}: {float(cell):g} is too large; values "
                    f"must lie within ±{LARGEST_VALUE:g}, as the network computes in 32-bit floats")
        rows.append([float(cell) for cell in cells])
    table = np.array(rows, dtype="float64").reshape(len(rows), len(lines[0][1]) if lines else 0)
    return header, table, [number for number, _ in lines]


def is_number(cell):
    """True for a finite number such as 6, 0.627 or 1e3; not for text, NaN, infinity or 1_000."""
    try:
        return "_" not in cell and np.isfinite(float(cell))
    except ValueError:
        return False


def check_labels(labels, line_numbers, path):
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if bad.size:
        raise helpers.UserError(
            f"{path} line {line_numbers[bad[0]]}: the label (last column) is "
            f"{labels[bad[0]]:g}; labels must be 0 or 1")
    return labels


def stratified_split(labels, test_fraction, rng):
    """Indices of training and test rows, each class split in the same proportion."""
    train, test = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        n_test = max(1, round(test_fraction * len(rows)))
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    return rng.permutation(train), rng.permutation(test)



## Pictures. A reader of the article may skip this section.

def network_drawing(keras, model):
    """{"network.png": the layers, drawn with keras.utils.model_to_dot}, or {} without Graphviz."""
    if not (shutil.which("dot") and importlib.util.find_spec("pydot")):
        print("network.png not drawn: it needs Graphviz (apt install graphviz, brew install graphviz or "
              "conda install graphviz) and pip install pydot")
        return {}
    return {"network.png": keras.utils.model_to_dot(
        model, show_shapes=True, show_layer_names=False, show_layer_activations=True, dpi=72).create_png()}


def learning_curves(history, best_epoch, title):
    """Loss and accuracy per epoch, training and validation, the lowest validation loss marked."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(10, 4), layout="tight")
    for axis, metric in zip(figure.subplots(1, 2), ["loss", "accuracy"]):
        epochs = range(1, len(history[metric]) + 1)
        style = ".-" if len(epochs) <= 20 else "-"  # a dot an epoch while they can be told apart
        axis.plot(epochs, history[metric], style, label="training")
        axis.plot(epochs, history[f"val_{metric}"], style, label="validation")
        axis.axvline(best_epoch, color="grey", linestyle=":", label=f"lowest validation loss: epoch {best_epoch}")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epoch 1, 2, 3: no 1.5
        axis.set(xlabel="epoch", ylabel=metric, xlim=(0.5, len(epochs) + 0.5))
        axis.legend()
    figure.suptitle(f"{title}: learning curves")
    return figure


if __name__ == "__main__":
    helpers.run(main)
