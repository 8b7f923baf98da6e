"""Facts about Keras that the scripts' comments and benchmarks/reshuffle.py rely on: each test
fails the day one stops holding."""

import json

import pytest
from conftest import ROOT, run, script_env

EPOCH_ORDERS = """
import json, sys
sys.path.insert(0, sys.argv[2])
import shell

with shell.quiet_start():  # as the scripts load Keras: op determinism on
    import keras
    import numpy as np
import tensorflow as tf

keras.utils.set_random_seed(1)
orders = []

class Record(keras.layers.Layer):
    def call(self, x):
        try:
            orders.append(np.asarray(x)[:, 0].astype(int).tolist())
        except Exception:  # the symbolic call that builds the model
            pass
        return x

x, y = np.arange(40, dtype="float32").reshape(40, 1), np.zeros((40, 1), "float32")
model = keras.Sequential([keras.Input((1,)), Record(), keras.layers.Dense(1)])
model.compile("sgd", "mse", run_eagerly=True)
if sys.argv[1] == "arrays":  # as the scripts' fit
    model.fit(x, y, batch_size=40, epochs=3, verbose=0)
else:  # as benchmarks/reshuffle.py's "same order" and "new order" feed fit
    reshuffle = sys.argv[1] == "new order"
    rows = tf.data.Dataset.from_tensor_slices((x, y))
    rows = rows.shuffle(40, 1, reshuffle_each_iteration=reshuffle).batch(40)
    model.fit(rows, epochs=3, verbose=0)
print(json.dumps({"keras": keras.__version__, "orders": orders}))
"""


def epoch_orders(feed, backend="tensorflow"):
    result = run("-c", EPOCH_ORDERS, feed, ROOT, timeout=300, env=script_env(KERAS_BACKEND=backend))
    assert result.returncode == 0, result.stderr[-2000:]
    facts = json.loads(result.stdout.splitlines()[-1])
    assert len(facts["orders"]) == 3 and all(
        sorted(order) == list(range(40)) for order in facts["orders"]
    )
    return facts


def test_keras_on_tensorflow_shuffles_numpy_arrays_alike_every_epoch_once_seeded():
    """The fit step's comment in both scripts: Keras 3.15 on TensorFlow, seeded, gives NumPy
    arrays one order, the same each epoch.

    When this fails, Keras reshuffles them each epoch (expected from Keras 3.16), as it does
    on JAX: the comments in both scripts must change, and benchmarks/reshuffle.py's "arrays" is
    its "new order".
    """
    facts = epoch_orders("arrays")
    first, *others = facts["orders"]
    assert all(order == first for order in others), (
        f"Keras {facts['keras']} now shuffles NumPy arrays anew each epoch on TensorFlow: "
        "update step 6 of mnist_dense.py and step 4 of pima_binary.py"
    )


def test_keras_on_jax_shuffles_numpy_arrays_anew_each_epoch_once_seeded():
    """The fit step's comment in both scripts: on JAX, the default, NumPy's seeded generator
    deals the rows into a new order before each epoch."""
    first, second, third = epoch_orders("arrays", "jax")["orders"]
    assert first != second and second != third, first
    assert epoch_orders("arrays", "jax")["orders"] == [first, second, third]  # seeded


@pytest.mark.parametrize("feed, new_each_epoch", [("new order", True), ("same order", False)])
def test_the_benchmarks_tf_data_rows_come_in_the_order_its_name_says(feed, new_each_epoch):
    """benchmarks/reshuffle.py compares the arrays with a new order each epoch: its pipelines
    must give what they are named for, under the same seed and op determinism."""
    first, second, third = epoch_orders(feed)["orders"]
    if new_each_epoch:
        assert first != second and second != third, first
    else:
        assert first == second == third, (first, second)
