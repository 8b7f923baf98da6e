"""Which article's network is best, and is the difference real: python mnist_dense.py --compare

Two networks scored on the same digits (or rows) differ a little by chance alone. --compare trains
each article's network of a script with its article's settings, scores all of them on the same
held-out digits (mnist_dense.py: the test set) or rows (pima_binary.py: the same K folds as
--folds deals them, so that every row is held out once), and asks of each pair whether one is
better for real: McNemar's exact test on the digits one got right and the other wrong, with Holm's
adjustment for testing several pairs. Writes compare.json and compare.png. Not in the articles.
"""

import argparse
import itertools
import json
import textwrap

import keras
import numpy as np

from tutorial_helpers import save_outputs, wilson_interval

LEVEL = 0.05  # a difference is called real when its adjusted p-value is under this
FOLDS = 10  # pima_binary.py --compare without --folds K


def runs(parser, args, networks, settings):
    """For each network, the flags a single run of it would read, its epochs and batch size as
    the script's settings() makes them (its article's; --quick's); --network and --tensorboard,
    which --compare cannot read, refused as a bad flag is (exit 2)."""
    given = [
        f"--{name}"
        for name in ["network", "tensorboard"]
        if getattr(args, name) != parser.get_default(name)
    ]
    if given:
        parser.error(
            f"--compare trains every network, so it takes no {' or '.join(given)}; "
            f"leave {'it' if len(given) == 1 else 'them'} out"
        )
    planned = {}
    for name in networks:
        flags = vars(args) | {"network": name}
        epochs, batch_size = settings(**flags)
        planned[name] = argparse.Namespace(**flags | {"epochs": epochs, "batch_size": batch_size})
    return planned


def on_digits(runs, networks, path, data, patience):
    """mnist_dense.py --compare: each network trained as the lesson trains it, on the same
    training digits, then scored on the same test digits."""
    (x_train, y_train), (x_test, y_test) = data
    flags = next(iter(runs.values()))
    if flags.quick:  # the lesson's slice
        x_train, y_train = x_train[:2000], y_train[:2000]
        x_test, y_test = x_test[:500], y_test[:500]
    print(
        f"Loaded {path}: {len(x_train)} training digits and {len(x_test)} test digits, the same "
        f"for each network; Keras backend: {keras.backend.backend()}"
    )
    right = {}
    for number, (name, args) in enumerate(runs.items(), 1):
        announce(number, runs, networks, name)
        keras.utils.set_random_seed(args.seed)
        model = networks[name]()
        # Each network takes the digits as the lesson's step 3 prepares them for it: in its
        # input's shape (784 numbers in a row, or 28x28), and as digits or one-hot as its loss asks.
        shape = model.input_shape[1:]
        as_digits = model.loss == "sparse_categorical_crossentropy"
        labels = y_train if as_digits else keras.utils.to_categorical(y_train, 10)
        stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
        model.fit(
            prepared(x_train, shape),
            labels,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_split=0.05,
            callbacks=[stop] * args.early_stop,
        )
        said = model.predict(prepared(x_test, shape), verbose=0).argmax(axis=1)
        right[name] = said == y_test  # one True or False per test digit, in the same order
        print(scored(name, networks, right[name], "test digits right"))
    facts = {"data": str(path), "n_train": len(x_train), "n": len(x_test)}
    finish(runs, networks, right, facts, "digits", "test digits")


def prepared(images, shape):
    """Images as the lesson's step 3 makes them: pixels from 0 to 1, in the network's shape."""
    return images.reshape(-1, *shape).astype("float32") / 255


def on_folds(runs, networks, path, patience):
    """pima_binary.py --compare: each network trained and scored on the same K folds of the
    table at path, dealt as --folds deals them, so that each predicts every row once."""
    import folds  # Pima's rooms, imported here: mnist_dense.py --compare needs neither
    from labelled_csv import read_labelled_rows

    flags = next(iter(runs.values()))
    features, labels, classes, _ = read_labelled_rows(path, flags.positive, flags.drop_missing)
    k = flags.folds or FOLDS
    dealt = folds.dealt_folds(path, labels, k, flags.seed)
    held = f"rows, each held out once in {k} folds"
    print(f"Keras backend: {keras.backend.backend()}")
    right, accuracies = {}, {}
    for number, (name, args) in enumerate(runs.items(), 1):
        announce(number, runs, networks, name, f", in each of {k} folds")
        right[name], accuracies[name] = np.zeros(len(labels), dtype=bool), []
        for fold, (train, test) in enumerate(dealt, 1):
            model = folds.trained(networks[name], features[train], labels[train], args, patience)
            said = model.predict(features[test], verbose=0)[:, 0] > 0.5
            right[name][test] = said == labels[test]  # each row in its own place
            accuracies[name].append(float(right[name][test].mean()))
            print(
                f"  fold {fold:2d} of {k}: held-out accuracy {accuracies[name][-1]:.4f} on "
                f"{len(test)} rows"
            )
        print(scored(name, networks, right[name], "rows right, each held out once"))
    facts = {"data": str(path), "n": len(labels), "folds": k, "classes": classes}
    facts["balance"] = flags.balance
    finish(runs, networks, right, facts, "rows", held, accuracies)


def announce(number, runs, networks, name, where=""):
    """Which network trains now, of how many, and how long."""
    args = runs[name]
    print(
        f"\nNetwork {number} of {len(runs)}: {name} (article {article(networks[name])}), "
        f"{args.epochs} epoch{'s' * (args.epochs > 1)} of batch {args.batch_size}{where}",
        flush=True,
    )


def article(build):
    """The article's letter of a network: article_e() is article E's."""
    return build.__name__.rsplit("_", 1)[-1].upper()


def scored(name, networks, right, what):
    """One line: the network's accuracy, with its 95 % interval, on these rows."""
    low, high = wilson_interval(right.mean(), len(right))
    return (
        f"{name} (article {article(networks[name])}): accuracy {right.mean():.4f} (95 % "
        f"interval {low:.4f} to {high:.4f}), {right.sum()} of {len(right)} {what}"
    )


## Is the difference real? Each pair of networks, judged on the rows where they disagree.


def discordant(right_a, right_b):
    """[rows a got right and b wrong, rows b got right and a wrong]: row by row, the same rows."""
    right_a, right_b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if right_a.shape != right_b.shape:
        raise ValueError(f"scored on different rows: {right_a.shape} and {right_b.shape}")
    return [int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))]


def mcnemar_p(b, c):
    """McNemar's exact test: the two-sided p-value of b rows against c where two networks
    disagree. If neither were better, each such row would go either way with chance 1/2, as a
    coin falls; p is the chance of a split at least as lopsided in b + c tosses."""
    n, term, tail = b + c, 1, 0
    for i in range(min(b, c) + 1):  # whole numbers, exact: C(n, 0) + C(n, 1) + ... + C(n, min)
        tail += term
        term = term * (n - i) // (i + 1)  # C(n, i + 1) from C(n, i)
    return min(1.0, 2 * tail / 2**n)  # one division of whole numbers, rounded once: no overflow


def holm(p_values):
    """Holm's adjustment of m p-values: the smallest times m, the next times m - 1, and so on,
    each at least the one before it, at most 1; in the order given."""
    adjusted, highest, m = [0.0] * len(p_values), 0.0, len(p_values)
    for rank, index in enumerate(sorted(range(m), key=lambda index: p_values[index])):
        highest = max(highest, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = highest
    return adjusted


def finish(runs, networks, right, facts, unit, held, fold_accuracies=None):
    """Each network's accuracy and interval, each pair's test and verdict: printed, and saved in
    compare.json and compare.png with facts (the data, n) and the flags' seed and backend."""
    flags = next(iter(runs.values()))
    facts |= {"backend": keras.backend.backend(), "seed": flags.seed, "quick": flags.quick,
              "early_stop": flags.early_stop}  # fmt: skip
    n, table = facts["n"], {}
    for name, args in runs.items():
        accuracy = float(right[name].mean())
        table[name] = {
            "article": article(networks[name]),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "right": int(right[name].sum()),
            "accuracy": accuracy,
            "interval": list(wilson_interval(accuracy, n)),
        }
        if fold_accuracies:
            table[name]["fold_accuracies"] = fold_accuracies[name]
    pairs = [
        {"networks": [a, b], "discordant": discordant(right[a], right[b])}
        for a, b in itertools.combinations(runs, 2)
    ]
    for pair in pairs:
        pair["p_value"] = mcnemar_p(*pair["discordant"])
    for pair, adjusted in zip(pairs, holm([pair["p_value"] for pair in pairs])):
        pair["p_value_holm"] = adjusted
        pair["verdict"] = verdict(pair, table, n, unit, len(pairs))
    print(
        f"\nIs one better? For each pair, the {unit} one network got right and the other "
        f"wrong, against the reverse; McNemar's exact test on them:"
    )
    for pair in pairs:
        print(pair["verdict"])
    print(holm_line(len(pairs)))
    compared = {**facts, "networks": table, "pairs": pairs}
    save_outputs(
        next(iter(runs.values())).out,
        {
            "compare.json": json.dumps(compared, indent=2),
            "compare.png": figure(compared, held).savefig,
        },
    )


def verdict(pair, table, n, unit, m):
    """A pair's verdict in words, the more accurate first, by its Holm-adjusted p-value."""
    (a, b), wins = pair["networks"], dict(zip(pair["networks"], pair["discordant"]))
    if table[b]["accuracy"] > table[a]["accuracy"]:
        a, b = b, a
    p = p_text(pair["p_value"]) + f" (Holm: {p_text(pair['p_value_holm'])})" * (m > 1)
    said = (
        f"{a} ({table[a]['accuracy']:.4f}) vs {b} ({table[b]['accuracy']:.4f}): {wins[a]} "
        f"against {wins[b]} {unit}, p = {p}"
    )
    if pair["p_value_holm"] < LEVEL:
        return f"{said}: {a} is better on these {unit}"
    return f"{said}: these {n} {unit} cannot tell them apart"


def p_text(p):
    """A p-value to two significant digits: 0.41, 0.0000012; tinier ones as 3.1e-09."""
    if p < 1e-6:
        return f"{p:.1e}"
    return np.format_float_positional(p, precision=2, unique=False, fractional=False, trim="-")


def holm_line(m):
    """What Holm's adjustment does to the verdicts, in one line."""
    if m == 1:
        return (
            f"One pair: its p-value is read against {LEVEL} as it is (Holm's adjustment leaves it)."
        )
    return (
        f"{m} pairs: one could pass {LEVEL} by luck alone, so Holm's adjustment raises each p "
        f"(the smallest times {m}, the next times {m - 1}...); the verdicts read the adjusted p "
        f"against {LEVEL}, and a p of 0.04 alone proves little."
    )


def figure(compared, held):
    """Each network's accuracy with its 95 % interval, and the pairs' verdicts."""
    from matplotlib.figure import Figure

    names, table = list(compared["networks"]), compared["networks"]
    accuracies = np.array([table[name]["accuracy"] for name in names])
    lows, highs = np.array([table[name]["interval"] for name in names]).T
    figure = Figure(figsize=(10, 5), dpi=80, layout="constrained")
    axis, words = figure.subplots(2, 1, height_ratios=[3, 1])
    axis.errorbar(
        range(len(names)),
        accuracies,
        yerr=[accuracies - lows, highs - accuracies],
        fmt="o",
        capsize=8,
    )
    for x, accuracy in enumerate(accuracies):
        axis.annotate(
            f"{accuracy:.4f}",
            (x, accuracy),
            xytext=(12, 0),
            textcoords="offset points",
            va="center",
        )
    labels = [f"{name} (article {table[name]['article']})" for name in names]
    axis.set(
        xticks=range(len(names)),
        xticklabels=labels,
        xlim=(-0.5, len(names) - 0.5),
        ylabel="held-out accuracy",
    )
    axis.set_title(f"Held-out accuracy on the same {compared['n']} {held}, with 95 % intervals")
    words.axis("off")
    lines = [pair["verdict"] for pair in compared["pairs"]] + [holm_line(len(compared["pairs"]))]
    text = "\n".join(textwrap.fill(line, 150, subsequent_indent="    ") for line in lines)
    words.text(0, 1, text, fontsize=8, va="top", transform=words.transAxes)
    return figure
