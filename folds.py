"""Cross-validation for pima_binary.py: python pima_binary.py --folds 10

Held out once, a fifth of Pima's 768 rows is 154 rows, and an accuracy measured on 154 rows is
sure to about 0.07 either way. K-fold cross-validation trains K networks instead, each with the
lesson's network and settings and each scored on a different K-th of the rows (a share of each
class in each), so that every row is held out exactly once. The K accuracies, their mean and their
spread say how well such a network does on the table, as one split cannot. Not in the articles.
"""

import json

import keras
import numpy as np

from labelled_csv import read_labelled_rows, stratified_folds
from tutorial_helpers import UserError, save_outputs, wilson_interval


def main(args, build, path, patience):
    """--folds K, with pima_binary.py's flags: K trainings of build()'s network on the table at
    path, each scored on its own K-th of the rows; each fold's accuracy, their mean and spread."""
    features, labels, classes, rows = read_labelled_rows(path, args.positive, args.drop_missing)
    if args.tensorboard:
        raise UserError("--tensorboard is for a single run; leave it out with --folds")
    folds = []
    for fold, (train, test) in enumerate(dealt_folds(path, labels, args.folds, args.seed)):
        model = trained(build, features[train], labels[train], args, patience)
        accuracy = model.evaluate(features[test], labels[test], verbose=0)[1]
        low, high = wilson_interval(accuracy, len(test))
        print(
            f"Fold {fold + 1:2d} of {args.folds}: held-out accuracy {accuracy:.4f} (95 % "
            f"interval {low:.3f} to {high:.3f}, on {len(test)} rows)"
        )
        folds.append(
            {"accuracy": accuracy, "interval": [low, high], "held_out_rows": rows[test].tolist()}
        )
    accuracies = np.array([fold["accuracy"] for fold in folds])
    mean, spread = accuracies.mean(), accuracies.std(ddof=1)
    print(
        f"\nMean held-out accuracy over {args.folds} folds: {mean:.4f}, spread (standard "
        f"deviation) {spread:.4f}, from {accuracies.min():.4f} to {accuracies.max():.4f}"
    )
    metrics = {
        "data": str(path),
        "network": args.network,
        "backend": keras.backend.backend(),
        "classes": classes,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "early_stop": args.early_stop,
        "balance": args.balance,
        "mean_accuracy": mean,
        "spread": spread,
        "folds": folds,
    }
    save_outputs(
        args.out,
        {
            "metrics.json": json.dumps(metrics, indent=2),
            "folds.png": folds_figure(accuracies, folds, mean).savefig,
        },
    )


def dealt_folds(path, labels, k, seed):
    """The rows of the table at path dealt into k folds, as the lesson deals its held-out fifth
    (--compare deals them so too): (training rows, held-out rows) for each fold."""
    if k > (rarer := np.bincount(labels.astype(int)).min()):
        raise UserError(
            f"--folds {k}: {path} has {rarer} rows of one class, and each "
            f"fold needs one; choose at most {rarer} folds"
        )
    # The lesson's random order of the rows, dealt into folds as it deals its held-out fifth.
    order = np.random.default_rng(seed).permutation(len(labels))
    fold_of = np.empty(len(labels), dtype=int)
    fold_of[order] = stratified_folds(labels[order], k)
    sizes = np.bincount(fold_of, minlength=k)
    print(
        f"Loaded {path}: {len(labels)} rows in {k} folds of {sizes.min()}"
        + f" to {sizes.max()}" * bool(sizes.min() != sizes.max())
        + " rows, each trained on the others"
    )
    return [(order[fold_of[order] != fold], np.flatnonzero(fold_of == fold)) for fold in range(k)]


def trained(build, features, labels, args, patience):
    """build()'s network, seeded and trained on these rows as the lesson trains it, with the
    flags' epochs, batch size, --early-stop and --balance; silent."""
    keras.utils.set_random_seed(args.seed)
    model = build(features)
    stop = keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)
    weights = {c: 0.5 / np.mean(labels == c) for c in (0, 1)}  # --balance: each class the same
    model.fit(
        features,
        labels,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=0.2,
        callbacks=[stop] * args.early_stop,
        class_weight=weights if args.balance else None,
        verbose=0,
    )
    return model


def folds_figure(accuracies, folds, mean):
    """Each fold's held-out accuracy with its interval, and their mean."""
    from matplotlib.figure import Figure

    lows, highs = np.array([fold["interval"] for fold in folds]).T
    figure = Figure(figsize=(8, 4), dpi=80, layout="tight")
    axis = figure.subplots()
    numbers = range(1, len(folds) + 1)
    axis.bar(numbers, accuracies, yerr=[accuracies - lows, highs - accuracies], capsize=4)
    axis.axhline(mean, color="black", linestyle=":", label=f"mean {mean:.3f}")
    axis.set(xticks=numbers, ylim=(0, 1), xlabel="fold", ylabel="held-out accuracy")
    axis.set_title(f"{len(folds)}-fold cross-validation: each row held out once")
    axis.legend(loc="lower right")
    return figure
