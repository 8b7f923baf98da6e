"""How near TensorFlow itself comes to the arithmetic floor on MNIST, without Keras's fit.

Trains article A's network (784-784-10, adam, batch 128) on 57,000 digits of the real MNIST
three ways in one process, alternating, and prints the seconds an epoch after the first:

- a bare loop: one tf.function an epoch, the batches already cut, no metrics, no shuffling;
- model.fit on a tf.data pipeline shuffled in a 57,000-row buffer, as the scripts fed it until
  December 2026;
- model.fit on NumPy arrays, as the scripts and the articles do.

Then the floor (matmul_gflops, as compare_with_articles.py measures it). All three seeded,
with TensorFlow's deterministic operations on, as the scripts run.

    python benchmarks/bare_loop.py --data ../shared/data/mnist.npz --repeats 2
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from compare_with_articles import TRAIN_FLOP_PER_DIGIT, matmul_gflops  # noqa: E402

BATCH, ROWS = 128, 57_000


def article_a():
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(784, activation="relu"),
            keras.layers.Dense(784, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=50)  # fmt: skip
    return model


def bare_loop_epochs(x, y, epochs):
    model = article_a()
    steps = len(x) // BATCH
    xb = tf.constant(x[: steps * BATCH].reshape(steps, BATCH, 784))
    yb = tf.constant(y[: steps * BATCH].reshape(steps, BATCH, 10))
    model.optimizer.build(model.trainable_variables)
    loss_of = keras.losses.CategoricalCrossentropy()

    @tf.function
    def epoch():
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = loss_of(yb[step], model(xb[step], training=True))
            gradients = tape.gradient(loss, model.trainable_variables)
            model.optimizer.apply(gradients, model.trainable_variables)
        return loss

    seconds = []
    for _ in range(epochs):
        started = time.perf_counter()
        epoch().numpy()
        seconds.append(time.perf_counter() - started)
    return seconds


class EpochSeconds(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def fit_epochs(x, y, epochs, pipeline):
    timer = EpochSeconds()
    if pipeline:
        rows = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), 7)
        article_a().fit(rows.batch(BATCH).prefetch(2), epochs=epochs, verbose=0, callbacks=[timer])
    else:
        article_a().fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer])
    return timer.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the real mnist.npz")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each (default: 2)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs a run (default: 3)")
    args = parser.parse_args()
    keras.utils.set_random_seed(7)
    tf.config.experimental.enable_op_determinism()
    with np.load(args.data) as data:
        x = data["x_train"][:ROWS].reshape(-1, 784).astype("float32") / 255
        y = keras.utils.to_categorical(data["y_train"][:ROWS], 10)
    ways = {
        "bare loop, batches cut": lambda: bare_loop_epochs(x, y, args.epochs),
        "fit, tf.data shuffle buffer": lambda: fit_epochs(x, y, args.epochs, True),
        "fit, NumPy arrays (scripts)": lambda: fit_epochs(x, y, args.epochs, False),
    }
    later_epochs = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, way in ways.items():
            later_epochs[name] += way()[1:]
    gflops = matmul_gflops()
    floor = ROWS * TRAIN_FLOP_PER_DIGIT / (gflops * 1e9)
    print(f"floor: {floor:.2f} s an epoch ({gflops:.0f} GFLOP/s, best of 30)")
    for name, seconds in later_epochs.items():
        median = statistics.median(seconds)
        print(f"{name:40} {median:5.2f} s an epoch (median of {len(seconds)}), "
              f"{median / floor:.2f}x the floor")  # fmt: skip


if __name__ == "__main__":
    main()
