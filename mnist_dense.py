"""Recognise handwritten digits (MNIST) with a dense network: a first neural network in Keras 3.

Read it beside article A; --network dropout trains article E's network, --network deep article D's:
A: https://www.kdnuggets.com/2019/10/writing-first-neural-net-less-30-lines-code-keras.html
E: https://www.kdnuggets.com/2018/06/basic-keras-neural-network-sequential-model.html
D: https://medium.com/analytics-vidhya/learn-deep-learning-by-building-one-d178f933623d

Expected on the full MNIST (60,000 training and 10,000 test digits, 11 MB, downloaded once): 0.97
to 0.98 test accuracy in a minute on 2 cores, where always answering the commonest digit gets 0.11.

    python mnist_dense.py                          # article A's network on the full data
    python mnist_dense.py --quick                  # seconds, on a slice: checks the set-up
    python mnist_dense.py --predict my_digit.jpg   # your own digit, read by the saved model
    python mnist_dense.py --draw                   # draw digits in your browser
"""

import argparse
import contextlib
import inspect
import io
import json
import os
import shlex
import time
from pathlib import Path

from mnist_npz import load_mnist
from shell import quiet_start, refuse_unread_flags, run, shared_flags
from tutorial_helpers import check_settings, download, learning_curves, one_line, save_outputs
from tutorial_helpers import SEEDS, whole_number, wilson_interval

# Keras runs on JAX here, which trains these steps faster than TensorFlow (MNIST: 1.3 times,
# README); KERAS_BACKEND=tensorflow runs them on TensorFlow, as the articles did.
os.environ.setdefault("KERAS_BACKEND", "jax")
with quiet_start():  # the backend checked; in a shell, TensorFlow's log hidden, Ctrl-C one line
    import keras
    import numpy as np

DATA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DATA_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DATA_DIR = Path(__file__).resolve().parent / "data"  # the download, kept for the next run
OUT = Path("outputs/mnist_dense")
# The articles' training settings; article D sets no batch size, so Keras's default of 32.
EPOCHS = {"first": 5, "dropout": 10, "deep": 10}
BATCH_SIZE = {"first": 128, "dropout": 128, "deep": 32}
PATIENCE = 2  # --early-stop: epochs without a lower validation loss before it stops


# fmt: off
def lesson(network="first", data_file=None, epochs=None, batch_size=None, seed=7, quick=False,
           early_stop=False, tensorboard=None, out=OUT, data_dir=DATA_DIR):
    """The articles' steps, from the data to the saved model, for one of their networks; the
    epochs and batch size as settings() makes them (the article's, unless chosen)."""

    ## 1. Load the data
    # Article A's mnist.load_data() downloads Keras's mnist.npz into ~/.keras. Here it goes into
    # data/, checked by its SHA-256, and load_mnist checks what the file holds.
    path = data_file or download(DATA_URL, DATA_SHA256, data_dir)
    (x_train, y_train), (x_test, y_test) = load_mnist(path)
    if quick:  # a slice, to check the set-up in seconds
        x_train, y_train = x_train[:2000], y_train[:2000]
        x_test, y_test = x_test[:500], y_test[:500]

    ## 2. Look at the data
    # Article D prints the shapes; each image is 28x28 grey levels from 0 (black) to 255 (white).
    print(f"Loaded {path}: training images {x_train.shape}, test images {x_test.shape}")
    counts = np.bincount(y_train, minlength=10)
    print("Training digits per label, 0 to 9:", counts)
    captions = [f"label {label}" for label in y_train[:16]]
    samples = digit_grid(x_train[:16] / 255, captions, "The first training digits")

    ## 3. Prepare the data
    # Pixels from 0 to 1 keep the first weight updates small. Articles A and E flatten each image
    # into 784 numbers and one-hot each label for categorical cross-entropy: 3 becomes
    # [0,0,0,1,0,0,0,0,0,0]. Article D's network flattens the images itself, and takes digits.
    # digits: the test labels as digits still, for steps 7 and 8.
    digits, shape = y_test, (28, 28) if network == "deep" else (784,)
    x_train = x_train.reshape(-1, *shape).astype("float32") / 255
    x_test = x_test.reshape(-1, *shape).astype("float32") / 255
    if network != "deep":
        y_train, y_test = keras.utils.to_categorical(y_train), keras.utils.to_categorical(y_test)
    print(f"Prepared: x {x_train.shape} {x_train.dtype}, y {y_train.shape}")

    ## 4. Define the model and 5. compile it
    # NETWORKS holds one function per article, each defining and compiling its network.
    keras.utils.set_random_seed(seed)  # the weights' and the shuffling's random numbers
    print(f"Keras backend: {keras.backend.backend()} (Keras {keras.__version__})")
    model = NETWORKS[network]()
    model.summary()

    ## 6. Fit the model
    # The last 5% of the training digits validate after each epoch; articles D and E validate on
    # the test digits, which should stay unseen till step 7. Keras shuffles the other rows before
    # each epoch (on TensorFlow, seeded, into one order each time, which scores the same).
    callbacks = []
    if early_stop:  # stop where the validation loss is lowest, and keep those weights
        callbacks += [keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True)]
    if tensorboard:  # a folder per run, so that TensorBoard shows runs side by side
        folder = Path(tensorboard) / f"{model.name}-seed{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        callbacks += [keras.callbacks.TensorBoard(folder)]
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                        validation_split=0.05, callbacks=callbacks)
    # After its lowest validation loss, the network learns its training rows by heart.
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Lowest validation loss after epoch {best_epoch} of {len(history.epoch)}"
          + ", whose weights were kept" * early_stop)
    curves = learning_curves(history.history, model.name, best_epoch)

    ## 7. Evaluate on the test set
    # An accuracy measured on n digits is sure to about 1/sqrt(n): the interval holds the true
    # one 95 times in 100. Two runs whose intervals overlap may not differ at all.
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    low, high = wilson_interval(test_accuracy, len(x_test))
    baseline = np.mean(digits == counts.argmax())
    print(f"\nTest accuracy: {test_accuracy:.4f} (95 % interval {low:.4f} to {high:.4f}, on "
          f"{len(x_test)} test digits); test loss: {test_loss:.4f}")
    print(f"Always answering the commonest training digit would get {baseline:.4f}")

    ## 8. Predict
    # Softmax gives ten probabilities per image, which add up to 1; the largest is the answer.
    probabilities = model.predict(x_test, verbose=0)
    predicted = probabilities.argmax(axis=1)
    print("\nFirst test digits:\n predicted  actual  probability")
    for guess, actual, probability in zip(predicted[:10], digits, probabilities.max(axis=1)):
        mark = "" if guess == actual else "  <- wrong"
        print(f"     {guess}        {actual}      {probability:6.1%}{mark}")
    confusion = np.bincount(digits * 10 + predicted, minlength=100).reshape(10, 10)  # true, said

    ## 9. Save the model, its pictures and its figures
    # Article D saves to handwritten_digit.h5, Keras 2's format; .keras is Keras 3's own.
    metrics = {"data": str(path), "network": network, "backend": keras.backend.backend(),
               "seed": seed, "epochs": epochs, "batch_size": batch_size,
               "epochs_trained": len(history.epoch), "best_epoch": best_epoch,
               "test_accuracy": test_accuracy, "test_accuracy_interval": [low, high],
               "n_train": len(x_train), "n_test": len(x_test), "test_loss": test_loss,
               "baseline_accuracy": baseline, "confusion_matrix": confusion.tolist(),
               "history": history.history}
    save_outputs(out, {"model.keras": model.save, "metrics.json": json.dumps(metrics, indent=2),
                       "samples.png": samples.savefig, "history.png": curves.savefig,
                       **result_pictures(model, x_test, digits, probabilities, confusion)})
# fmt: on


## The articles' networks, each defined and compiled in one block. Keras 3 takes the input's
## shape from keras.Input, where the articles give input_shape= to the first layer.


def article_a():
    """Article A: two hidden layers as wide as the image; adam, one-hot labels."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(784, activation="relu"),
            keras.layers.Dense(784, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="first",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def article_e():
    """Article E: dropout after each hidden layer, against overfitting; rmsprop, one-hot labels."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="dropout",
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def article_d():
    """Article D: takes 28x28 images and flattens them itself; adam, the digits as labels."""
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="deep",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


NETWORKS = {"first": article_a, "dropout": article_e, "deep": article_d}


## The flags. A reader of the articles may stop here.


def main(argv=None):
    args = parser().parse_args(argv)
    if args.images and not args.predict or args.predict and not args.images:
        parser().error("--predict reads one or more IMAGEs: --predict my_digit.png")
    if args.predict or args.draw:  # your own digits, read by the saved model: own_digits.py
        used = {"predict", "images", "model", "out", "draw", "port"}
        refuse_unread_flags(parser(), args, used, "--predict" if args.predict else "--draw")
        if args.draw:  # a page to draw them on, served by draw_page.py
            import draw_page

            return draw_page.main(args)
        import own_digits

        return own_digits.main(args)
    if args.compare:  # every article's network, scored on the same test digits: compare.py
        import compare

        runs = compare.runs(parser(), args, NETWORKS, settings)  # each network's settings
        path = args.data_file or download(DATA_URL, DATA_SHA256, args.data_dir)
        return compare.on_digits(runs, NETWORKS, path, load_mnist(path), PATIENCE)
    args.epochs, args.batch_size = settings(**vars(args))  # the flags' rules
    lesson(**{name: getattr(args, name) for name in inspect.signature(lesson).parameters})
    out = shlex.quote(str(args.out))  # pastes back into a shell, spaces and all
    print(f"Read your own digit with it: python mnist_dense.py --predict IMAGE --out {out}")


def settings(network, epochs, batch_size, seed, quick, tensorboard, out, **flags):
    """The flags' rules, in the script and in its notebook alike: each value checked, then the
    article's epochs and batch size for what is left at None (1 epoch with quick)."""
    return check_settings(
        EPOCHS, BATCH_SIZE, 1, network, epochs, batch_size, seed, quick, tensorboard, out
    )


# fmt: off
def parser():
    parser = argparse.ArgumentParser(description="Train one of three articles' dense networks on "
        "MNIST, or read digits of your own with a trained one (--predict, --draw).")
    add = parser.add_argument
    add("--network", choices=NETWORKS, default="first",
        help="first: article A (default); dropout: article E; deep: article D")
    add("--data", dest="data_file", type=Path, metavar="FILE",
        help="a local .npz with x_train, y_train, x_test, y_test, instead of downloading")
    add("--epochs", type=whole_number(1), metavar="N",
        help="passes over the data (default: the article's: 5 or 10; 1 with --quick)")
    add("--batch-size", type=whole_number(1), metavar="N",
        help="digits per weight update (default: the article's: 128 or 32)")
    add("--seed", type=whole_number(0, SEEDS), metavar="N", default=7,
        help="seed of the weights and the shuffling (default: %(default)s)")
    add("--quick", action="store_true", help="2,000 digits, 1 epoch: checks the set-up in seconds")
    shared_flags(parser, OUT, DATA_DIR, PATIENCE)  # --data-dir, --out, --early-stop, --tensorboard
    add("--compare", action="store_true", help="train every article's network on the same "
        "digits: is one better for real? (McNemar's test; compare.json, compare.png)")
    add("--predict", action="store_true",
        help="no training: the saved model reads the IMAGEs, PNG or JPEG files of your digits")
    add("images", type=Path, nargs="*", metavar="IMAGE", help="for --predict")
    add("--model", type=Path, metavar="FILE",
        help="the model --predict and --draw use (default: model.keras in --out)")
    add("--draw", action="store_true",
        help="no training: a page to draw digits on, read by the saved model")
    add("--port", type=whole_number(0, 65535), metavar="N", default=8000,
        help="the port --draw serves on, on 127.0.0.1 (default: %(default)s; 0: any free one)")
    return parser
# fmt: on


## The pictures


def digit_grid(images, captions, title, wrong=()):
    """Up to 16 digits (pixels 0 to 1) in two rows of eight under their captions; wrong in red."""
    from matplotlib.figure import Figure

    sheet = np.ones((80, 256))  # white, a 40x32 cell per digit: pasted in one image, drawn once
    figure = Figure(figsize=(12, 4), dpi=80, layout="tight")
    axis = figure.subplots()
    for index, (image, caption) in enumerate(zip(images[:16], captions)):
        top, left = index // 8 * 40 + 10, index % 8 * 32 + 2
        sheet[top : top + 28, left : left + 28] = image.reshape(28, 28)
        color = "red" if index in wrong else "black"
        axis.text(left + 14, top - 2, caption, ha="center", fontsize=8, color=color)
    axis.imshow(sheet, cmap="gray", vmin=0, vmax=1)
    axis.axis("off")
    figure.suptitle(title)
    return figure


def result_pictures(model, images, digits, probabilities, confusion):
    """predictions.png; mistakes.png, the surest mistakes, which show what the network has not
    learnt; confusion.png, what it said for each true digit; network.png as article E draws it."""
    from matplotlib.figure import Figure

    said, sure = probabilities.argmax(axis=1), probabilities.max(axis=1)
    wrong = np.flatnonzero(said != digits)
    surest = wrong[np.argsort(-sure[wrong], kind="stable")][:16]
    first = [f"{s} ({p:.0%}), true {d}" for s, p, d in zip(said, sure, digits[:16])]
    mistakes = [f"said {said[i]} ({sure[i]:.0%}), is {digits[i]}" for i in surest]
    figure = Figure(figsize=(7, 6), dpi=80, layout="tight")
    axis = figure.subplots()
    axis.imshow(np.log1p(confusion), cmap="Greens")
    for (true, answer), count in np.ndenumerate(confusion):
        axis.text(answer, true, count or "", ha="center", va="center", fontsize=8)
    axis.set(xticks=range(10), yticks=range(10), xlabel="the network said", ylabel="true digit")
    axis.set_title(f"{confusion.trace()} of {len(digits)} test digits right")
    pictures = {
        "predictions.png": digit_grid(images, first, "The first test digits", wrong).savefig,
        "mistakes.png": digit_grid(images[surest], mistakes, "Surest mistakes", range(16)).savefig,
        "confusion.png": figure.savefig,
    }
    try:
        dot = keras.utils.model_to_dot(model, show_shapes=True, show_layer_activations=True, dpi=72)
        with contextlib.redirect_stdout(io.StringIO()):  # pydot prints what a failing dot said
            pictures["network.png"] = dot.create_png()
    except (ImportError, FileNotFoundError):  # no pydot, or no Graphviz
        print("network.png not drawn: it needs Graphviz (apt or brew install graphviz)")
    except Exception as error:  # Graphviz's dot failed: pydot raises what it meets
        print(f"network.png not drawn: Graphviz's dot failed ({one_line(error, 160)})")
    return pictures


if __name__ == "__main__":
    run(main)
