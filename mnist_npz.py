"""Reading a file in the layout of Keras's mnist.npz for mnist_dense.py: x_train, y_train,
x_test and y_test, 28x28 images with labels 0 to 9. Each mistake in the file is named in one line
(a UserError): a missing array, a wrong shape, labels outside 0..9, pixels out of range.

    (x_train, y_train), (x_test, y_test) = load_mnist("mnist.npz")
"""

import zipfile
import zlib

import numpy as np

from tutorial_helpers import UserError, setting

NPZ_KEYS = ["x_train", "y_train", "x_test", "y_test"]
MIN_TRAINING_DIGITS = 20


def load_mnist(path):
    """(x_train, y_train), (x_test, y_test) from an .npz in Keras's mnist.npz layout, checked;
    pixels from 0 to 255, as in mnist.npz, even where the file has them from 0 to 1."""
    fix = f"pass an .npz in Keras's mnist.npz layout with {setting('data_file')}"
    unreadable = f"{path} is not a readable .npz file (truncated or another format); {fix}"
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):  # an .npy file: a single array
            raise ValueError(path)
        with npz:
            missing = [key for key in NPZ_KEYS if key not in npz.files]
            if missing:
                needed = ", ".join(NPZ_KEYS)
                raise UserError(f"{path} lacks {', '.join(missing)}; it needs {needed}")
            arrays = {key: npz[key] for key in NPZ_KEYS}
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; check the path given to {setting('data_file')}")
    except IsADirectoryError:
        raise UserError(f"{path} is a folder; {fix}")
    except MemoryError:
        memory = "claims an array larger than this machine's memory; the file is damaged"
        raise UserError(f"{path} {memory}; {fix}")
    except ValueError as error:
        if "Object arrays" in str(error):
            raise UserError(
                f"{path} holds Python objects (pickled arrays), which are not loaded, for "
                f"safety; save plain numeric arrays; {fix}"
            )
        raise UserError(unreadable)
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        raise UserError(unreadable)
    whites = []
    for split in ["train", "test"]:
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        for key, array in [(f"x_{split}", images), (f"y_{split}", labels)]:
            if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
                raise UserError(f"{path}: {key} is not an array of numbers; {fix}")
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) == 0:
            shape = images.shape
            raise UserError(f"{path}: x_{split} has shape {shape}; it must be (n, 28, 28)")
        if labels.shape != (len(images),):
            must = f"it must be ({len(images)},), one label per image"
            raise UserError(f"{path}: y_{split} has shape {labels.shape}; {must}")
        if not np.isin(labels, np.arange(10)).all():
            raise UserError(f"{path}: y_{split} holds labels outside 0..9")
        whites.append(white_of(images, f"{path}: x_{split}"))
    if whites[0] != whites[1]:
        raise UserError(
            f"{path}: x_train's pixels go up to {whites[0]:g} but x_test's to {whites[1]:g}; "
            "scale both alike"
        )
    if (n := len(arrays["x_train"])) < MIN_TRAINING_DIGITS:
        raise UserError(
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
        raise UserError(
            f"{name} holds NaN or infinite pixels; pixels must be numbers from 0 to 255, "
            "or from 0 to 1"
        )
    low, high = images.min(), images.max()
    if low < 0 or high > 255:
        raise UserError(
            f"{name} holds pixels from {low:g} to {high:g}; they must lie from 0 to 255 "
            "(grey levels), or from 0 to 1"
        )
    floats_in_unit_range = np.issubdtype(images.dtype, np.floating) and high <= 1
    return 1.0 if floats_in_unit_range or images.dtype == bool else 255.0
