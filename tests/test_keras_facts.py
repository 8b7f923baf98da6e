"""Facts about Keras that the scripts' comments state: each test fails the day one stops holding."""

import json

import pytest
from conftest import run_program

pytestmark = pytest.mark.warm  # Keras loaded once per worker (conftest.py)

EPOCH_ORDERS = """
import json, sys
import numpy as np
import keras
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
if sys.argv[1] == "numpy":
    model.fit(x, y, batch_size=40, epochs=3, verbose=0)
else:  # as step 6 of both scripts feeds fit on TensorFlow
    rows = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(40, seed=1).batch(40)
    model.fit(rows, epochs=3, shuffle=False, verbose=0)
print(json.dumps({"keras": keras.__version__, "orders": orders}))
"""


def epoch_orders(feed):
    result = run_program(EPOCH_ORDERS, feed, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    facts = json.loads(result.stdout.splitlines()[-1])
    assert len(facts["orders"]) == 3 and all(
        sorted(order) == list(range(40)) for order in facts["orders"]
    )
    return facts


def test_keras_on_tensorflow_shuffles_numpy_arrays_alike_every_epoch_once_seeded():
    """Step 6's comment: Keras 3.15 on TensorFlow, seeded, gives NumPy arrays one order.

    When this fails, Keras reshuffles them each epoch (expected from Keras 3.16): the comment
    in both scripts must change, and their tf.data lines may go.
    """
    facts = epoch_orders("numpy")
    first, *others = facts["orders"]
    assert all(order == first for order in others), (
        f"Keras {facts['keras']} now shuffles NumPy arrays anew each epoch on TensorFlow: "
        "update step 6 of mnist_dense.py and step 4 of pima_binary.py"
    )


def test_the_scripts_tf_data_rows_come_in_a_new_order_every_epoch():
    orders = epoch_orders("tf.data")["orders"]
    assert orders[0] != orders[1] and orders[1] != orders[2]
