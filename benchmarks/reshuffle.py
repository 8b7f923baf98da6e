"""Does a new order of the rows each epoch change the accuracy? On TensorFlow, Keras 3.15 shuffles
NumPy arrays into the same order every epoch once seeded (tests/test_keras_facts.py), where a
tf.data pipeline draws a new order each epoch. The scripts train on the arrays, as the articles do.

For each seed, three trainings of a script's default network with its settings and its split:
  arrays      model.fit on the NumPy arrays, as the scripts do (one order, every epoch);
  same order  a tf.data pipeline shuffled once, the same order every epoch;
  new order   the same pipeline, reshuffled each epoch.
Prints the held-out accuracy of each over the seeds: mean, min, max. A benchmark, not a test.

    python benchmarks/reshuffle.py pima --seeds 1-10
    python benchmarks/reshuffle.py mnist --seeds 1-5 --data ../shared/data/mnist.npz
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("SHARED_DATA_DIR", ROOT.parent / "shared" / "data"))


def pima_data(path, seed):
    import pima_binary as lesson

    features, labels, _ = lesson.read_labelled_csv(path)
    order = lesson.np.random.default_rng(seed).permutation(len(labels))
    features, labels = features[order], labels[order]
    held_out = lesson.stratified_folds(labels, 5) == 0
    fit = features[~held_out], labels[~held_out]
    return (
        lesson,
        fit,
        (features[held_out], labels[held_out]),
        0.2,
        lambda: lesson.article_b(fit[0]),
    )


def mnist_data(path, seed):
    import mnist_dense as lesson

    (x_train, y_train), (x_test, y_test) = lesson.load_mnist(path)
    to_categorical = lesson.keras.utils.to_categorical
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    fit, test = (x_train, to_categorical(y_train)), (x_test, to_categorical(y_test))
    return lesson, fit, test, 0.05, lesson.article_a


def accuracy(lesson, variant, fit, test, validation_share, build, seed, epochs, batch_size):
    import tensorflow as tf

    keras = lesson.keras
    keras.utils.set_random_seed(seed)
    model = build()
    x, y = fit
    if variant == "arrays":
        model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_split=validation_share,
                  verbose=0)  # fmt: skip
    else:
        n_fit = len(x) - int(len(x) * validation_share)
        rows = tf.data.Dataset.from_tensor_slices((x[:n_fit], y[:n_fit]))
        rows = rows.shuffle(n_fit, seed, reshuffle_each_iteration=variant == "new order")
        validation = tf.data.Dataset.from_tensor_slices((x[n_fit:], y[n_fit:])).batch(batch_size)
        model.fit(rows.batch(batch_size), epochs=epochs, validation_data=validation, verbose=0)
    return model.evaluate(*test, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lesson", choices=["pima", "mnist"])
    parser.add_argument("--seeds", default="1-10", help="first-last (default: %(default)s)")
    parser.add_argument("--data", type=Path, help="default: the real data in ../shared/data")
    args = parser.parse_args()
    first, last = map(int, args.seeds.split("-"))
    name = {"pima": "pima-indians-diabetes.data.csv", "mnist": "mnist.npz"}[args.lesson]
    path = args.data or SHARED / name
    load = pima_data if args.lesson == "pima" else mnist_data
    results = {"arrays": [], "same order": [], "new order": []}
    for seed in range(first, last + 1):
        lesson, fit, test, share, build = load(path, seed)
        epochs, batch = (lesson.EPOCHS, lesson.BATCH_SIZE) if args.lesson == "pima" else (5, 128)
        for variant, scores in results.items():
            scores.append(accuracy(lesson, variant, fit, test, share, build, seed, epochs, batch))
        print(f"seed {seed}: " + "  ".join(f"{v} {s[-1]:.4f}" for v, s in results.items()))
    for variant, scores in results.items():
        mean = statistics.mean(scores)
        print(f"{variant:>10}: mean {mean:.4f} (min {min(scores):.4f}, max {max(scores):.4f})")


if __name__ == "__main__":
    main()
