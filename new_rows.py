"""New rows, read by the network pima_binary.py trained: python pima_binary.py --predict ROWS.csv

Each row holds the features in the training order, optionally followed by the 0/1 label; a
header row is allowed. Prints each row's probability of class 1 and writes
own_predictions.csv to --out. Not in the articles: a reader may start here once done.
"""

import csv
import io

import tutorial_helpers as helpers


def predict_new_rows(args):
    """Rows of features in the training order, read by the saved model; the label is optional."""
    from pima_binary import check_labels, read_table  # here: pima_binary.py imports this file

    helpers.check_writable(args.out)
    header, table, line_numbers = read_table(args.predict)
    if len(table) == 0:
        raise helpers.UserError(f"{args.predict} holds no rows to predict")
    how_to_train = f"python pima_binary.py --out {args.out}"
    model_path = args.model or args.out / "model.keras"
    model = helpers.load_saved_model(model_path, how_to_train)
    if len(model.inputs) != 1 or len(model.input_shape) != 2 or model.output_shape[1:] != (1,):
        raise helpers.UserError(
            f"{model_path} takes {model.input_shape} and gives {model.output_shape}; this script "
            "needs a model that takes n features and gives one probability; "
            f"train one with: {how_to_train}"
        )
    n_features = model.input_shape[-1]
    if table.shape[1] not in (n_features, n_features + 1):
        raise helpers.UserError(
            f"{args.predict} has {table.shape[1]} columns; the model takes {n_features} features, "
            "in the training order, optionally followed by the 0/1 label "
            f"({n_features + 1} columns)"
        )
    features, labels = table[:, :n_features], None
    if table.shape[1] == n_features + 1:
        labels = check_labels(table[:, -1], line_numbers, args.predict)
    probabilities = model.predict(features, verbose=0)[:, 0]
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise helpers.UserError(
            f"{model_path} gives values outside 0..1, not probabilities (a "
            f"sigmoid output gives them); train one with: {how_to_train}"
        )
    predicted = (probabilities > 0.5).astype(int)

    print(f"   row  probability  predicted{'  label' if labels is not None else ''}")
    for row, (probability, guess) in enumerate(zip(probabilities, predicted), 1):
        label = (
            ""
            if labels is None
            else f"      {int(labels[row - 1])}"
            + ("" if guess == labels[row - 1] else "  <- wrong")
        )
        print(f"{row:6d}  {probability:11.3f}  {guess:9d}{label}")
    if labels is not None:
        print(f"{int((predicted == labels).sum())} of {len(labels)} rows predicted right")

    names = header or [f"feature_{i}" for i in range(1, n_features + 1)] + (
        ["label"] if labels is not None else []
    )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*names, "probability", "predicted"])
    for cells, probability, guess in zip(table, probabilities, predicted):
        # 9 significant digits give back the same 32-bit float the model computed.
        writer.writerow([*(f"{value:.15g}" for value in cells), f"{probability:.9g}", guess])
    helpers.save_outputs(args.out, {"own_predictions.csv": text.getvalue()})
