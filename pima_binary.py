"""Predict diabetes onset from the Pima Indians data: a first binary classifier in Keras 3.

Read it beside article B, "Develop your first neural network in Python with Keras step by
step" (https://machinelearningmastery.com/tutorial-first-neural-network-python-keras/):
the numbered sections below are the article's steps, written for Keras 3.

Expected result on the real CSV with the defaults (150 epochs, batch 10, seed 7): 0.83
accuracy on the training rows (the article reports about 0.78) and 0.77 on the held-out
rows it never trained on, which is the figure to believe; other seeds hold out other rows
and give 0.69 to 0.77. About 7 seconds on a 2-core CPU.

Works on any numeric CSV whose last column is a 0/1 label (a header row is skipped):

    python pima_binary.py                      # download the Pima CSV into data/, train
    python pima_binary.py --data my_table.csv  # your own data instead
    python pima_binary.py --quick              # a few seconds, to check the set-up

Writes to --out: model.keras, history.png and metrics.json.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import tutorial_helpers as helpers  # first: it loads Keras without TensorFlow's start-up log
import keras

DATA_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
DATA_SHA256 = "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af"
TEST_FRACTION = 0.2  # rows held out for the final, honest accuracy
VALIDATION_FRACTION = 0.2  # of the training rows, to draw validation curves while fitting
MIN_ROWS = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train the article's 12-8-1 network on the Pima Indians diabetes CSV "
        "(or any numeric CSV with a 0/1 label in the last column).")
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="a local CSV to use instead of downloading one")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        default=Path(__file__).resolve().parent / "data",
                        help="where the download is cached (default: data/ beside this script)")
    parser.add_argument("--epochs", type=helpers.positive_int, metavar="N", default=150,
                        help="passes over the training rows (default: %(default)s)")
    parser.add_argument("--batch-size", type=helpers.positive_int, metavar="N", default=10,
                        help="rows per weight update (default: %(default)s)")
    parser.add_argument("--seed", type=int, metavar="N", default=7,
                        help="seed for the split, the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path("outputs/pima_binary"),
                        help="folder for the model, plot and metrics (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="train for 2 epochs only: a smoke test")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    epochs = 2 if args.quick else args.epochs
    out = helpers.check_writable(args.out)
    helpers.set_seed(args.seed)  # the article seeds NumPy only; Keras 3 needs its own seed too

    ## 1. Load the data
    # The article calls numpy.loadtxt; read_csv does the same and also explains bad rows.
    csv_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    features, labels = read_csv(csv_path)
    # The article evaluates on the rows it trained on, which flatters the model. Here a
    # seeded, stratified 20% of the rows is kept aside and only used at the end.
    train, test = stratified_split(labels, TEST_FRACTION, np.random.default_rng(args.seed))
    x_train, y_train, x_test, y_test = features[train], labels[train], features[test], labels[test]
    print(f"Loaded {csv_path}: {len(labels)} rows, {features.shape[1]} features, "
          f"{int(labels.sum())} positive")
    print(f"Training rows {x_train.shape}, held-out test rows {x_test.shape}")

    ## 2. Define the model
    # Not in the article: a Normalization layer rescales each feature to mean 0 and variance
    # 1, using statistics of the training rows only. Raw Pima columns span 0.08-2.4 (pedigree)
    # to 0-846 (insulin), and on such scales the network learns slowly: the article's own
    # code, run here, gets 0.75-0.78 on its training rows, this one 0.82-0.84. As the layer
    # is inside the model, the saved file takes raw rows.
    # Keras 3 has no input_dim=: keras.Input gives the input shape instead.
    normalize = keras.layers.Normalization()
    normalize.adapt(x_train)
    model = keras.Sequential([
        keras.Input(shape=(x_train.shape[1],)),
        normalize,
        keras.layers.Dense(12, activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ], name="pima_12_8_1")
    model.summary()

    ## 3. Compile the model
    # steps_per_execution: TensorFlow runs up to 50 batches per call from Python instead of
    # one. The numbers are the same; with batches of 10 rows, most of the time went to calls.
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"],
                  steps_per_execution=50)

    ## 4. Fit the model
    # The last 20% of the training rows (already shuffled by the split) draw the validation
    # curves; the test rows stay unseen. helpers.batches says why the rows go through tf.data.
    n_validation = max(1, round(VALIDATION_FRACTION * len(x_train)))
    x_fit, y_fit = x_train[:-n_validation], y_train[:-n_validation]
    x_validation, y_validation = x_train[-n_validation:], y_train[-n_validation:]
    started = time.perf_counter()
    history = model.fit(helpers.batches(x_fit, y_fit, args.batch_size, shuffle_seed=args.seed),
                        validation_data=helpers.batches(x_validation, y_validation, 1024),
                        epochs=epochs, shuffle=False)  # batches() does the shuffling
    fit_seconds = time.perf_counter() - started

    ## 5. Evaluate the model
    # Two figures: accuracy on the training rows is what the article prints; accuracy on
    # the held-out rows is what to expect on new patients.
    _, train_accuracy = model.evaluate(x_train, y_train, batch_size=1024, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=1024, verbose=0)
    print(f"Accuracy on the training rows: {train_accuracy:.4f} (what the article reports)")
    print(f"Accuracy on the held-out rows: {test_accuracy:.4f} (test loss {test_loss:.4f})")

    ## 6. Tie it together: this file is the whole program, steps 1 to 5 and 7.

    ## 7. Make predictions
    # predict gives the probability of class 1; rounding at 0.5 gives the class.
    probabilities = model.predict(x_test[:10], verbose=0)[:, 0]
    print("\nFirst held-out rows:\n probability  predicted  actual")
    for probability, actual in zip(probabilities, y_test[:10]):
        predicted = int(probability > 0.5)
        mark = "" if predicted == actual else "  <- wrong"
        print(f"    {probability:.3f}        {predicted}        {int(actual)}{mark}")

    ## Save the model, the learning curves and the figures
    with helpers.atomic_path(out / "model.keras") as temporary:
        model.save(temporary)
    helpers.save_history_plot(history.history, out / "history.png", f"{model.name} on {csv_path.name}")
    helpers.save_json({
        "data": str(csv_path), "train_accuracy": train_accuracy, "test_accuracy": test_accuracy,
        "test_loss": test_loss, "epochs": epochs, "batch_size": args.batch_size,
        "seed": args.seed, "n_train": len(y_train), "n_validation": n_validation, "n_test": len(y_test),
        "fit_seconds": round(fit_seconds, 2),
    }, out / "metrics.json")
    print(f"\nSaved model.keras, history.png and metrics.json in {out.resolve()}")


def read_csv(path):
    """Features and 0/1 labels from a numeric CSV, label last; a UserError names any bad cell."""
    try:
        text = Path(path).read_text()
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; pass a CSV file with --data")
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path given to --data")
    except UnicodeDecodeError:
        raise helpers.UserError(f"{path} is not a text CSV file; pass a CSV file with --data")
    except OSError as error:
        raise helpers.UserError(f"cannot read {path} ({error.strerror})")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if lines and not is_numeric_row(lines[0][1]):
        lines = lines[1:]  # a header row
    rows, line_numbers = [], []
    for number, line in lines:
        cells = line.split(",")
        if rows and len(cells) != len(rows[0]):
            raise helpers.UserError(
                f"{path} line {number}: {len(cells)} columns, but earlier rows have {len(rows[0])}")
        row = []
        for column, cell in enumerate(cells, 1):
            try:
                row.append(float(cell))
            except ValueError:
                row.append(float("nan"))
            if not np.isfinite(row[-1]):
                raise helpers.UserError(
                    f"{path} line {number}, column {column}: {cell.strip()!r} is not a number; "
                    "the file must hold numbers separated by commas")
        rows.append(row)
        line_numbers.append(number)
    if len(rows) < MIN_ROWS or len(rows[0]) < 2:
        raise helpers.UserError(
            f"{path} has {len(rows)} data rows; it needs at least {MIN_ROWS}, each with one or "
            "more numeric features and a 0/1 label in the last column")
    table = np.array(rows, dtype="float32")
    features, labels = table[:, :-1], table[:, -1]
    bad = np.flatnonzero((labels != 0) & (labels != 1))
    if bad.size:
        raise helpers.UserError(
            f"{path} line {line_numbers[bad[0]]}: the label (last column) is "
            f"{labels[bad[0]]:g}; labels must be 0 or 1")
    if labels.min() == labels.max():
        raise helpers.UserError(
            f"{path}: every label is {labels[0]:g}; the data needs rows of both classes, 0 and 1")
    return features, labels


def is_numeric_row(line):
    try:
        [float(cell) for cell in line.split(",")]
        return True
    except ValueError:
        return False


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
