"""Files the tests make and read: one's own digits (.npz) and table (CSV), of the kinds the
scripts take and small enough to train on in seconds; digits drawn as a pen draws them; and
the CSV files the scripts write, read back."""

import csv
import io
import json

import numpy as np


def write_own_npz(path, n_train=300, n_test=60, seed=0, scale=None):
    """Digits of one's own in Keras's layout: each label lights up its own band of rows.

    scale="unit" stores float32 pixels already divided by 255.
    """
    rng = np.random.default_rng(seed)

    def digits(n):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28)).astype("uint8")
        for image, label in zip(images, labels):
            image[2 + 2 * label : 4 + 2 * label, 4:24] = 255
        if scale == "unit":
            images = images.astype("float32") / 255
        return images, labels.astype("uint8")

    (x_train, y_train), (x_test, y_test) = digits(n_train), digits(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_own_csv(path, rows=80, seed=0, header="a,b,c,d,e,outcome", bom=False, words=("0", "1")):
    """A CSV of one's own: 5 features on different scales, a label last: words[0] for class 0,
    words[1] for class 1 (such as ("no", "yes"))."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 5)) * [1, 10, 100, 0.1, 5]
    labels = (features[:, 0] + features[:, 1] / 10 > 0).astype(int)
    lines = [header] if header else []
    lines += [
        ",".join(f"{value:.4f}" for value in row) + f",{words[label]}"
        for row, label in zip(features, labels)
    ]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def metrics_in(out):
    """The metrics.json a training run wrote to out."""
    return json.loads((out / "metrics.json").read_text())


# What every training run writes to --out: all pima_binary.py writes; mnist_dense.py adds its
# pictures (and network.png where Graphviz is installed).
TRAINING_OUTPUTS = {"model.keras", "metrics.json", "history.png"}


def pima_like_features(rows, seed=0):
    """Random rows of Pima's 8 features, each near its real mean and spread."""
    rng = np.random.default_rng(seed)
    spread = [3, 30, 20, 15, 100, 8, 0.3, 12]
    return rng.normal(size=(rows, 8)) * spread + [4, 120, 70, 20, 80, 32, 0.5, 33]


def own_data(script, tmp_path, name=None):
    """A good data file of the kind the script takes."""
    if script == "pima_binary.py":
        return write_own_csv(tmp_path / (name or "own.csv"))
    return write_own_npz(tmp_path / (name or "own.npz"))


def csv_rows(path):
    """The rows of a CSV the scripts wrote, each a list of its cells as text."""
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as file:
        return list(csv.reader(file))


# Each digit is one stroke of the pen, through these points: (x, y) as shares of the width and
# height of the square it is drawn in.
DIGIT_STROKES = {
    "1": [(1 / 3, 0.30), (1 / 2, 0.15), (1 / 2, 0.85)],  # a flag: not the same turned over
    "7": [(4 / 15, 1 / 5), (11 / 15, 1 / 5), (7 / 15, 13 / 15)],  # neither symmetric nor centred
}


def draw_digit(digit="1", size=100, width=None, ink=0, paper=255, canvas=None, shift=(0, 0)):
    """A `digit` ("1" or "7") drawn with Pillow's pen: a uint8 array, (rows, columns[, channels]).

    size: the side of the square the digit is drawn in, or its (width, height). width: the
    pen's, in pixels (a twelfth of the height unless given). ink and paper: a grey level, or a
    tuple of 2, 3 or 4 values for grey and alpha, RGB or RGBA (ink in the alpha channel only:
    ink=(0, 0, 0, 255), paper=(0, 0, 0, 0)). canvas: the page's (width, height), the square at
    its top-left corner moved by `shift` pixels; the square itself unless given.
    """
    from PIL import Image, ImageDraw

    across, down = (size, size) if isinstance(size, int) else size
    channels = 1 if isinstance(paper, int) else len(paper)
    image = Image.new(
        {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[channels], canvas or (across, down), paper
    )
    points = [
        (round(x * across) + shift[0], round(y * down) + shift[1]) for x, y in DIGIT_STROKES[digit]
    ]
    pen = width or max(3, down // 12)
    ImageDraw.Draw(image).line(points, fill=ink, width=pen, joint="curve")
    return np.asarray(image)


def write_image(path, pixels, **options):
    """Save a uint8 (or uint16, float32) array as an image; `path` may be a file object, then
    with format= among the options. Returns path."""
    from PIL import Image

    Image.fromarray(pixels).save(path, **options)
    return path


def png_bytes(pixels):
    """The PNG file of the array, as bytes: what a browser posts."""
    return write_image(io.BytesIO(), pixels, format="PNG").getvalue()


def held_out_rows(labels, seed=7):
    """The rows a Pima run holds out, in the order it holds them, found apart from the scripts:
    the rows shuffled by np.random.default_rng(seed), then within each class every fifth."""
    order = np.random.default_rng(seed).permutation(len(labels))
    held_out = np.zeros(len(labels), dtype=bool)
    for label in (0, 1):
        held_out[np.flatnonzero(labels[order] == label)[::5]] = True
    return order[held_out]
