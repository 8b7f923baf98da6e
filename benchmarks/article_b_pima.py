"""Article B's Pima program as the article writes it, with only the Keras 3 fixes.

The benchmark's baseline: raw features, 12-8-1, 150 epochs of batch 10 on all 768 rows,
evaluated on the same rows. Usage: python article_b_pima.py PATH_TO_CSV
The last line printed is JSON for compare_with_articles.py.
"""

import json
import sys
import time

import numpy

import keras

numpy.random.seed(7)
dataset = numpy.loadtxt(sys.argv[1], delimiter=",")
X, Y = dataset[:, 0:8], dataset[:, 8]

model = keras.Sequential(
    [
        keras.Input(shape=(8,)),  # was input_dim=8 on the first Dense layer
        keras.layers.Dense(12, activation="relu"),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ]
)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
started = time.perf_counter()
model.fit(X, Y, epochs=150, batch_size=10)  # was nb_epoch=150 in the oldest version
fit_seconds = time.perf_counter() - started
scores = model.evaluate(X, Y)
print(f"\n{model.metrics_names[1]}: {scores[1] * 100:.2f}%")
print(
    json.dumps({"fit_seconds": fit_seconds, "accuracy": scores[1], "evaluated_on": "training rows"})
)
