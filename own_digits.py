"""Photos of your own digits made to look like MNIST's, read by the network mnist_dense.py trained.

    python mnist_dense.py --predict my_digit.jpg another.png   # prints each digit, writes
                                                               # own_predictions.csv and .png

draw_page.py serves a page to draw digits on (--draw), read here as photos are.

Or in your own code, after a run of mnist_dense.py (README.md, "Use the saved models"):

    from own_digits import open_image, prepare_digit
    digit = prepare_digit(open_image("my_digit.jpg"))  # 28x28 floats, white ink on black

Not in the articles: they end with the test set. A reader may start here once they are done.
"""

import csv
import io
import shlex
import warnings
from pathlib import Path

import numpy as np

from tutorial_helpers import UserError, check_writable, load_saved_model, one_line, save_outputs
from tutorial_helpers import setting, spreadsheet_text

MAX_DRAWN = 32  # own digits in own_predictions.png; the CSV has them all


def main(args):
    """--predict, with mnist_dense.py's flags: the saved model reads your digit images."""
    model = load_digit_model(args.model or args.out / "model.keras", args.out)
    check_writable(args.out)
    read_own_digits(model, args.images, args.out)


## Reading image files (--predict)
# MNIST's digits were made in one way: white ink on black, the digit scaled to fit 20x20
# pixels and placed in a 28x28 frame with its centre of mass at the centre. The network has
# seen nothing else, so a photo (dark ink on light paper, the digit small and off-centre)
# must be made to look the same: squeezed to 28x28 as they were, 55 real handwritten digits
# were read about as well as by chance; prepared as MNIST's were, 52 (README.md).


def read_own_digits(model, paths, out):
    """Each image read by the model: printed, and written to own_predictions.csv and .png."""
    thumbnails, digits = [], []
    for path in paths:  # one image in memory at a time: photos can be large
        image = open_image(path)
        digits.append(prepare_digit(image, path))
        if len(thumbnails) < MAX_DRAWN:
            image.thumbnail((160, 160))
            thumbnails.append(image.convert("RGB"))
    probabilities = read_digits(model, np.array(digits))
    rows = [["file", "digit", "confidence", *(f"p{d}" for d in range(10))]]
    print(" digit  confidence  runner-up  file")
    for path, shares in zip(paths, probabilities):
        best, second = np.argsort(-shares, kind="stable")[:2]
        print(f"   {best}      {shares[best]:6.1%}     {second} {shares[second]:5.1%}  {path}")
        rows.append(
            [
                spreadsheet_text(str(path)),
                best,
                f"{shares[best]:.4f}",
                *(f"{v:.4f}" for v in shares),
            ]
        )
    text = io.StringIO()
    csv.writer(text).writerows(rows)  # its \r\n line ends quote a file name holding \r
    if len(digits) > MAX_DRAWN:
        print(f"own_predictions.png shows the first {MAX_DRAWN}; the .csv has all {len(digits)}")
    figure = own_predictions_figure(paths, thumbnails, digits, probabilities)
    save_outputs(
        out, {"own_predictions.csv": text.getvalue(), "own_predictions.png": figure.savefig}
    )


def load_digit_model(model_path, out):
    """The saved model, checked to take MNIST digits and give ten probabilities."""
    how_to_train = f"python mnist_dense.py --out {shlex.quote(str(out))}"
    model = load_saved_model(model_path, how_to_train)
    if model.input_shape[1:] not in [(784,), (28, 28)] or model.output_shape[1:] != (10,):
        raise UserError(
            f"{model_path} takes {model.input_shape[1:]} and gives {model.output_shape[1:]}; this "
            f"script needs a model that takes 784 or 28x28 pixels and gives 10 probabilities; "
            f"train one with: {how_to_train}"
        )
    return model


def read_digits(model, digits):
    """Ten probabilities per 28x28 digit; 784 numbers in a row for first and dropout."""
    probabilities = model.predict(digits.reshape((-1, *model.input_shape[1:])), verbose=0)
    if not np.allclose(probabilities.sum(axis=1), 1, atol=1e-3) or probabilities.min() < 0:
        raise UserError(
            "the model's outputs are not probabilities (a softmax layer "
            "gives them); train one with: python mnist_dense.py"
        )
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
        raise UserError(f"{path} does not exist; check the path given to {setting('photos')}")
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; pass image files, e.g. {path}/*.png")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
        raise UserError(
            f"{path} is not an image this script can read "
            f"({one_line(error, 80)}); pass a PNG or JPEG file"
        )


def prepare_digit(image, name="the image"):
    """A 28x28 array of floats from 0 to 1 that looks like an MNIST digit: white ink on
    black, scaled to fit 20x20 pixels, its centre of mass at the centre. name: for errors."""
    from PIL import Image, ImageFilter, ImageOps

    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float scans: their own range
        values = np.asarray(image, dtype="float32")
        image = Image.fromarray(
            ((values - values.min()) / max(np.ptp(values), 1e-9) * 255).astype("uint8")
        )
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
        raise UserError(f"{name}: no ink found; pass a photo, scan or drawing of one digit")
    # Otsu's threshold: the level that best splits the pixels into two groups, paper (with
    # its grain, shadows and grid lines) and ink.
    counts, levels = np.histogram(ink, bins=64, range=(0, ink.max()))
    below, weight = np.cumsum(counts), np.cumsum(counts * levels[:-1])
    spread = (weight[-1] * below / below[-1] - weight) ** 2 / np.maximum(
        below * (below[-1] - below), 1
    )
    is_ink = ink > levels[1 + np.argmax(spread)]
    # Crop to the ink, leaving out stray marks at the edges (the outer 0.5% of the ink).
    (top, bottom), (left, right) = [
        np.searchsorted(np.cumsum(is_ink.sum(axis)) / is_ink.sum(), [0.005, 0.995])
        for axis in (1, 0)
    ]
    digit = scaled_to(
        Image.fromarray(is_ink[top : bottom + 1, left : right + 1].astype("uint8") * 255), 80
    )
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
    small = np.asarray(scaled_to(digit, 20), dtype="float32") / 255
    centre = (np.indices(small.shape) * small).sum(axis=(1, 2)) / small.sum()
    top, left = np.clip(np.round(14 - centre), 0, np.subtract(28, small.shape)).astype(int)
    frame = np.zeros((28, 28), dtype="float32")
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return frame


def scaled_to(image, longest):
    """The image scaled so that its longest side is `longest` pixels, averaging as it shrinks."""
    from PIL import Image

    scale = longest / max(image.size)
    return image.resize([max(1, round(side * scale)) for side in image.size], Image.Resampling.BOX)


def own_predictions_figure(paths, thumbnails, digits, probabilities):
    """For each image: the original, the 28x28 the network saw, and its ten probabilities."""
    from matplotlib import font_manager, ft2font
    from matplotlib.figure import Figure

    # The characters the titles' font can draw: others (Chinese, say) are shown as \u escapes.
    font = ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))
    drawable = font.get_charmap()

    per_row, n_rows = 2, -(-len(thumbnails) // 2)  # images side by side, three panels each
    figure = Figure(figsize=(12, 1.7 * n_rows + 0.6), dpi=80, layout="constrained")
    axes = figure.subplots(n_rows, 3 * per_row, squeeze=False, width_ratios=[1, 1, 2.2] * per_row)
    for axis in axes.flat:
        axis.axis("off")
    for index, (path, thumbnail, digit, shares) in enumerate(
        zip(paths, thumbnails, digits, probabilities)
    ):
        original, seen, bars = axes[
            index // per_row, 3 * (index % per_row) : 3 * (index % per_row) + 3
        ]
        original.imshow(thumbnail)
        name = ""
        for c in Path(path).name:  # up to 22 characters, an escape whole or not at all
            shown = c if ord(c) in drawable else c.encode("ascii", "backslashreplace").decode()
            shown = shown if c.isprintable() else "?"
            if len(name + shown) > 22:
                break
            name += shown
        original.set_title(name, fontsize=7, parse_math=False)  # "$" in a name is no formula
        seen.imshow(digit, cmap="gray", vmin=0, vmax=1)
        seen.set_title("as MNIST", fontsize=7)
        bars.axis("on")
        colors = ["#2e7d32" if d == shares.argmax() else "#9e9e9e" for d in range(10)]
        bars.bar(range(10), shares, color=colors)
        bars.set(xticks=range(10), yticks=[], ylim=(0, 1))
        bars.tick_params(labelsize=7)
        bars.set_title(f"reads {shares.argmax()} ({shares.max():.0%})", fontsize=8)
    figure.suptitle(
        "Your digits: the image, what the network saw, and its probability for each digit"
    )
    return figure
