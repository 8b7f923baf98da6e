"""The fit step of our scripts, fed in other ways: which one is fastest, at the same numbers?

Trains article A's network on the full MNIST (or article B's on Pima) as mnist_dense.py does on
TensorFlow, once per variant and repeat, each in a fresh process, alternating, and prints the
seconds of the first epoch, the median of the others, and the last validation loss (the same
figure means the same training):

- dataset: the scripts' way, a tf.data pipeline for fitting and one for validating;
- arrays-validation: validation from NumPy arrays, as before (the training rows still tf.data);
- gathered: each batch gathered by shuffled row numbers instead of a shuffled copy of the rows;
- one-step-a-call: steps_per_execution=1 instead of 50;
- nondeterministic: TensorFlow's deterministic operations off, nothing else changed;
- xla: the train step compiled by XLA (jit_compile=True), which Keras allows only with
  TensorFlow's deterministic operations off: the same val_loss in each repeat says whether the
  numbers stay the same all the same;
- sgd: plain gradient descent instead of adam, for what adam's passes over the weights cost
  (other numbers, by design).

    python benchmarks/fit_variants.py --only mnist --repeats 2

A benchmark, not a test: it prints figures and asserts nothing. Results: README.md here.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from compare_with_articles import benchmark_parser

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = [
    "dataset",
    "arrays-validation",
    "gathered",
    "one-step-a-call",
    "nondeterministic",
    "xla",
    "sgd",
]
SETTINGS = {"mnist": ("mnist.npz", 5, 128), "pima": ("pima-indians-diabetes.data.csv", 150, 10)}


def child(name, variant, data):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import keras
    import tensorflow as tf

    _, epochs, batch_size = SETTINGS[name]
    keras.utils.set_random_seed(7)
    if variant not in ("xla", "nondeterministic"):
        tf.config.experimental.enable_op_determinism()
    if name == "mnist":
        import mnist_dense as script

        (x, y), _ = script.load_npz(data)
        x = x.reshape((-1, 784)).astype("float32") / 255
        y = keras.utils.to_categorical(y, 10)
        validating = np.random.default_rng(7).permutation(len(x)) < 0.05 * len(x)
        x_fit, y_fit, x_val, y_val = x[~validating], y[~validating], x[validating], y[validating]
    else:
        import pima_binary as script

        x, y = script.read_labelled_csv(data)[:2]
        n_val = round(0.2 * len(x))
        x_fit, y_fit, x_val, y_val = x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:]
    steps = 1 if variant == "one-step-a-call" else 50
    network = script.NETWORKS["first"]
    model = network(keras, steps) if name == "mnist" else network(keras, x_fit, steps)
    if variant == "xla":
        model.jit_compile = True
    if variant == "sgd":
        model.compile(
            optimizer="sgd", loss=model.loss, metrics=["accuracy"], steps_per_execution=50
        )
    rows = tf.data.Dataset.from_tensor_slices((x_fit, y_fit)).shuffle(len(x_fit), 7)
    fit = rows.batch(batch_size).prefetch(2)
    if variant == "gathered":
        xs, ys = tf.constant(x_fit), tf.constant(y_fit)
        numbers = tf.data.Dataset.range(len(x_fit)).shuffle(len(x_fit), 7).batch(batch_size)
        fit = numbers.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i))).prefetch(2)
    validation = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(32)
    if variant == "arrays-validation":
        validation = (x_val, y_val)
    ends = []
    timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: ends.append(time.perf_counter()))
    started = time.perf_counter()
    history = model.fit(
        fit, epochs=epochs, validation_data=validation, callbacks=[timer], verbose=0
    )
    epochs = [b - a for a, b in zip([started, *ends], ends)]
    last = history.history["val_loss"][-1]
    print(json.dumps({"first": epochs[0], "rest": statistics.median(epochs[1:]), "val_loss": last}))


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant")
    parser.add_argument("--only", choices=SETTINGS, help="one data set only")
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    for name in [args.only] if args.only else SETTINGS:
        data = args.data_dir / SETTINGS[name][0]
        runs = {variant: [] for variant in VARIANTS}
        for _ in range(args.repeats):
            for variant in VARIANTS:
                command = [sys.executable, __file__, "--child", name, variant, str(data)]
                result = subprocess.run(command, capture_output=True, text=True, check=True)
                runs[variant].append(json.loads(result.stdout.strip().splitlines()[-1]))
        print(f"\n{name}, TensorFlow, medians of {args.repeats} runs: seconds an epoch")
        print(f"  {'variant':20} {'first':>7} {'others':>7}  last val_loss")
        for variant, measured in runs.items():
            first = statistics.median(run["first"] for run in measured)
            rest = statistics.median(run["rest"] for run in measured)
            losses = sorted({f"{run['val_loss']:.9g}" for run in measured})
            print(f"  {variant:20} {first:7.3f} {rest:7.3f}  {', '.join(losses)}")


if __name__ == "__main__":
    main()
