"""Promises of the README that other tests leave alone: the published checksums, what
mistakes.png shows, a run without Graphviz."""

import hashlib
import os
import re

import numpy as np


from conftest import (
    ROOT,
    SHARED_DATA,
    assert_succeeded,
    run,
    script_env,
    shared_file,
)
from makers import own_data


def data_sha256(script):
    return re.search(r'^DATA_SHA256 = "([0-9a-f]{64})"', (ROOT / script).read_text(), re.M)[1]


def test_the_checksums_the_scripts_download_with_are_the_published_ones():
    # The shared Pima CSV is byte for byte the file at DATA_URL.
    pima = shared_file("pima-indians-diabetes.data.csv").read_bytes()
    assert hashlib.sha256(pima).hexdigest() == data_sha256("pima_binary.py")
    # The shared mnist.npz has other bytes than Keras's; its README gives Keras's checksum.
    shared_file("mnist.npz")
    published = (SHARED_DATA / "README.md").read_text()
    assert f"(sha256 `{data_sha256('mnist_dense.py')}`" in published


def test_mistakes_png_shows_the_surest_mistakes_first():
    import mnist_dense

    labels = np.arange(40) % 10
    probabilities = np.full((40, 10), 0.01 / 9)
    probabilities[np.arange(40), labels] = 0.99
    wrong = {3: 0.61, 17: 0.97, 25: 0.42, 31: 0.88}  # digit index: confidence of its mistake
    for index, sure in wrong.items():
        probabilities[index] = (1 - sure) / 9
        probabilities[index, (labels[index] + 1) % 10] = sure
    keras = mnist_dense.keras
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(10)])  # for network.png
    images = np.zeros((40, 784))
    confusion = np.bincount(labels * 10 + probabilities.argmax(axis=1), minlength=100).reshape(
        10, 10
    )
    pictures = mnist_dense.result_pictures(model, images, labels, probabilities, confusion)
    figure = pictures["mistakes.png"].__self__  # the Figure whose savefig writes the file
    captions = [text.get_text() for text in figure.axes[0].texts]
    surest = sorted(wrong, key=wrong.get, reverse=True)
    said = [(labels[i] + 1) % 10 for i in surest]
    assert captions == [f"said {s} ({wrong[i]:.0%}), is {labels[i]}" for s, i in zip(said, surest)]
    assert figure.texts[0].get_text() == "Surest mistakes"


NO_GRAPHVIZ = "network.png not drawn: it needs Graphviz (apt or brew install graphviz)"


def test_without_graphviz_one_line_says_how_to_install_it_and_the_run_goes_on(tmp_path):
    """README: network.png needs Graphviz; without it, a run says so and goes on. Only
    mnist_dense.py draws its network."""
    empty = tmp_path / "bin"
    empty.mkdir()  # a PATH on which there is no dot program
    scripts = ["mnist_dense.py", "pima_binary.py"]
    runs = [
        [script, "--quick", "--data", own_data(script, tmp_path), "--out", tmp_path / script]
        for script in scripts
    ]
    said = {"mnist_dense.py": [NO_GRAPHVIZ], "pima_binary.py": []}
    results = run(*runs[0], then=runs[1:], env=script_env(PATH=str(empty)))
    for script, result in zip(scripts, results):
        printed = assert_succeeded(result).stdout.splitlines()
        assert [line for line in printed if "Graphviz" in line] == said[script], script
        assert not (tmp_path / script / "network.png").exists()
        assert (tmp_path / script / "model.keras").is_file()


def test_a_dot_that_fails_skips_network_png_in_one_line_and_the_run_saves(tmp_path):
    """A Graphviz whose dot program exits with an error (here, one that knows no PNG)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    dot = folder / "dot"
    dot.write_text("#!/bin/sh\necho 'Format: \"png\" not recognized.' >&2\nexit 1\n")
    dot.chmod(0o755)
    data = own_data("mnist_dense.py", tmp_path)
    env = script_env(PATH=f"{folder}:{os.environ['PATH']}")
    result = assert_succeeded(
        run("mnist_dense.py", "--quick", "--data", data, "--out", tmp_path / "out", env=env)
    )
    said = [line for line in result.stdout.splitlines() if line.startswith("network.png")]
    assert len(said) == 1 and said[0].startswith("network.png not drawn: Graphviz's dot failed")
    assert not (tmp_path / "out" / "network.png").exists()
    assert (tmp_path / "out" / "model.keras").is_file() and (
        tmp_path / "out" / "history.png"
    ).is_file()
