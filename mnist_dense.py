"""Recognise handwritten digits (MNIST) with a dense network: the "hello world" of Keras 3.

Three articles teach it with three networks; --network picks one, with its article's settings:
first (default), article A, https://www.kdnuggets.com/2019/10/writing-first-neural-net-less-30-lines-code-keras.html;
deep, article D, https://medium.com/analytics-vidhya/learn-deep-learning-by-building-one-d178f933623d;
dropout, article E, https://www.kdnuggets.com/2018/06/basic-keras-neural-network-sequential-model.html.

Expected on the full MNIST (60,000 training and 10,000 test digits, 11 MB, downloaded once),
seed 7, 2-core CPU: test accuracy 0.977 for first (about 30 s of training), 0.982 for
dropout, 0.970 for deep (README.md has the figures over seeds). Then the saved network reads
digits of your own: 52 of 55 real handwritten ones, photos, scans and drawings.

    python mnist_dense.py                          # article A's network on the full data
    python mnist_dense.py --network dropout        # article E's; or deep for article D's
    python mnist_dense.py --quick                  # seconds, on a slice: checks the set-up
    python mnist_dense.py --predict my_digit.jpg   # your own digit, read by the saved model
    python mnist_dense.py --draw                   # a page to draw digits on, read by the saved model

Writes to --out: model.keras, metrics.json, samples.png, network.png (with Graphviz),
history.png, confusion.png, predictions.png, mistakes.png; --predict: own_predictions.csv, .png.
"""

import argparse
import csv
import importlib.util
import io
import shutil
import sys
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import tutorial_helpers as helpers  # before NumPy: from here on a Ctrl-C is one line, not a traceback

import numpy as np

DATA_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DATA_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test"]
MIN_TRAINING_DIGITS = 20
PATIENCE = 2  # epochs without a lower validation loss before --early-stop stops (benchmarks/README.md)
DEFAULT_OUT = Path("outputs/mnist_dense")
MAX_DRAWN = 32  # own digits in own_predictions.png; the CSV has them all

# Each article's training settings. The labels follow from the loss: categorical
# cross-entropy wants one-hot vectors, the sparse variant wants the digits themselves.
# Article D sets no batch size, so it trained with Keras's default of 32.
NETWORKS = {
    "first": dict(optimizer="adam", loss="categorical_crossentropy", epochs=5, batch_size=128),
    "dropout": dict(optimizer="rmsprop", loss="categorical_crossentropy", epochs=10, batch_size=128),
    "deep": dict(optimizer="adam", loss="sparse_categorical_crossentropy", epochs=10, batch_size=32),
}


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
        description="Train one of three articles' dense networks on MNIST digits, or read "
        "digits of your own with a trained one (--predict).")
    parser.add_argument("--network", choices=NETWORKS, default="first",
                        help="first: article A (default); dropout: article E; deep: article D")
    parser.add_argument("--data", type=Path, metavar="FILE",
                        help="a local .npz with x_train, y_train, x_test, y_test, instead of downloading")
    parser.add_argument("--data-dir", type=Path, metavar="DIR",
                        default=Path(__file__).resolve().parent / "data",
                        help="where the download is cached (default: data/ beside this script, "
                        "wherever you run it from)")
    parser.add_argument("--epochs", type=whole_number(1), metavar="N",
                        help="passes over the data (default: the network's article: 5 or 10; 1 with --quick)")
    parser.add_argument("--batch-size", type=whole_number(1), metavar="N",
                        help="digits per weight update (default: the network's article: 128 or 32)")
    parser.add_argument("--seed", type=whole_number(0, 2**32 - 1), metavar="N", default=7,
                        help="seed for the weights and the shuffling (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="DIR", default=DEFAULT_OUT,
                        help="folder for the pictures, model and metrics, in the folder you run "
                        "from (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="train on 2,000 digits and test on 500: a smoke test of a few seconds")
    parser.add_argument("--early-stop", action="store_true",
                        help=f"stop once the validation loss has not fallen for {PATIENCE} epochs, and "
                        "keep the weights of the epoch where it was lowest (default: train every epoch)")
    parser.add_argument("--tensorboard", type=Path, metavar="DIR",
                        help="write TensorBoard logs into a new folder in DIR; watch with: tensorboard --logdir DIR")
    parser.add_argument("--predict", type=Path, nargs="+", metavar="IMAGE",
                        help="no training: read these PNG or JPEG images of digits with the saved model")
    parser.add_argument("--model", type=Path, metavar="FILE",
                        help="the model --predict and --draw use (default: model.keras in --out)")
    parser.add_argument("--draw", action="store_true",
                        help="no training: serve a page where you draw a digit and the saved model reads it")
    parser.add_argument("--port", type=whole_number(0, 65535), metavar="N", default=8000,
                        help="the port --draw serves on, on 127.0.0.1 only (default: %(default)s; "
                        "0 picks a free one)")
    args = parser.parse_args(argv)
    if args.tensorboard and not (importlib.util.find_spec("tensorflow") and importlib.util.find_spec("tensorboard")):
        parser.error("--tensorboard needs TensorFlow and TensorBoard: pip install tensorflow tensorboard")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.predict:
        return predict_own_digits(args)
    if args.draw:
        return serve_drawing_page(args)
    settings = NETWORKS[args.network]
    epochs = args.epochs or (1 if args.quick else settings["epochs"])
    batch_size = args.batch_size or settings["batch_size"]
    helpers.check_writable(args.out)  # now, not after training

    ## 1. Load the data
    # mnist.load_data() caches under ~/.keras; the same file, downloaded by the helper, stays
    # in data/, and --data can point at a copy of one's own. load_npz checks it (below).
    npz_path = args.data or helpers.download(DATA_URL, DATA_SHA256, args.data_dir)
    (x_train, y_train), (x_test, y_test), white = load_npz(npz_path)
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:2000], y_train[:2000], x_test[:500], y_test[:500]
    # Keras loads only now, as it takes seconds: a mistyped flag is reported at once.
    keras = helpers.start_keras(args.seed)  # seeds Python, NumPy and Keras

    ## 2. Look at the data
    print(f"Loaded {npz_path}: pixel values 0 (black) to {white:g} (white), labels 0-9")
    print(f"  training images {x_train.shape}, labels {y_train.shape}; test images {x_test.shape}")
    print("  training digits per label: " + "  ".join(
        f"{digit}: {count}" for digit, count in enumerate(np.bincount(y_train, minlength=10))))
    pictures = {"samples.png": digit_grid(x_train[:16] / white, [f"label {y}" for y in y_train[:16]],
                                          "The first training digits")}

    ## 3. Prepare the data
    # Pixels become floats from 0 to 1: small inputs keep the first weight updates sensible.
    # Articles A and E flatten each image into 784 numbers; article D's network does it
    # itself, with a Flatten layer.
    image_shape = (28, 28) if args.network == "deep" else (784,)
    x_train = x_train.reshape((-1, *image_shape)).astype("float32") / white
    x_test = x_test.reshape((-1, *image_shape)).astype("float32") / white
    # Categorical cross-entropy wants one-hot labels (3 -> [0,0,0,1,0,0,0,0,0,0]); the
    # sparse variant, article D's, takes the digits as they are.
    train_targets, test_targets = y_train, y_test
    if settings["loss"] == "categorical_crossentropy":
        train_targets, test_targets = keras.utils.to_categorical(y_train, 10), keras.utils.to_categorical(y_test, 10)
    print(f"Prepared for the {args.network} network: x {x_train.shape} {x_train.dtype}, "
          f"y {train_targets.shape} {train_targets.dtype}")

    ## 4. Define the model
    # Keras 3 has no input_shape= on the first layer: keras.Input declares it. All three
    # networks end in 10 softmax outputs, one probability per digit.
    Dense, Dropout = keras.layers.Dense, keras.layers.Dropout
    if args.network == "first":  # article A: two hidden layers as wide as the image
        layers = [Dense(784, activation="relu"), Dense(784, activation="relu")]
    elif args.network == "dropout":  # article E: dropout after each hidden layer against overfitting
        layers = [Dense(512, activation="relu"), Dropout(0.5), Dense(256, activation="relu"), Dropout(0.25)]
    else:  # article D: takes 28x28 images and flattens them itself
        layers = [keras.layers.Flatten(), Dense(512, activation="relu"),
                  Dense(256, activation="relu"), Dense(128, activation="relu")]
    model = keras.Sequential([keras.Input(shape=image_shape), *layers, Dense(10, activation="softmax")],
                             name=args.network)
    model.summary()
    pictures.update(network_drawing(keras, model))  # as article E draws it (below)

    ## 5. Compile the model
    # steps_per_execution: up to 50 batches per call into the backend, the same numbers in
    # less time (benchmarks/README.md); PyTorch takes one at a time.
    model.compile(optimizer=settings["optimizer"], loss=settings["loss"], metrics=["accuracy"],
                  steps_per_execution=1 if keras.backend.backend() == "torch" else 50)

    ## 6. Fit the model
    # Articles D and E validate on the test set, which then is no longer unseen. Here a
    # random 5% of the training digits validates instead (not the last 5%: MNIST's training
    # digits are not in random order).
    held_back = np.random.default_rng(args.seed).permutation(len(x_train)) < round(0.05 * len(x_train))
    x_fit, y_fit = x_train[~held_back], train_targets[~held_back]
    x_val, y_val = x_train[held_back], train_targets[held_back]
    fit_data = dict(x=x_fit, y=y_fit, batch_size=batch_size, shuffle=True)
    if keras.backend.backend() == "tensorflow":
        # Keras 3.15 on TensorFlow shuffles NumPy arrays the same way every epoch once a seed
        # is set (tests/test_keras_facts.py); tf.data reshuffles them each epoch.
        import tensorflow as tf

        fit_data = dict(x=tf.data.Dataset.from_tensor_slices((x_fit, y_fit)).shuffle(
            len(x_fit), seed=args.seed).batch(batch_size).prefetch(2), shuffle=False)
    callbacks = []
    if args.early_stop:  # stop where the validation curve is best, and keep that epoch's weights
        callbacks.append(keras.callbacks.EarlyStopping(patience=PATIENCE, restore_best_weights=True))
    if args.tensorboard:  # a folder per run, so that TensorBoard shows runs side by side
        run = f"{model.name}-seed{args.seed}{'-early-stop' * args.early_stop}-{time.strftime('%Y%m%d-%H%M%S')}"
        callbacks.append(keras.callbacks.TensorBoard(args.tensorboard / run))
    started = time.perf_counter()
    history = model.fit(**fit_data, validation_data=(x_val, y_val), validation_batch_size=1024, epochs=epochs,
                        callbacks=callbacks, verbose=1 if sys.stdout.isatty() else 2)  # 2: a line an epoch
    fit_seconds = time.perf_counter() - started
    best_epoch = 1 + int(np.argmin(history.history["val_loss"]))
    print(f"Trained {len(history.epoch)} of {epochs} epochs; the validation loss was lowest after epoch "
          f"{best_epoch}" + (", whose weights were kept" if args.early_stop else ""))
    pictures["history.png"] = learning_curves(history.history, best_epoch, model.name)

    ## 7. Evaluate on the test set
    # The training accuracy is Keras's own figure for the last epoch, as articles D and E read it.
    test_loss, test_accuracy = model.evaluate(x_test, test_targets, batch_size=1024, verbose=0)
    print(f"\nTest accuracy: {test_accuracy:.4f}   test loss: {test_loss:.4f}   "
          f"(training accuracy in the last epoch: {history.history['accuracy'][-1]:.4f})")
    # The confusion matrix counts, for each true digit (row), what the network answered
    # (column): everything off the diagonal is a mistake.
    probabilities = model.predict(x_test, batch_size=1024, verbose=0)
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y_test, predicted), 1)
    per_digit = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    print("Accuracy per digit: " + "  ".join(f"{d}: {share:.1%}" for d, share in enumerate(per_digit)))
    pictures["confusion.png"] = confusion_figure(confusion)

    ## 8. Predict
    # Softmax gives ten probabilities per digit; the largest is the prediction.
    print("\nFirst test digits:\n predicted  actual  confidence")
    for guess, actual, sure in zip(predicted[:16], y_test[:16], confidence[:16]):
        print(f"     {guess}        {actual}      {sure:6.1%}{'' if guess == actual else '  <- wrong'}")
    pictures.update(prediction_pictures(x_test, y_test, predicted, confidence))

    ## 9. Save the model, its pictures and figures
    # Article D saves to .h5, the old format; .keras is Keras 3's own. The helper writes all or none.
    helpers.save_outputs(args.out, {
        "model.keras": model, **pictures,
        "metrics.json": {
            "data": str(npz_path), "network": args.network, "test_accuracy": test_accuracy,
            "test_loss": test_loss, "train_accuracy": history.history["accuracy"][-1],
            "epochs": epochs, "batch_size": batch_size, "seed": args.seed,
            "n_train": len(x_train), "n_validation": len(x_val), "n_test": len(x_test),
            "fit_seconds": round(fit_seconds, 2),
            "best_epoch": best_epoch, "epochs_trained": len(history.epoch),
            "val_loss": history.history["val_loss"], "confusion_matrix": confusion.tolist()}})
    print(f"Read a digit of your own with it: python {Path(__file__).name} --predict IMAGE.jpg"
          + ("" if args.out == DEFAULT_OUT else f" --out {args.out}"))


## Predict your own digits (--predict). The articles end above: a reader may stop here.
# MNIST's digits were made in one way: white ink on black, the digit scaled to fit 20x20
# pixels and placed in a 28x28 frame with its centre of mass at the centre. The network has
# seen nothing else, so a photo (dark ink on light paper, the digit small and off-centre)
# must be made to look the same: squeezed to 28x28 as they were, 55 real handwritten digits
# were read about as well as by chance; prepared as MNIST's were, 52 (README.md).

def predict_own_digits(args):
    helpers.check_writable(args.out)
    thumbnails, digits = [], []
    for path in args.predict:  # one image in memory at a time: photos can be large
        image = open_image(path)
        digits.append(prepare_digit(image, path))
        if len(thumbnails) < MAX_DRAWN:
            image.thumbnail((160, 160))
            thumbnails.append(image.convert("RGB"))
    model = load_digit_model(args)
    probabilities = read_digits(model, np.array(digits))

    rows = [["file", "digit", "confidence", *(f"p{d}" for d in range(10))]]
    print(" digit  confidence  runner-up  file")
    for path, p in zip(args.predict, probabilities):
        best, second = np.argsort(-p, kind="stable")[:2]
        print(f"   {best}      {p[best]:6.1%}     {second} {p[second]:5.1%}  {path}")
        rows.append([str(path), best, f"{p[best]:.4f}", *(f"{value:.4f}" for value in p)])
    text = io.StringIO()
    csv.writer(text).writerows(rows)  # its \r\n line ends quote a file name holding \r
    if len(digits) > MAX_DRAWN:
        print(f"own_predictions.png shows the first {MAX_DRAWN}; own_predictions.csv has all {len(digits)}")
    helpers.save_outputs(args.out, {"own_predictions.csv": text.getvalue(), "own_predictions.png":
                                    own_predictions_figure(args.predict, thumbnails, digits, probabilities)})


def load_digit_model(args):
    """The saved model, checked to take MNIST digits and give ten probabilities."""
    how_to_train = "python mnist_dense.py" + ("" if args.out == DEFAULT_OUT else f" --out {args.out}")
    model_path = args.model or args.out / "model.keras"
    if not model_path.is_file():
        raise helpers.UserError(f"no trained model at {model_path}; train one first with: {how_to_train}")
    keras = helpers.start_keras()
    try:  # compile=False: reading needs no optimizer, nor the training settings saved with the model
        model = keras.models.load_model(model_path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file that is no model
        raise helpers.UserError(f"{model_path} is not a Keras model this script can load "
                                f"({helpers.one_line(error, 120)}); train one with: {how_to_train}")
    if model.input_shape[1:] not in [(784,), (28, 28)] or model.output_shape[1:] != (10,):
        raise helpers.UserError(
            f"{model_path} takes {model.input_shape[1:]} and gives {model.output_shape[1:]}; this "
            f"script needs a model that takes 784 or 28x28 pixels and gives 10 probabilities; "
            f"train one with: {how_to_train}")
    return model


def read_digits(model, digits):
    """Ten probabilities per 28x28 digit; 784 numbers in a row for first and dropout."""
    probabilities = model.predict(digits.reshape((-1, *model.input_shape[1:])), verbose=0)
    if not np.allclose(probabilities.sum(axis=1), 1, atol=1e-3) or probabilities.min() < 0:
        raise helpers.UserError("the model's outputs are not probabilities (a softmax layer "
                                "gives them); train one with: python mnist_dense.py")
    return probabilities


def open_image(path):
    """The image in the file, in its upright orientation; a UserError if it is none."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a huge photo, a damaged EXIF tag: read all the same
            with Image.open(path) as image:
                image.load()
                return ImageOps.exif_transpose(image)  # phones store photos sideways plus a tag
    except FileNotFoundError:
        raise helpers.UserError(f"{path} does not exist; check the path given to --predict")
    except IsADirectoryError:
        raise helpers.UserError(f"{path} is a folder; pass image files, e.g. {path}/*.png")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise helpers.UserError(f"{path} is not an image this script can read "
                                f"({helpers.one_line(error, 80)}); pass a PNG or JPEG file")


def prepare_digit(image, name="the image"):
    """A 28x28 array of floats from 0 to 1 that looks like an MNIST digit: white ink on
    black, scaled to fit 20x20 pixels, its centre of mass at the centre. name: for errors."""
    from PIL import Image, ImageFilter, ImageOps

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float scans: their own range
        values = np.asarray(image, dtype="float32")
        image = Image.fromarray(((values - values.min()) / max(np.ptp(values), 1e-9) * 255).astype("uint8"))
    # Grey levels. Transparent parts go onto a backdrop unlike the ink, so that a drawing
    # whose ink is only in the alpha channel still shows.
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        grey, alpha = image.convert("LA").split()
        opaque = np.asarray(grey)[np.asarray(alpha) > 128]
        backdrop = 255 if opaque.size == 0 or opaque.mean() < 128 else 0
        image = Image.composite(grey, Image.new("L", grey.size, backdrop), alpha)
    image = image.convert("L")
    image.thumbnail((400, 400), Image.Resampling.BOX)  # enough detail; thin lines fade, not vanish
    grey = np.asarray(image, dtype="float32")
    # Most pixels are paper. Ink is what departs from the paper's grey: darker on paper,
    # lighter on a blackboard; the side that departs more, in total, is the ink's. Taking
    # the paper's grey away, not only inverting, leaves the background black, as in MNIST.
    paper = np.median(grey)
    darker, lighter = (paper - grey).clip(0), (grey - paper).clip(0)
    ink = darker if darker.sum() > lighter.sum() else lighter
    if ink.max() < 32:  # fainter than this is shading or noise
        raise helpers.UserError(f"{name}: no ink found; pass a photo, scan or drawing of one digit")
    # Otsu's threshold: the level that best splits the pixels into two groups, paper (with
    # its grain, shadows and grid lines) and ink.
    counts, levels = np.histogram(ink, bins=64, range=(0, ink.max()))
    below, weight = np.cumsum(counts), np.cumsum(counts * levels[:-1])
    spread = (weight[-1] * below / below[-1] - weight) ** 2 / np.maximum(below * (below[-1] - below), 1)
    is_ink = ink > levels[1 + np.argmax(spread)]
    # Crop to the ink, leaving out stray marks at the edges (the outer 0.5% of the ink).
    (top, bottom), (left, right) = [
        np.searchsorted(np.cumsum(is_ink.sum(axis)) / is_ink.sum(), [0.005, 0.995]) for axis in (1, 0)]
    digit = fit(Image.fromarray(is_ink[top:bottom + 1, left:right + 1].astype("uint8") * 255), 80)
    # MNIST's strokes are about an eighth of the digit's height. A pen line on a large page
    # is far thinner and would fade away when shrunk, so it is thickened first. Its width is
    # about twice its area divided by the length of its outline. Any pixel the ink touched
    # counts, so that a 1-pixel line, a shade of grey at this size, stays whole and white.
    is_ink = np.asarray(digit) > 0
    digit = Image.fromarray(is_ink.astype("uint8") * 255)
    padded = np.pad(is_ink, 1)
    inside = is_ink & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    grow = round((10 - 2 * is_ink.sum() / max(1, is_ink.sum() - inside.sum())) / 2)
    if grow > 0:
        digit = ImageOps.expand(digit, grow).filter(ImageFilter.MaxFilter(2 * grow + 1))
    # MNIST's recipe: the digit fits a 20x20 box, placed in a 28x28 frame with its centre of
    # mass, not its box, at the centre.
    small = np.asarray(fit(digit, 20), dtype="float32") / 255
    centre = (np.indices(small.shape) * small).sum(axis=(1, 2)) / small.sum()
    top, left = np.clip(np.round(14 - centre), 0, np.subtract(28, small.shape)).astype(int)
    frame = np.zeros((28, 28), dtype="float32")
    frame[top:top + small.shape[0], left:left + small.shape[1]] = small
    return frame


def fit(image, longest):
    """The image scaled so that its longest side is `longest` pixels, averaging as it shrinks."""
    from PIL import Image

    scale = longest / max(image.size)
    return image.resize([max(1, round(side * scale)) for side in image.size], Image.Resampling.BOX)


## Draw a digit in the browser (--draw). Not in the articles: a reader may stop before it.

DRAWING_PAGE = Path(__file__).resolve().parent / "draw_digit.html"
MAX_DRAWING_BYTES = 5 * 1024 * 1024


def serve_drawing_page(args):
    """Serve draw_digit.html on 127.0.0.1 until Ctrl-C; the saved model reads each drawing
    exactly as --predict reads an image file."""
    import contextlib
    import http.server
    import json
    import threading

    model = load_digit_model(args)
    page = DRAWING_PAGE.read_bytes()
    one_at_a_time = threading.Lock()  # requests come in threads of their own; the model reads one at a time

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.asks_for("/"):
                self.reply(200, page, "text/html; charset=utf-8")

        def do_POST(self):
            if not self.asks_for("/predict"):
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdecimal():
                return self.reply(411, {"error": "send the PNG with a Content-Length header"})
            if int(length) > MAX_DRAWING_BYTES:  # refused unread: a huge body never reaches memory
                return self.reply(413, {"error": f"a drawing may be at most {MAX_DRAWING_BYTES} bytes"})
            try:
                image = open_image(io.BytesIO(self.rfile.read(int(length))))
            except helpers.UserError:  # its message names a file, and here there is none
                return self.reply(400, {"error": "the body is not an image; send the drawing as a PNG"})
            try:
                digit = prepare_digit(image, "the drawing")
            except helpers.UserError as error:
                return self.reply(400, {"error": str(error)})
            with one_at_a_time:
                probabilities = read_digits(model, digit[np.newaxis])[0]
            self.reply(200, {"digit": int(probabilities.argmax()), "confidence": float(probabilities.max()),
                             "probabilities": probabilities.tolist(), "seen": digit.tolist()})

        def asks_for(self, path):
            """True if the request is for path on this server; if not, answer 403 or 404."""
            # DNS rebinding: a web site can make a name of its own lead to 127.0.0.1, and its
            # page then talks to this server. Its requests carry that name in Host.
            port = self.server.server_address[1]
            if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
                self.reply(403, {"error": f"only http://127.0.0.1:{port}/ is served"})
                return False
            if self.path != path:
                self.reply(404, {"error": f"nothing at {self.path}"})
                return False
            return True

        def reply(self, status, body, content_type="application/json"):
            body = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def handle(self):
            with contextlib.suppress(ConnectionError):  # a browser that left before the answer
                super().handle()

        def log_message(self, *args):
            pass  # no line on the terminal per request

    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as error:
        raise helpers.UserError(f"cannot serve on 127.0.0.1:{args.port} ({error.strerror or error}); "
                                "choose another --port, or --port 0 for any free one")
    print(f"Draw a digit at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()  # until Ctrl-C, which helpers.run turns into one line
    finally:
        server.server_close()  # in Jupyter, the port is free again for the next run


## Checking the data file (--data). A reader of the articles may skip this section.

def load_npz(path):
    """(x_train, y_train), (x_test, y_test) from an .npz in Keras's mnist.npz layout, checked,
    and the pixel value of white: 255 for grey levels, 1 for images already scaled to 0..1."""
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
    except MemoryError:
        raise helpers.UserError(f"{path} claims an array larger than this machine's memory; "
                                f"the file is damaged; {fix}")
    except ValueError as error:
        if "Object arrays" in str(error):
            raise helpers.UserError(f"{path} holds Python objects (pickled arrays), which are not "
                                    f"loaded, for safety; save plain numeric arrays; {fix}")
        raise helpers.UserError(f"{path} is not a readable .npz file (truncated or another format); {fix}")
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise helpers.UserError(f"{path} is not a readable .npz file (truncated or another format); {fix}")
    whites = []
    for split in ["train", "test"]:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        for key, array in [(f"x_{split}", images), (f"y_{split}", labels)]:
            if not isinstance(array, np.ndarray) or not (
                    np.issubdtype(array.dtype, np.number) or array.dtype == bool):
                raise helpers.UserError(f"{path}: {key} is not an array of numbers; {fix}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
            raise helpers.UserError(
                f"{path}: x_{split} has shape {images.shape}; it must be (n, 28, 28) with n > 0")
        if labels.shape != (len(images),):
            raise helpers.UserError(
                f"{path}: y_{split} has shape {labels.shape}; "
                f"it must be ({len(images)},), one label per image")
        if not np.isin(labels, np.arange(10)).all():
            raise helpers.UserError(f"{path}: y_{split} holds labels outside 0..9")
        whites.append(white_of(images, f"{path}: x_{split}"))
    if whites[0] != whites[1]:
        raise helpers.UserError(f"{path}: x_train's pixels go up to {whites[0]:g} but x_test's "
                                f"to {whites[1]:g}; scale both alike")
    if len(arrays["x_train"]) < MIN_TRAINING_DIGITS:
        raise helpers.UserError(f"{path}: x_train has {len(arrays['x_train'])} images; "
                                f"training needs at least {MIN_TRAINING_DIGITS}")
    return ((arrays["x_train"], arrays["y_train"].astype(int)),
            (arrays["x_test"], arrays["y_test"].astype(int)), whites[0])


def white_of(images, name):
    """255 for grey levels 0-255, 1 for floats already in 0..1; a UserError for anything else."""
    if np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all():
            raise helpers.UserError(f"{name} holds NaN or infinite pixels; pixels must be numbers "
                                    "from 0 to 255, or from 0 to 1")
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise helpers.UserError(f"{name} holds pixels from {low:g} to {high:g}; they must lie "
                                "from 0 to 255 (grey levels), or from 0 to 1")
    floats_in_unit_range = np.issubdtype(images.dtype, np.floating) and high <= 1
    return 1.0 if floats_in_unit_range or images.dtype == bool else 255.0


## Pictures. A reader of the articles may skip this section.

def network_drawing(keras, model):
    """{"network.png": the layers, drawn by Graphviz}, or {} without it. Article E's
    keras.utils.vis_utils.model_to_dot is keras.utils.model_to_dot in Keras 3."""
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


def prediction_pictures(images, labels, predicted, confidence):
    """predictions.png, the first 16 test digits; mistakes.png, the 16 surest mistakes,
    which show what the network has not learnt."""
    wrong = np.flatnonzero(predicted != labels)
    surest = wrong[np.argsort(-confidence[wrong], kind="stable")][:16]
    return {"predictions.png": digit_grid(
                images[:16], [f"{g} ({s:.0%}), true {a}" for g, s, a in zip(predicted, confidence, labels[:16])],
                "Predictions on the first test digits (wrong ones in red)", wrong=predicted[:16] != labels[:16]),
            "mistakes.png": digit_grid(
                images[surest], [f"said {predicted[i]} ({confidence[i]:.0%}), is {labels[i]}" for i in surest],
                f"The most confident of {len(wrong)} mistakes on {len(labels)} test digits",
                wrong=np.ones(len(surest), dtype=bool))}


def digit_grid(images, captions, title, wrong=None):
    """Up to 16 digits (pixels 0..1) in two rows of eight, each under its caption; wrong in red.

    The digits are pasted into one sheet and drawn as one image: four times faster than 16
    small plots, for the same picture.
    """
    from matplotlib.figure import Figure

    cell_height, cell_width = 40, 32  # pixels per digit, caption included
    sheet = np.ones((2 * cell_height, 8 * cell_width))  # white, with a 28x28 slot per digit
    figure = Figure(figsize=(12, 4), layout="tight")
    axis = figure.subplots()
    for index, (image, caption) in enumerate(zip(images[:16], captions)):
        top, left = index // 8 * cell_height + 10, index % 8 * cell_width + 2
        sheet[top:top + 28, left:left + 28] = image.reshape(28, 28)
        is_wrong = wrong is not None and wrong[index]
        axis.text(left + 14, top - 2, caption, ha="center", fontsize=8,
                  color="red" if is_wrong else "black", fontweight="bold" if is_wrong else "normal")
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
                axis.text(said, true, count, ha="center", va="center", fontsize=9,
                          color="white" if count > mistakes.max() / 2 else "black")
    axis.set(xticks=range(10), yticks=range(10), xlim=(-0.5, 9.5), ylim=(9.5, -0.5),
             xlabel="the network said", ylabel="the true digit")
    axis.set_title(f"{confusion.trace()} of {confusion.sum()} test digits right; "
                   "off the diagonal: mistakes")
    return figure


def own_predictions_figure(paths, thumbnails, digits, probabilities):
    """For each image: the original, the 28x28 the network saw, and its ten probabilities."""
    from matplotlib.figure import Figure

    per_row, n_rows = 2, -(-len(thumbnails) // 2)  # images side by side, three panels each
    figure = Figure(figsize=(12, 1.7 * n_rows + 0.6), layout="constrained")
    axes = figure.subplots(n_rows, 3 * per_row, squeeze=False, width_ratios=[1, 1, 2.2] * per_row)
    for axis in axes.flat:
        axis.axis("off")
    for index, (path, thumbnail, digit, p) in enumerate(zip(paths, thumbnails, digits, probabilities)):
        original, seen, bars = axes[index // per_row, 3 * (index % per_row):3 * (index % per_row) + 3]
        original.imshow(thumbnail)
        name = "".join(c if c.isprintable() else "?" for c in Path(path).name)[:22]
        original.set_title(name, fontsize=7, parse_math=False)  # "$" in a name is no formula
        seen.imshow(digit, cmap="gray", vmin=0, vmax=1)
        seen.set_title("as MNIST", fontsize=7)
        bars.axis("on")
        bars.bar(range(10), p, color=["#2e7d32" if d == p.argmax() else "#9e9e9e" for d in range(10)])
        bars.set(xticks=range(10), yticks=[], ylim=(0, 1))
        bars.tick_params(labelsize=7)
        bars.set_title(f"reads {p.argmax()} ({p.max():.0%})", fontsize=8)
    figure.suptitle("Your digits: the image, what the network saw, and its probability for each digit")
    return figure


if __name__ == "__main__":
    helpers.run(main)
