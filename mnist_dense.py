"""Recognise handwritten digits (MNIST) with a dense network: the "hello world" of Keras 3.

Three articles teach it with three networks; --network picks one, with its article's settings:
  first (default): article A, https://www.kdnuggets.com/2019/10/writing-first-neural-net-less-30-lines-code-keras.html
  deep: article D, https://medium.com/analytics-vidhya/learn-deep-learning-by-building-one-d178f933623d
  dropout: article E, https://www.kdnuggets.com/2018/06/basic-keras-neural-network-sequential-model.html

Expected on the full MNIST (60,000 training and 10,000 test digits, 11 MB, downloaded once),
seed 7, 2-core CPU: test accuracy 0.977 for first (about 30 s of training), 0.982 for
dropout, 0.970 for deep, against 0.11 for always answering the commonest digit.

    python mnist_dense.py                          # article A's network on the full data
    python mnist_dense.py --network dropout        # article E's; or deep for article D's
    python mnist_dense.py --quick                  # seconds, on a slice: checks the set-up
    python mnist_dense.py --predict my_digit.jpg   # your own digit, read by the saved model
    python mnist_dense.py --draw                   # draw digits on a page (own_digits.py)

Writes model.keras, metrics.json and pictures (.png) of the data, network and results to --out.
"""

import argparse
import importlib.util
import sys
import time
import zipfile
import zlib
from pathlib import Path

import tutorial_helpers as helpers  # before NumPy: from here on a Ctrl-C is one line

import numpy as np
import own_digits

DATA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DATA_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
DEFAULT_OUT = Path("outputs/mnist_dense")
# The articles' training settings; article D sets no batch size, so Keras's default of 32.
EPOCHS = {"first": 5, "dropout": 10, "deep": 10}
BATCH_SIZE = {"first": 128, "dropout": 128, "deep": 32}
PATIENCE = 2  # epochs without a lower validation loss before --early-stop stops (README.md)


def main(argv=None):
    args = parse_args(argv)
    if args.predict or args.draw:  # your own digits: own_digits.py
        return own_digits.main(args)
    helpers.check_writable(args.out)  # now, not after training
    if args.tensorboard:
        helpers.check_writable(args.tensorboard, "--tensorboard", "TensorBoard logs")

    ## 1. Load the data
    # The file mnist.load_data() keeps in ~/.keras, here in data/; or --data FILE, checked below.
    npz_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    (x_train, y_train), (x_test, y_test) = load_npz(npz_path)
    if args.quick:  # a slice, to check the set-up in seconds
        x_train, y_train = x_train[:2000], y_train[:2000]
        x_test, y_test = x_test[:500], y_test[:500]
    # seeded; only now, as loading Keras takes seconds
    keras = helpers.start_keras(args.seed, tensorboard=bool(args.tensorboard))

    ## 2. Look at the data
    print(f"Loaded {npz_path}: pixel values 0 (black) to 255 (white), labels 0-9")
    print(f"  training images {x_train.shape}, labels {y_train.shape}; test {x_test.shape}")
    counts = "  ".join(f"{d}: {n}" for d, n in enumerate(np.bincount(y_train, minlength=10)))
    print(f"  training digits per label: {counts}")
    captions = [f"label {label}" for label in y_train[:16]]
    pictures = {"samples.png": digit_grid(x_train[:16] / 255, captions, "First training digits")}

    ## 3. Prepare the data
    # Floats from 0 to 1 keep the first updates sensible; A and E flatten images to 784 numbers.
    image_shape = (28, 28) if args.network == "deep" else (784,)
    x_train = x_train.reshape((-1, *image_shape)).astype("float32") / 255
    x_test = x_test.reshape((-1, *image_shape)).astype("float32") / 255
    # Categorical cross-entropy (A, E) wants one-hot labels, 3 as [0,0,0,1,0,0,0,0,0,0]; D's digits.
    train_targets, test_targets = y_train, y_test
    if args.network != "deep":
        train_targets = keras.utils.to_categorical(y_train, 10)
        test_targets = keras.utils.to_categorical(y_test, 10)
    print(f"Prepared: x {x_train.shape} {x_train.dtype}, y {train_targets.shape}")

    ## 4. Define the model and 5. compile it: one function per article, below main()
    model = NETWORKS[args.network](keras, 1 if keras.backend.backend() == "torch" else 50)
    model.summary()
    pictures.update(helpers.network_drawing(keras, model))  # article E draws it so

    ## 6. Fit the model
    # A random 5% of the training digits validates; articles D and E use the test set for it.
    validating = np.random.default_rng(args.seed).permutation(len(x_train)) < 0.05 * len(x_train)
    x_fit, y_fit, fit_batch = x_train[~validating], train_targets[~validating], args.batch_size
    x_val, y_val = x_train[validating], train_targets[validating]
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
    start = time.perf_counter()
    history = model.fit(
        x_fit,
        y_fit,
        batch_size=fit_batch,
        epochs=args.epochs,
        validation_data=validation,
        callbacks=callbacks,
        shuffle=fit_batch is not None,  # tf.data batches come shuffled
        verbose=1 if sys.stdout.isatty() else 2,  # 2: one line an epoch, for a log file
    )
    fit_seconds = time.perf_counter() - start
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Trained {len(history.epoch)} of {args.epochs} epochs; the validation loss was lowest "
          f"after epoch {best_epoch}" + ", whose weights were kept" * args.early_stop)  # fmt: skip
    pictures["history.png"] = helpers.learning_curves(history.history, best_epoch, model.name)

    ## 7. Evaluate on the test set
    test_loss, test_accuracy = model.evaluate(x_test, test_targets, batch_size=1024, verbose=0)
    train_accuracy = history.history["accuracy"][-1]
    baseline = float(np.mean(y_test == np.bincount(y_train).argmax()))
    print(f"\nTest accuracy: {test_accuracy:.4f}   test loss: {test_loss:.4f}   "
          f"(training accuracy in the last epoch: {train_accuracy:.4f})")  # fmt: skip
    print(f"Always answering the commonest training digit would get {baseline:.4f}")
    # For each true digit (row), what the network answered (column): off the diagonal, mistakes.
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    confusion = np.histogram2d(y_test, predicted, bins=10, range=[[0, 10], [0, 10]])[0].astype(int)
    right = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    print("Accuracy per digit: " + "  ".join(f"{d}: {share:.1%}" for d, share in enumerate(right)))
    pictures["confusion.png"] = confusion_figure(confusion)

    ## 8. Predict
    # Softmax gives ten probabilities per digit; the largest is the prediction.
    print("\nFirst test digits:\n predicted  actual  confidence")
    for guess, actual, sure in zip(predicted[:16], y_test[:16], confidence[:16]):
        mark = "" if guess == actual else "  <- wrong"
        print(f"     {guess}        {actual}      {sure:6.1%}{mark}")
    pictures.update(prediction_pictures(x_test, y_test, predicted, confidence))

    ## 9. Save the model, its pictures and figures, all or none
    # Article D saves to .h5, the old format; .keras is Keras 3's own.
    metrics = {"data": str(npz_path), "network": args.network, "test_accuracy": test_accuracy,
        "test_loss": test_loss, "baseline_accuracy": baseline, "train_accuracy": train_accuracy,
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
        "n_train": len(x_train), "n_validation": len(x_val), "n_test": len(x_test),
        "fit_seconds": round(fit_seconds, 2), "best_epoch": best_epoch,
        "epochs_trained": len(history.epoch), "val_loss": history.history["val_loss"],
        "confusion_matrix": confusion.tolist()}  # fmt: skip
    helpers.save_outputs(args.out, {"model.keras": model.save, **pictures, "metrics.json": metrics})
    print(f"Read your own digit with it: python mnist_dense.py --predict IMAGE --out {args.out}")


## The articles' networks, each defined and compiled in one block (keras.Input: input_shape=).
## steps_per_execution: 50 batches per call into the backend, faster, same numbers (benchmarks/).


def article_a(keras, steps_per_execution):
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
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    return model


def article_e(keras, steps_per_execution):
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
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    return model


def article_d(keras, steps_per_execution):
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
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)  # fmt: skip
    return model


NETWORKS = {"first": article_a, "dropout": article_e, "deep": article_d}


## Flags. A reader of the articles may skip from here on.


# fmt: off
def parse_args(argv=None):
    number = helpers.whole_number
    parser = argparse.ArgumentParser(
        description="Train one of three articles' dense networks on MNIST digits, or read "
        "digits of your own with a trained one (--predict, --draw).")
    add = parser.add_argument
    add("--network", choices=NETWORKS, default="first",
        help="first: article A (default); dropout: article E; deep: article D")
    add("--data", type=Path, metavar="FILE",
        help="a local .npz with x_train, y_train, x_test, y_test, instead of downloading")
    add("--data-dir", type=Path, metavar="DIR", default=Path(__file__).resolve().parent / "data",
        help="where the download is cached (default: data/ beside this script)")
    add("--epochs", type=number(1), metavar="N",
        help="passes over the data (default: the network's article: 5 or 10; 1 with --quick)")
    add("--batch-size", type=number(1), metavar="N",
        help="digits per weight update (default: the network's article: 128 or 32)")
    add("--seed", type=number(0, 2**32 - 1), metavar="N", default=7,
        help="seed for the weights and the shuffling (default: %(default)s)")
    add("--out", type=Path, metavar="DIR", default=DEFAULT_OUT,
        help="folder for the pictures, model and metrics (default: %(default)s)")
    add("--quick", action="store_true",
        help="train on 2,000 digits and test on 500: a smoke test of a few seconds")
    add("--early-stop", action="store_true",
        help=f"stop once the validation loss has not fallen for {PATIENCE} epochs, and keep the "
        "weights of the epoch where it was lowest (default: train every epoch)")
    add("--tensorboard", type=Path, metavar="DIR",
        help="write TensorBoard logs into a new folder in DIR; watch: tensorboard --logdir DIR")
    add("--predict", type=Path, nargs="+", metavar="IMAGE",
        help="no training: read these PNG or JPEG images of digits with the saved model")
    add("--model", type=Path, metavar="FILE",
        help="the model --predict and --draw use (default: model.keras in --out)")
    add("--draw", action="store_true",
        help="no training: serve a page where you draw a digit and the saved model reads it")
    add("--port", type=number(0, 65535), metavar="N", default=8000,
        help="the port --draw serves on, 127.0.0.1 only (default: %(default)s; 0: any free one)")
    args = parser.parse_args(argv)
    if args.tensorboard and not all(map(importlib.util.find_spec, ["tensorflow", "tensorboard"])):
        parser.error("--tensorboard needs TensorFlow and TensorBoard: "
                     "pip install tensorflow tensorboard")
    args.epochs = args.epochs or (1 if args.quick else EPOCHS[args.network])
    args.batch_size = args.batch_size or BATCH_SIZE[args.network]
    return args
# fmt: on


## Checking the data file (--data). A reader of the articles may skip this section.

NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test"]
MIN_TRAINING_DIGITS = 20


def load_npz(path):
    """(x_train, y_train), (x_test, y_test) from an .npz in Keras's mnist.npz layout, checked;
    pixels from 0 to 255, as in mnist.npz, even where the file has them from 0 to 1."""
    fix = "pass an .npz in Keras's mnist.npz layout with --data"
    unreadable = f"{path} is not a readable .npz file (truncated or another format); {fix}"
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # an .npy file: a single array
            raise ValueError(path)
        with npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                needed = ", ".join(NPZ_KEYS)
                raise helpers.UserError(f"{path} lacks {', '.join(missing)}; it needs {needed}")
            arrays = {key: npz[key] for key in NPZ_KEYS}
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path given to --data")
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; {fix}")
    except MemoryError:
        memory = "claims an array larger than this machine's memory; the file is damaged"
        raise helpers.UserError(f"{path} {memory}; {fix}")
    except ValueError as error:
        if "Object arrays" in str(error):
            raise helpers.UserError(
                f"{path} holds Python objects (pickled arrays), which are not loaded, for "
                f"safety; save plain numeric arrays; {fix}"
            )
        raise helpers.UserError(unreadable)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise helpers.UserError(unreadable)
    whites = []
    for split in ["train", "test"]:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        for key, array in [(f"x_{split}", images), (f"y_{split}", labels)]:
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise helpers.UserError(f"{path}: {key} is not an array of numbers; {fix}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
            shape = images.shape
            raise helpers.UserError(f"{path}: x_{split} has shape {shape}; it must be (n, 28, 28)")
        if labels.shape != (len(images),):
            must = f"it must be ({len(images)},), one label per image"
            raise helpers.UserError(f"{path}: y_{split} has shape {labels.shape}; {must}")
        if not np.isin(labels, np.arange(10)).all():
            raise helpers.UserError(f"{path}: y_{split} holds labels outside 0..9")
        whites.append(white_of(images, f"{path}: x_{split}"))
    if whites[0] != whites[1]:
        raise helpers.UserError(
            f"{path}: x_train's pixels go up to {whites[0]:g} but x_test's to {whites[1]:g}; "
            "scale both alike"
        )
    if (n := len(arrays["x_train"])) < MIN_TRAINING_DIGITS:
        raise helpers.UserError(
            f"{path}: x_train has {n} images; training needs at least {MIN_TRAINING_DIGITS}"
        )
    if whites[0] == 1:
        print(f"{path}: its pixels go from 0 to 1; taken times 255, as mnist.npz has them")
        for key in ["x_train", "x_test"]:
            arrays[key] = arrays[key].astype("float64") * 255  # exact: k / 255 * 255 is k
    train = arrays["x_train"], arrays["y_train"].astype(int)
    return train, (arrays["x_test"], arrays["y_test"].astype(int))


def white_of(images, name):
    """255 for grey levels 0-255, 1 for floats already in 0..1; a UserError for anything else."""
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise helpers.UserError(
            f"{name} holds NaN or infinite pixels; pixels must be numbers from 0 to 255, "
            "or from 0 to 1"
        )
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise helpers.UserError(
            f"{name} holds pixels from {low:g} to {high:g}; they must lie from 0 to 255 "
            "(grey levels), or from 0 to 1"
        )
    floats_in_unit_range = np.issubdtype(images.dtype, np.floating) and high <= 1
    return 1.0 if floats_in_unit_range or images.dtype == bool else 255.0


## Pictures. A reader of the articles may skip this section.


def prediction_pictures(images, labels, predicted, confidence):
    """predictions.png, the first 16 test digits; mistakes.png, the 16 surest mistakes,
    which show what the network has not learnt."""
    wrong = np.flatnonzero(predicted != labels)
    surest = wrong[np.argsort(-confidence[wrong], kind="stable")][:16]
    first = [f"{g} ({s:.0%}), true {a}" for g, s, a in zip(predicted, confidence, labels[:16])]
    mistakes = [f"said {predicted[i]} ({confidence[i]:.0%}), is {labels[i]}" for i in surest]
    return {
        "predictions.png": digit_grid(
            images[:16], first, "Predictions on the first test digits (wrong ones in red)",
            wrong=predicted[:16] != labels[:16],
        ),
        "mistakes.png": digit_grid(
            images[surest], mistakes,
            f"The most confident of {len(wrong)} mistakes on {len(labels)} test digits",
            wrong=np.ones(len(surest), dtype=bool),
        ),
    }  # fmt: skip


def digit_grid(images, captions, title, wrong=None):
    """Up to 16 digits (pixels 0..1) in two rows of eight, each under its caption; wrong in red.
    Pasted into one sheet and drawn as one image: four times faster than 16 small plots."""
    from matplotlib.figure import Figure

    cell_height, cell_width = 40, 32  # pixels per digit, caption included
    sheet = np.ones((2 * cell_height, 8 * cell_width))  # white, with a 28x28 slot per digit
    figure = Figure(figsize=(12, 4), layout="tight")
    axis = figure.subplots()
    for index, (image, caption) in enumerate(zip(images[:16], captions)):
        top, left = index // 8 * cell_height + 10, index % 8 * cell_width + 2
        sheet[top : top + 28, left : left + 28] = image.reshape(28, 28)
        is_wrong = wrong is not None and wrong[index]
        axis.text(left + 14, top - 2, caption, ha="center", fontsize=8,
                  color="red" if is_wrong else "black",
                  fontweight="bold" if is_wrong else "normal")  # fmt: skip
    axis.imshow(sheet, cmap="gray", vmin=0, vmax=1)
    axis.axis("off")
    figure.suptitle(title)
    return figure


def confusion_figure(confusion):
    """The 10x10 counts: the diagonal (right answers) in green, mistakes in shades of red."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    mistakes = confusion * (1 - np.eye(10, dtype=int))
    figure = Figure(figsize=(7, 6), layout="tight")
    axis = figure.subplots()
    axis.imshow(np.ma.masked_equal(mistakes, 0), cmap="Reds", vmin=0, vmax=max(mistakes.max(), 1))
    for true in range(10):
        for said in range(10):
            count = confusion[true, said]
            if true == said:
                axis.add_patch(Rectangle((said - 0.5, true - 0.5), 1, 1, color="#2e7d32"))
                axis.text(said, true, count, ha="center", va="center", color="white", fontsize=8)
            elif count:
                color = "white" if count > mistakes.max() / 2 else "black"
                axis.text(said, true, count, ha="center", va="center", fontsize=9, color=color)
    axis.set(xticks=range(10), yticks=range(10), xlim=(-0.5, 9.5), ylim=(9.5, -0.5),
             xlabel="the network said", ylabel="the true digit")  # fmt: skip
    right, total = confusion.trace(), confusion.sum()
    axis.set_title(f"{right} of {total} test digits right; off the diagonal: mistakes")
    return figure


if __name__ == "__main__":
    helpers.run(main)
