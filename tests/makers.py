"""Data files the tests make: one's own digits (.npz) and table (CSV), of the kinds the
scripts take, small enough to train on in seconds."""

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


def write_own_csv(path, rows=80, seed=0, header="a,b,c,d,e,outcome", bom=False):
    """A CSV of one's own: 5 features on different scales, 0/1 label last."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, 5)) * [1, 10, 100, 0.1, 5]
    labels = (features[:, 0] + features[:, 1] / 10 > 0).astype(int)
    lines = [header] if header else []
    lines += [
        ",".join(f"{value:.4f}" for value in row) + f",{label}"
        for row, label in zip(features, labels)
    ]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def own_data(script, tmp_path, name=None):
    """A good data file of the kind the script takes."""
    if script == "pima_binary.py":
        return write_own_csv(tmp_path / (name or "own.csv"))
    return write_own_npz(tmp_path / (name or "own.npz"))
