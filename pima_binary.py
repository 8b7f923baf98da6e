"""Predict diabetes onset from the Pima Indians data: a first binary classifier in Keras 3.

Read it beside article B, "Develop your first neural network in Python with Keras step by step"
(https://machinelearningmastery.com/tutorial-first-neural-network-python-keras/): the numbered
steps below are its steps, in Keras 3. --network dropout trains article C's network, "Building
your first neural network using Keras"
(https://medium.com/mlearning-ai/building-your-first-neural-network-using-keras-478a9885117).

Expected with the defaults (150 epochs of batch 10), in under a minute on 2 cores: about 0.86 on
the training rows (article B reports about 0.78), and on the held-out rows, the figure to
believe, 0.65 to 0.79 by the seed (0.73 on average), where always answering "no onset" gets 0.65.

    python pima_binary.py                         # download the Pima CSV into data/, train
    python pima_binary.py --data my_table.csv     # a table of yours: numbers, then two labels
    python pima_binary.py --quick                 # a few seconds, to check the set-up
    python pima_binary.py --folds 10              # 10-fold cross-validation: how sure?
    python pima_binary.py --predict new_rows.csv  # new patients, read by the saved model
"""

import argparse
import inspect
import json
import os
import shlex
import time
from pathlib import Path

from labelled_csv import read_labelled_csv, stratified_folds
from shell import quiet_start, refuse_unread_flags, run, shared_flags
from tutorial_helpers import check_settings, download, learning_curves, save_outputs
from tutorial_helpers import SEEDS, whole_number, wilson_interval

# Keras runs on JAX here, which trains these steps faster than TensorFlow (Pima: 2.7 times,
# README); KERAS_BACKEND=tensorflow runs them on TensorFlow, as the articles did.
os.environ.setdefault("KERAS_BACKEND", "jax")
with quiet_start():  # the backend checked; in a shell, TensorFlow's log hidden, Ctrl-C one line
    import keras
    import numpy as np

DATA_URL = (
    "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
)
DATA_SHA256 = "6bfe5d0f379d17a0e0819b996407e3c09bf80febd4287f2ed212190dfff154af"
DATA_DIR = Path(__file__).resolve().parent / "data"  # the download, kept for the next run
OUT = Path("outputs/pima_binary")
# The articles' training settings: article C takes article B's.
EPOCHS = {"first": 150, "dropout": 150}
BATCH_SIZE = {"first": 10, "dropout": 10}
PATIENCE = 20  # --early-stop: epochs without a lower validation loss before it stops
RARE = 0.2  # a class under this share of the rows is rare, and accuracy then says little


# fmt: off
def lesson(network="first", data_file=None, epochs=None, batch_size=None, seed=7,
           positive=None, drop_missing=False, balance=False, early_stop=False, tensorboard=None,
           out=OUT, data_dir=DATA_DIR):
    """Article B's steps, from the data to the saved model, for article B's or C's network; the
    epochs and batch size as settings() makes them (the article's, unless chosen)."""

    ## 1. Load the data
    # Article B reads the CSV with numpy.loadtxt; read_labelled_csv also names a bad cell, and
    # takes any two labels as 0 and 1. Article B scores the rows it trained on, which flatters
    # the network: here a fifth of each class is held out, unseen till step 5.
    path = data_file or download(DATA_URL, DATA_SHA256, data_dir)
    features, labels, classes = read_labelled_csv(path, positive, drop_missing)
    order = np.random.default_rng(seed).permutation(len(labels))  # the rows in a random order
    features, labels = features[order], labels[order]
    held_out = stratified_folds(labels, 5) == 0
    x_train, y_train = features[~held_out], labels[~held_out]
    x_test, y_test = features[held_out], labels[held_out]
    print(f"Loaded {path}: {len(labels)} rows, {features.shape[1]} features, {labels.sum():.0f} "
          f"of them class 1; training on {len(y_train)}, holding out {len(y_test)}")

    ## 2. Define the model and 3. compile it
    # NETWORKS holds one function per article, each defining and compiling its network. Article
    # B seeds NumPy only; Keras 3 has its own seed, for the weights and the shuffling.
    print(f"Keras backend: {keras.backend.backend()} (Keras {keras.__version__})")
    keras.utils.set_random_seed(seed)
    model = NETWORKS[network](x_train)
    model.summary()

    ## 4. Fit the model
    # The last fifth of the training rows, in their random order, validate after each epoch.
    # Keras shuffles the other rows before each epoch (on TensorFlow, seeded, into one order each
    # time, which scores the same: benchmarks/README.md).
    callbacks = []
    if early_stop:  # stop where the validation loss is lowest, and keep those weights
        callbacks += [keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)]
    if tensorboard:  # a folder per run, so that TensorBoard shows runs side by side
        folder = Path(tensorboard) / f"{model.name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        callbacks += [keras.callbacks.TensorBoard(folder)]
    # --balance: each class weighs the same in the loss, however rare its rows.
    class_weight = {c: 0.5 / np.mean(y_train == c) for c in (0, 1)} if balance else None
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        validation_split=0.2, callbacks=callbacks, class_weight=class_weight)
    # After its lowest validation loss, the network learns its training rows by heart.
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Lowest validation loss after epoch {best_epoch} of {len(history.epoch)}"
          + ", whose weights were kept" * early_stop)
    curves = learning_curves(history.history, model.name, best_epoch)

    ## 5. Evaluate the model
    # On the training rows, as article B does; on the held-out rows, what to expect of new ones.
    # Measured on few rows, it is not sure: the interval holds the true one 95 times in 100.
    _, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    low, high = wilson_interval(test_accuracy, len(y_test))
    baseline = max(y_test.mean(), 1 - y_test.mean())  # always the commoner class
    print(f"\nAccuracy on the training rows: {train_accuracy:.4f} (the figure article B prints)")
    print(f"Accuracy on the held-out rows: {test_accuracy:.4f} (95 % interval {low:.3f} to "
          f"{high:.3f}, on {len(y_test)} held-out rows); test loss {test_loss:.4f}")
    print(f"Always answering {int(y_test.mean() > 0.5)}, the commoner class: {baseline:.4f}")

    ## 6. Tie it together: this function is the whole program, steps 1 to 5 and 7.

    ## 7. Make predictions
    # The sigmoid gives the probability of class 1; above 0.5, the prediction is 1.
    probabilities = model.predict(x_test, verbose=0)[:, 0]
    predicted = (probabilities > 0.5).astype(int)
    print("\nFirst held-out rows:\n probability  predicted  actual")
    for probability, guess, actual in zip(probabilities[:10], predicted, y_test.astype(int)):
        mark = "" if guess == actual else "  <- wrong"
        print(f"    {probability:.3f}        {guess}        {actual}{mark}")
    confusion = np.bincount(2 * y_test.astype(int) + predicted, minlength=4).reshape(2, 2)
    precision, recall = print_confusion(confusion, classes, labels.mean(), balance)

    ## Save the model and what the run measured
    metrics = {"data": str(path), "network": network, "backend": keras.backend.backend(),
               "classes": classes, "seed": seed, "epochs": epochs, "batch_size": batch_size,
               "class_weight": class_weight, "epochs_trained": len(history.epoch),
               "best_epoch": best_epoch, "train_accuracy": train_accuracy,
               "test_accuracy": test_accuracy, "test_accuracy_interval": [low, high],
               "n_train": len(y_train), "n_test": len(y_test), "test_loss": test_loss,
               "baseline_accuracy": baseline, "confusion_matrix": confusion.tolist(),
               "precision": precision, "recall": recall, "history": history.history}
    save_outputs(out, {"model.keras": model.save, "metrics.json": json.dumps(metrics, indent=2),
                       "history.png": curves.savefig})
# fmt: on


## The articles' networks, each defined and compiled in one block. Keras 3 takes the input's
## shape from keras.Input, where the articles give input_dim= to the first layer. Not in the
## articles: Normalization scales each feature to mean 0 and variance 1 by the training rows,
## as raw columns span 0.08-2.4 (pedigree) to 0-846 (insulin), on which the network learns
## slowly. Inside the model, it lets the saved model take raw rows.


def article_b(x_train):
    """Article B: 12 and 8 units, then one sigmoid output, the probability of onset."""
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
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def article_c(x_train):
    """Article C: 64 units, then dropout 0.2, which silences a random fifth of the units at each
    step, so that none can be relied on alone: a guard against overfitting. Its later layers
    cannot be read; this script's choice is 32 units and dropout 0.2."""
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
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


NETWORKS = {"first": article_b, "dropout": article_c}


def print_confusion(confusion, classes, share_of_1, balance):
    """The held-out rows by actual and predicted class, precision and recall (returned); where a
    class is rare, its own precision and recall, which say more than the accuracy."""
    (tn, fp), (fn, tp) = confusion
    precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    print(f"\n{'held-out rows':>16}  predicted 0  predicted 1")
    print(f"{'actually 0':>16}  {tn:11d}  {fp:11d}\n{'actually 1':>16}  {fn:11d}  {tp:11d}")
    print(f"Precision {precision:.3f}: of the {tp + fp} rows predicted 1, {tp} are 1.")
    print(f"Recall {recall:.3f}: of the {tp + fn} rows that are 1, {tp} were found.")
    rare = int(share_of_1 < 0.5)
    if min(share_of_1, 1 - share_of_1) < RARE:
        found, flagged, total = (tp, tp + fp, tp + fn) if rare else (tn, tn + fn, tn + fp)
        print(f"Imbalanced: class {rare} (label {classes[rare]}) is only "
              f"{min(share_of_1, 1 - share_of_1):.1%} of the rows, so accuracy says little; for "
              f"that class, held out: precision {found / max(flagged, 1):.3f} ({found} of "
              f"{flagged} flagged are right), recall {found / max(total, 1):.3f} ({found} of "
              f"{total} found)" + "; --balance weighs it up" * (not balance))  # fmt: skip
    if tn + tp <= max(tn + fp, fn + tp):
        common = int(fn + tp > tn + fp)
        print(f"The network does no better than always answering {common} (label "
              f"{classes[common]}): {tn + tp} of {confusion.sum()} rows right")  # fmt: skip
    return precision, recall


## The flags. A reader of the articles may stop here.


def main(argv=None):
    args = parser().parse_args(argv)
    if args.predict:  # new rows, read by the saved model: new_rows.py
        refuse_unread_flags(parser(), args, {"predict", "model", "out"}, "--predict")
        import new_rows

        return new_rows.main(args)
    if args.compare:  # every article's network, on the same folds of the rows: compare.py
        import compare

        runs = compare.runs(parser(), args, NETWORKS, settings)  # each network's settings
        path = args.data_file or download(DATA_URL, DATA_SHA256, args.data_dir)
        return compare.on_folds(runs, NETWORKS, path, PATIENCE)
    args.epochs, args.batch_size = settings(**vars(args))  # the flags' rules
    if args.folds:  # cross-validation, not in the articles: folds.py
        import folds

        path = args.data_file or download(DATA_URL, DATA_SHA256, args.data_dir)
        return folds.main(args, NETWORKS[args.network], path, PATIENCE)
    lesson(**{name: getattr(args, name) for name in inspect.signature(lesson).parameters})
    out = shlex.quote(str(args.out))  # pastes back into a shell, spaces and all
    print(f"Predict new rows with it: python pima_binary.py --predict ROWS.csv --out {out}")


def settings(network, epochs, batch_size, seed, quick, tensorboard, out, **flags):
    """The flags' rules, in the script and in its notebook alike: each value checked, then the
    article's epochs and batch size for what is left at None (2 epochs with quick)."""
    return check_settings(
        EPOCHS, BATCH_SIZE, 2, network, epochs, batch_size, seed, quick, tensorboard, out
    )


# fmt: off
def parser():
    parser = argparse.ArgumentParser(description="Train a network on the Pima Indians diabetes "
        "CSV, or on a CSV of yours (numeric features, then two labels, such as 0/1 or yes/no, in "
        "the last column); or predict new rows with a trained one (--predict).")
    add, number = parser.add_argument, whole_number
    add("--network", choices=NETWORKS, default="first",
        help="first: article B's 12-8-1 (default); dropout: article C's 64-32-1 with dropout")
    add("--data", dest="data_file", type=Path, metavar="FILE",
        help="a local CSV to use instead of downloading the Pima one")
    add("--positive", metavar="LABEL", help="the label that is class 1 (default: 1 of 0/1, the "
        "larger number, a yes, true or positive; else the rarer label)")
    add("--drop-missing", action="store_true", help="leave out the rows with a missing value "
        "(?, NA, an empty cell...), never guessed; without it, such a file is refused")
    add("--balance", action="store_true", help="weigh the rows of each class by the inverse of "
        "its share (Keras's class_weight), for a table where one class is rare")
    add("--epochs", type=number(1), metavar="N",
        help="passes over the training rows (default: the article's, 150; 2 with --quick)")
    add("--batch-size", type=number(1), metavar="N",
        help="rows per weight update (default: the article's, 10)")
    add("--seed", type=number(0, SEEDS), metavar="N", default=7,
        help="seed of the split, the weights and the shuffling (default: %(default)s)")
    add("--quick", action="store_true", help="train for 2 epochs: checks the set-up in seconds")
    shared_flags(parser, OUT, DATA_DIR, PATIENCE)  # --data-dir, --out, --early-stop, --tensorboard
    add("--predict", type=Path, metavar="ROWS.csv", help="no training: predict these rows with "
        "the saved model; each holds the features in the training order, maybe then the label")
    add("--model", type=Path, metavar="FILE",
        help="the model --predict uses (default: model.keras in --out)")
    add("--folds", type=number(2), metavar="K", help="cross-validation instead of one run: K "
        "trainings, each scored on a different K-th of the rows (10, say)")
    add("--compare", action="store_true", help="train both articles' networks on the same K "
        "folds (10 unless --folds): is one better for real? (McNemar's test; compare.json)")
    return parser
# fmt: on


if __name__ == "__main__":
    run(main)
