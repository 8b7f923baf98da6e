"""Article A's MNIST program as the article writes it, with only the Keras 3 fixes.

The benchmark's baseline: 784-784-10, adam, one-hot labels, 5 epochs of batch 128, no
validation. mnist.load_data() only reads from ~/.keras, so the same arrays come from the
.npz given. Usage: python article_a_mnist.py PATH_TO_NPZ
The last line printed is JSON for compare_with_articles.py.
"""

import json
import sys
import time

import numpy as np

import keras

with np.load(sys.argv[1]) as data:
    (train_images, train_labels) = data["x_train"], data["y_train"]
    (test_images, test_labels) = data["x_test"], data["y_test"]

train_images = train_images.reshape((len(train_images), 784)).astype("float32") / 255
test_images = test_images.reshape((len(test_images), 784)).astype("float32") / 255
train_labels = keras.utils.to_categorical(train_labels)
test_labels = keras.utils.to_categorical(test_labels)

network = keras.Sequential(
    [
        keras.Input(shape=(784,)),  # was input_shape=(784,) on the first Dense layer
        keras.layers.Dense(784, activation="relu"),
        keras.layers.Dense(784, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
)
network.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
started = time.perf_counter()
network.fit(train_images, train_labels, epochs=5, batch_size=128)
fit_seconds = time.perf_counter() - started
test_loss, test_acc = network.evaluate(test_images, test_labels)
print("test_acc:", test_acc, "test_loss", test_loss)
print(
    json.dumps(
        {
            "fit_seconds": fit_seconds,
            "accuracy": test_acc,
            "evaluated_on": "test digits",
            "n_fit": len(train_images),
        }
    )
)
