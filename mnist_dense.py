"""Recognise handwritten digits (MNIST) with a dense network: the "hello world" of Keras 3.

Three articles teach this with three different networks; `--network` picks one, each with
its own article's settings:

- `first` (default): "Your first neural network in less than 30 lines of code with
  Keras", https://www.kdnuggets.com/2019/10/writing-first-neural-net-less-30-lines-code-keras.html
- `deep`: "Learn deep learning by building one",
  https://medium.com/analytics-vidhya/learn-deep-learning-by-building-one-d178f933623d
- `dropout`: "Building a basic Keras neural network Sequential model",
  https://www.kdnuggets.com/2018/06/basic-keras-neural-network-sequential-model.html

Expected results: on the full MNIST data (60,000 training digits, downloaded once, 11 MB)
each network reaches about 98% test accuracy, as the articles report. On a 10,000-digit
subset (8,000 to train, 2,000 to test) the default network reaches about 96% in a few
seconds, and every network passes 94% after 2 epochs.

    python mnist_dense.py                    # article A's network on the full data
    python mnist_dense.py --network dropout  # article E's; or deep for article D's
    python mnist_dense.py --quick            # a few seconds on a slice, to check the set-up

Writes to --out: samples.png, history.png, predictions.png, model.keras and metrics.json.
"""

import argparse
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

import tutorial_helpers as helpers  # first: it loads Keras without TensorFlow's start-up log
import keras
import matplotlib.pyplot as plt

DATA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DATA_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test"]
CELL_HEIGHT, CELL_WIDTH = 40, 32  # pixels per digit in the pictures, caption included

# Each article's training settings. The labels follow from the loss: categorical
# cross-entropy wants one-hot vectors, the sparse variant wants the digits themselves.
# Article D sets no batch size, so it trained with Keras's default of 32.
NETWORKS = {
    "first": dict(optimizer="adam", loss="categorical_crossentropy", epochs=5, batch_size=128),
    "dropout": dict(optimizer="rmsprop", loss="categorical_crossentropy", epochs=10, batch_size=128),
    "deep": dict(optimizer="adam", loss="sparse_categorical_crossentropy", epochs=10, batch_size=32),
}


def define_network(name):
    """The articles' three networks, side by side; all end in 10 softmax outputs, one a digit."""
    Dense, Dropout = keras.layers.Dense, keras.layers.Dropout
    if name == "first":  # article A: two hidden layers as wide as the flattened image
        inputs = keras.Input(shape=(784,))
        hidden = [Dense(784, activation="relu"), Dense(784, activation="relu")]
    elif name == "dropout":  # article E: dropout after each hidden layer against overfitting
        inputs = keras.Input(shape=(784,))
        hidden = [Dense(512, activation="relu"), Dropout(0.5),
                  Dense(256, activation="relu"), Dropout(0.25)]
    else:  # "deep", article D: takes 28x28 images and flattens them itself
        inputs = keras.Input(shape=(28, 28))
        hidden = [keras.layers.Flatten(), Dense(512, activation="relu"),
                  Dense(256, activation="relu"), Dense(128, activation="relu")]
    return keras.Sequential([inputs, *hidden, Dense(10, activation="softmax")], name=name)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train one of three articles' dense networks on MNIST digits.")
    parser.add_argument("--network", choices=NETWORKS, default="first",
                        help="first: article A (default); dropout: article E; deep: article D")
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="a local .npz with x_train, y_train, x_test, y_test, instead of downloading")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        default=Path(__file__).resolve().parent / "data",
                        help="where the download is cached (default: data/ beside this script)")
    parser.add_argument("--epochs", type=helpers.positive_int, metavar="N",
                        help="passes over the data (default: the network's article: 5 or 10)")
    parser.add_argument("--batch-size", type=helpers.positive_int, metavar="N",
                        help="digits per weight update (default: the network's article: 128 or 32)")
    parser.add_argument("--seed", type=int, metavar="N", default=7,
                        help="seed for the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=Path("outputs/mnist_dense"),
                        help="folder for the pictures, model and metrics (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="1 epoch on 2,000 training and 500 test digits: a smoke test")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    settings = NETWORKS[args.network]
    epochs = 1 if args.quick else args.epochs or settings["epochs"]
    batch_size = args.batch_size or settings["batch_size"]
    out = helpers.check_writable(args.out)
    helpers.set_seed(args.seed)

    ## 1. Load the data
    # mnist.load_data() would cache under ~/.keras; downloading the same file through the
    # helper keeps it in data/ and lets --data point at a copy of one's own.
    npz_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    (x_train, y_train), (x_test, y_test) = load_npz(npz_path)
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:500], y_test[:500]

    ## 2. Look at the data
    print(f"Loaded {npz_path}")
    summarize("As loaded: 28x28 images of 0-255 grey levels, labels 0-9", x_train, y_train, x_test, y_test)
    save_digit_grid(out / "samples.png", x_train[:16], [f"label {label}" for label in y_train[:16]],
                    "The first training digits")

    ## 3. Prepare the data
    # Pixels to 0..1 floats: small inputs keep the first weight updates sensible. Articles
    # A and E flatten each image into 784 numbers here; article D's network does it itself.
    image_shape = (28, 28) if args.network == "deep" else (784,)
    x_train = x_train.reshape((-1, *image_shape)).astype("float32") / 255
    x_test = x_test.reshape((-1, *image_shape)).astype("float32") / 255
    train_targets, test_targets = y_train, y_test
    if settings["loss"] == "categorical_crossentropy":
        train_targets = keras.utils.to_categorical(y_train, 10)
        test_targets = keras.utils.to_categorical(y_test, 10)
    summarize(f"Prepared for the {args.network} network", x_train, train_targets, x_test, test_targets)

    ## 4. Define the model (define_network above has all three, side by side)
    # Keras 3 drops input_shape= on the first layer; keras.Input declares the input instead.
    model = define_network(args.network)
    model.summary()

    ## 5. Compile the model
    model.compile(optimizer=settings["optimizer"], loss=settings["loss"], metrics=["accuracy"])

    ## 6. Fit the model
    # Articles D and E validate on the test set, so the test figure is no longer unseen.
    # Here the last 5% of the training digits are held back for validation instead (10%
    # cost half a point of test accuracy on 8,000 digits; 5% cost nothing measurable).
    # helpers.batches says why the digits go through tf.data.
    n_validation = max(1, round(0.05 * len(x_train)))
    started = time.perf_counter()
    history = model.fit(
        helpers.batches(x_train[:-n_validation], train_targets[:-n_validation], batch_size,
                        shuffle_seed=args.seed),
        validation_data=helpers.batches(x_train[-n_validation:], train_targets[-n_validation:], 1024),
        epochs=epochs, shuffle=False)  # batches() does the shuffling
    fit_seconds = time.perf_counter() - started

    ## 7. Evaluate on the test set
    # The training accuracy is Keras's own figure for the last epoch, as articles D and E
    # read it; evaluating every training digit again would cost a fifth of an epoch.
    train_accuracy = history.history["accuracy"][-1]
    test_loss, test_accuracy = model.evaluate(x_test, test_targets, batch_size=1024, verbose=0)
    print(f"Test accuracy: {test_accuracy:.4f}   test loss: {test_loss:.4f}   "
          f"(training accuracy in the last epoch: {train_accuracy:.4f})")

    ## 8. Predict
    # Softmax gives ten probabilities per digit; the largest is the prediction.
    probabilities = model.predict(x_test[:16], verbose=0)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    print("\nFirst test digits:\n predicted  actual  confidence")
    for guess, actual, sure in zip(predicted, y_test[:16], confidence):
        print(f"     {guess}        {actual}      {sure:6.1%}{'' if guess == actual else '  <- wrong'}")
    save_digit_grid(out / "predictions.png", x_test[:16],
                    [f"{g} ({s:.0%}), true {a}" for g, s, a in zip(predicted, confidence, y_test[:16])],
                    "Predictions on the first test digits (wrong ones in red)",
                    wrong=predicted != y_test[:16])

    ## 9. Save the model
    # Article D saves to .h5, the old format; .keras is Keras 3's own.
    with helpers.atomic_path(out / "model.keras") as temporary:
        model.save(temporary)
    helpers.save_history_plot(history.history, out / "history.png",
                              f"{args.network} network on {npz_path.name}")
    helpers.save_json({
        "data": str(npz_path), "network": args.network, "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy, "test_loss": test_loss, "epochs": epochs,
        "batch_size": batch_size, "seed": args.seed, "n_train": len(x_train),
        "n_validation": n_validation, "n_test": len(x_test), "fit_seconds": round(fit_seconds, 2),
    }, out / "metrics.json")
    print(f"\nSaved samples.png, history.png, predictions.png, model.keras and metrics.json "
          f"in {out.resolve()}")


def load_npz(path):
    """(x_train, y_train), (x_test, y_test) from an .npz in Keras's mnist.npz layout, checked."""
    fix = "pass an .npz in Keras's mnist.npz layout with --data"
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # an .npy file: a single array
            raise ValueError(path)
        with npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                raise helpers.UserError(
                    f"{path} lacks {', '.join(missing)}; it needs the arrays {', '.join(NPZ_KEYS)}")
            arrays = {key: npz[key] for key in NPZ_KEYS}
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path given to --data")
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; {fix}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise helpers.UserError(f"{path} is not a readable .npz file (truncated or another "
                                f"format); {fix}")
    for split in ["train", "test"]:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
            raise helpers.UserError(
                f"{path}: x_{split} has shape {images.shape}; it must be (n, 28, 28) with n > 0")
        if labels.shape != (len(images),):
            raise helpers.UserError(
                f"{path}: y_{split} has shape {labels.shape}; "
                f"it must be ({len(images)},), one label per image")
        if not np.isin(labels, np.arange(10)).all():
            raise helpers.UserError(f"{path}: y_{split} holds labels outside 0..9")
    return ((arrays["x_train"], arrays["y_train"].astype(int)),
            (arrays["x_test"], arrays["y_test"].astype(int)))


def summarize(title, x_train, y_train, x_test, y_test):
    """Shapes and label counts, as article E's data_summary prints them."""
    print(f"\n{title}")
    print(f"  training: x {x_train.shape} {x_train.dtype}, y {y_train.shape} {y_train.dtype}")
    print(f"  test:     x {x_test.shape} {x_test.dtype}, y {y_test.shape} {y_test.dtype}")
    digits = y_train.argmax(axis=1) if y_train.ndim == 2 else y_train
    counts = np.bincount(digits, minlength=10)
    print("  training digits per label: " + " ".join(f"{d}:{n}" for d, n in enumerate(counts)))
    if y_train.ndim == 2:
        print(f"  labels are one-hot: {y_train[0].astype(int).tolist()} is a {digits[0]}")


def save_digit_grid(path, images, captions, title, wrong=None):
    """Up to 16 digits in two rows of eight, each under its caption; wrong ones in red.

    The digits are pasted into one sheet and drawn as one image: four times faster than
    16 small plots, for the same picture.
    """
    sheet = np.ones((2 * CELL_HEIGHT, 8 * CELL_WIDTH))  # white, with a 28x28 slot per digit
    figure, axis = plt.subplots(figsize=(12, 4))
    for index, (image, caption) in enumerate(zip(images[:16], captions)):
        top, left = index // 8 * CELL_HEIGHT + 10, index % 8 * CELL_WIDTH + 2
        sheet[top:top + 28, left:left + 28] = image.reshape(28, 28) / max(image.max(), 1)
        is_wrong = wrong is not None and wrong[index]
        axis.text(left + 14, top - 2, caption, ha="center", fontsize=8,
                  color="red" if is_wrong else "black", fontweight="bold" if is_wrong else "normal")
    axis.imshow(sheet, cmap="gray", vmin=0, vmax=1)
    axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    with helpers.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=80)
    plt.close(figure)


if __name__ == "__main__":
    helpers.run(main)
