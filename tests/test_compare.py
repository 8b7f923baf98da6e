"""Issue 49, "Which article's network is best, and is the difference real?": --compare trains
every article's network of a script on the same data, scores them on the same held-out digits or
rows, and judges each pair by McNemar's exact test, with Holm's adjustment over the pairs."""

import json
import math
import random
import re
from fractions import Fraction

import pytest

from conftest import assert_one_line_error, assert_succeeded, run, shared_file
from makers import metrics_in


@pytest.fixture(scope="module")
def compare():
    """compare.py in the test's own process (it loads Keras, on JAX: conftest.py)."""
    import compare

    return compare


def exact_p(b, c):
    """McNemar's exact p-value by its definition, as a fraction: twice the chance of at most
    min(b, c) heads in b + c tosses of a fair coin, the ways to get each count summed; at most 1."""
    n = b + c
    ways = sum(math.comb(n, heads) for heads in range(min(b, c) + 1))
    return min(Fraction(1), Fraction(2 * ways, 2**n))


def chi_square_p(b, c, correction):
    """What McNemar's chi-square approximation gives (with Edwards's continuity correction or
    without): for counts this small, not the exact test."""
    statistic = (abs(b - c) - correction) ** 2 / (b + c)
    return math.erfc(math.sqrt(statistic / 2))  # the chi-square tail of one degree of freedom


## McNemar's exact test and Holm's adjustment, by themselves


def test_mcnemar_p_is_the_exact_binomial_tail_for_every_small_count(compare):
    for b in range(31):
        for c in range(31):
            assert compare.mcnemar_p(b, c) == float(exact_p(b, c)), (b, c)
            assert compare.mcnemar_p(b, c) == compare.mcnemar_p(c, b), (b, c)


@pytest.mark.parametrize(
    "b, c, p",
    [(0, 0, 1.0), (1, 0, 1.0), (0, 6, 0.03125), (6, 0, 0.03125), (2, 8, 0.109375), (5, 5, 1.0)],
)
def test_mcnemar_p_known_values(compare, b, c, p):
    assert compare.mcnemar_p(b, c) == p


@pytest.mark.parametrize("b, c", [(1, 9), (0, 6), (3, 12), (2, 10)])
def test_mcnemar_p_is_the_exact_test_not_a_chi_square_approximation(compare, b, c):
    p = compare.mcnemar_p(b, c)
    assert p == float(exact_p(b, c))
    for correction in (0, 1):  # both approximations miss by more than a rounding
        assert abs(p - chi_square_p(b, c, correction)) > 0.002, (b, c, correction)


@pytest.mark.parametrize("b, c", [(400, 600), (600, 400), (130, 70), (1900, 2100)])
def test_mcnemar_p_on_large_counts_is_finite_and_right_to_1e_12(compare, b, c):
    p = compare.mcnemar_p(b, c)
    assert 0 < p <= 1 and math.isfinite(p)
    assert p == pytest.approx(float(exact_p(b, c)), rel=1e-12)


def test_mcnemar_p_on_10000_digits_is_right_to_1e_12(compare):
    # 4,999 against 5,001: the tail is all the outcomes but the middle one, halved, so
    # p = 1 - C(10000, 5000) / 2**10000 (about 0.992).
    middle = Fraction(math.comb(10000, 5000), 2**10000)
    assert compare.mcnemar_p(4999, 5001) == pytest.approx(float(1 - middle), rel=1e-12)
    assert 0 < compare.mcnemar_p(4700, 5300) < 1e-8  # six standard deviations off: tiny, not 0


def test_mcnemar_p_beyond_what_a_float_holds_is_zero_not_an_error(compare):
    assert compare.mcnemar_p(0, 10000) == 0.0  # 2 / 2**10000, far under the smallest float
    assert compare.mcnemar_p(10000, 0) == 0.0


@pytest.mark.parametrize(
    "p_values, adjusted",
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),  # Bonferroni's would be 0.03, 0.12, 0.09
        ([0.04, 0.01, 0.02], [0.04, 0.03, 0.04]),
        ([0.5, 0.6], [1.0, 1.0]),
        ([0.04], [0.04]),
        ([0.2, 0.2, 0.2], [0.6, 0.6, 0.6]),
    ],
)
def test_holm_known_examples(compare, p_values, adjusted):
    assert compare.holm(p_values) == pytest.approx(adjusted, abs=1e-15)


def holm_by_its_definition(p_values):
    """Holm's adjusted p of each hypothesis: the largest, over the smaller-or-equal p-values
    ranked before it, of (m - rank) times that p, at most 1."""
    m = len(p_values)
    ranked = sorted(range(m), key=lambda index: p_values[index])
    return [
        max(min(1.0, (m - rank) * p_values[ranked[rank]]) for rank in range(ranked.index(i) + 1))
        for i in range(m)
    ]


def test_holm_agrees_with_its_definition_on_random_p_values(compare):
    generator = random.Random(49)
    for _ in range(200):
        p_values = [generator.random() ** 3 for _ in range(generator.randint(1, 6))]
        assert compare.holm(p_values) == pytest.approx(holm_by_its_definition(p_values), abs=1e-15)


def test_a_verdict_reads_holms_p_against_0_05_and_names_the_better_network(compare):
    table = {"first": {"accuracy": 0.974}, "dropout": {"accuracy": 0.981}}
    pair = {"networks": ["first", "dropout"], "discordant": [71, 142]}
    pair |= {"p_value": 1.2e-6, "p_value_holm": 3.6e-6}
    assert compare.verdict(pair, table, 10000, "digits", 3) == (
        "dropout (0.9810) vs first (0.9740): 142 against 71 digits, p = 0.0000012 (Holm: "
        "0.0000036): dropout is better on these digits"
    )
    pair |= {"p_value": 0.03, "p_value_holm": 0.09}  # under 0.05 alone, not among three pairs
    assert compare.verdict(pair, table, 10000, "digits", 3).endswith(
        "p = 0.03 (Holm: 0.09): these 10000 digits cannot tell them apart"
    )
    table = {"first": {"accuracy": 0.7474}, "dropout": {"accuracy": 0.7396}}
    pair = {"networks": ["first", "dropout"], "discordant": [40, 34]}
    pair |= {"p_value": 0.41, "p_value_holm": 0.41}
    assert compare.verdict(pair, table, 768, "rows", 1) == (
        "first (0.7474) vs dropout (0.7396): 40 against 34 rows, p = 0.41: these 768 rows "
        "cannot tell them apart"
    )


## Pairing: the discordant counts come from the same rows


def test_discordant_counts_pair_the_rows_one_by_one(compare):
    a = [True, True, False, False, True, False]
    b = [True, False, True, False, False, False]
    assert compare.discordant(a, b) == [2, 1]  # rows 1 and 4; row 2
    assert compare.discordant(b, a) == [1, 2]
    # The same accuracies, paired otherwise: other counts. Only the row-by-row pairing says that
    # two networks that agree on every row cannot be told apart.
    same = [True, True, True, False, False]
    assert compare.discordant(same, same) == [0, 0]
    assert compare.discordant(same, same[::-1]) == [2, 2]
    with pytest.raises(ValueError, match="different rows"):
        compare.discordant(same, same[:-1])


def assert_pairs_agree(compared, names):
    """compare.json's networks and pairs: every pair of names, its discordant counts agreeing
    with the accuracies, its p-values recomputed from the counts, its verdict by Holm's p."""
    n, networks = compared["n"], compared["networks"]
    assert list(networks) == names
    for network in networks.values():
        assert network["accuracy"] == network["right"] / n
        low, high = network["interval"]
        assert low < network["accuracy"] < high
    pairs = compared["pairs"]
    assert [pair["networks"] for pair in pairs] == [
        [a, b] for i, a in enumerate(names) for b in names[i + 1 :]
    ]
    raw = [pair["p_value"] for pair in pairs]
    for pair, holm in zip(pairs, holm_by_its_definition(raw)):
        (a, b), (wins, losses) = pair["networks"], pair["discordant"]
        # Right for a and wrong for b, less the reverse: a's right answers less b's, exactly.
        assert wins - losses == networks[a]["right"] - networks[b]["right"]
        assert networks[a]["accuracy"] - networks[b]["accuracy"] == pytest.approx(
            (wins - losses) / n, abs=1e-15
        )
        assert pair["p_value"] == float(exact_p(wins, losses))
        assert pair["p_value_holm"] == pytest.approx(holm, abs=1e-15)
        better = pair["p_value_holm"] < 0.05
        assert ("is better on these" in pair["verdict"]) == better, pair
        assert ("cannot tell them apart" in pair["verdict"]) != better, pair


## pima_binary.py --compare: the same folds for both networks


@pytest.fixture(scope="session")
def pima_runs(made_once):
    """Quick Pima --compare runs on 2 folds, in turn in one process, made once: seed 7 twice,
    seed 8 into a folder a single run wrote first, and --folds 2 of article C's network. A
    folder per run, named as in runs below, holding its outputs and stdout.txt."""
    pima = shared_file("pima-indians-diabetes.data.csv")

    def make(folder):
        quick, compare = ["--quick", "--data", pima], ["--compare", "--folds", 2]
        runs = [
            ("seed 8", quick),  # a single run first, whose files --compare replaces
            ("compare", [*compare, *quick]),
            ("again", [*compare, *quick]),
            ("seed 8", [*compare, "--seed", 8, *quick]),
            ("folds", ["--folds", 2, "--network", "dropout", *quick]),
        ]
        (folder / "seed 8").mkdir()
        (folder / "seed 8" / "notes.txt").write_text("mine")
        flags = [[*flags, "--out", folder / name] for name, flags in runs]
        for (name, _), result in zip(runs, run("pima_binary.py", *flags[0], then=flags[1:])):
            (folder / name / "stdout.txt").write_text(assert_succeeded(result).stdout)

    return made_once("compare-pima-runs", make)


def compared_in(folder):
    return json.loads((folder / "compare.json").read_text())


@pytest.mark.warm
def test_pima_compare_writes_compare_json_and_png_whose_p_values_recompute(pima_runs):
    compared = compared_in(pima_runs / "compare")
    assert_pairs_agree(compared, ["first", "dropout"])
    assert (compared["n"], compared["folds"], compared["seed"]) == (768, 2, 7)
    assert compared["backend"] == "jax"
    assert compared["data"] == str(shared_file("pima-indians-diabetes.data.csv"))
    for name, article in [("first", "B"), ("dropout", "C")]:  # --quick: 2 epochs, batch 10
        network = compared["networks"][name]
        assert (network["epochs"], network["batch_size"], network["article"]) == (2, 10, article)
    assert (pima_runs / "compare" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    files = {path.name for path in (pima_runs / "compare").iterdir()}
    assert files == {"compare.json", "compare.png", "stdout.txt"}


@pytest.mark.warm
def test_pima_compare_says_its_progress_each_fold_and_each_verdict(pima_runs):
    stdout = (pima_runs / "compare" / "stdout.txt").read_text()
    compared = compared_in(pima_runs / "compare")
    assert "Network 1 of 2: first (article B), 2 epochs of batch 10, in each of 2 folds" in stdout
    assert "Network 2 of 2: dropout (article C), 2 epochs of batch 10, in each of 2 folds" in stdout
    folds = re.findall(r"fold +(\d) of 2: held-out accuracy ([\d.]+) on (\d+) rows", stdout)
    assert [fold[0] for fold in folds] == ["1", "2"] * 2
    assert sum(int(fold[2]) for fold in folds) == 2 * 768  # each network predicts every row once
    (pair,) = compared["pairs"]
    assert pair["verdict"] in stdout.splitlines()
    assert pair["verdict"].endswith(
        "is better on these rows" if pair["p_value_holm"] < 0.05 else "cannot tell them apart"
    )
    assert "One pair: its p-value is read against 0.05 as it is" in stdout


@pytest.mark.warm
def test_pima_compare_deals_the_folds_as_folds_py_does(pima_runs):
    """Article C's network on the same 2 folds, by --folds 2: the same accuracy in each fold."""
    compared = compared_in(pima_runs / "compare")
    folds = metrics_in(pima_runs / "folds")["folds"]
    assert compared["networks"]["dropout"]["fold_accuracies"] == pytest.approx(
        [fold["accuracy"] for fold in folds], abs=1e-6
    )
    sizes = [len(fold["held_out_rows"]) for fold in folds]
    stdout = (pima_runs / "compare" / "stdout.txt").read_text()
    assert [int(n) for n in re.findall(r"held-out accuracy [\d.]+ on (\d+) rows", stdout)] == [
        *sizes,
        *sizes,
    ]


@pytest.mark.warm
def test_pima_compare_with_the_same_seed_writes_the_same_bytes_and_another_seed_others(pima_runs):
    first = (pima_runs / "compare" / "compare.json").read_bytes()
    assert (pima_runs / "again" / "compare.json").read_bytes() == first
    other = compared_in(pima_runs / "seed 8")
    assert other["seed"] == 8 and (pima_runs / "seed 8" / "compare.json").read_bytes() != first
    assert_pairs_agree(other, ["first", "dropout"])


@pytest.mark.warm
def test_a_compare_run_replaces_an_earlier_runs_files_and_leaves_the_users(pima_runs):
    files = {path.name for path in (pima_runs / "seed 8").iterdir()}
    assert files == {"compare.json", "compare.png", "notes.txt", "stdout.txt"}


def test_a_training_after_a_compare_run_removes_its_files(tmp_path):
    from tutorial_helpers import save_outputs

    (tmp_path / "notes.txt").write_text("mine")
    save_outputs(tmp_path, {"compare.json": "{}", "compare.png": b"png"})
    save_outputs(tmp_path, {"metrics.json": "{}", "model.keras": b"model"})
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "metrics.json",
        "model.keras",
        "notes.txt",
    ]
    save_outputs(tmp_path, {"compare.json": "{}", "compare.png": b"png"})
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "compare.json",
        "compare.png",
        "notes.txt",
    ]


## mnist_dense.py --compare: the same test digits for all three networks


@pytest.fixture(scope="session")
def mnist_runs(made_once):
    """Quick MNIST --compare runs on the 10,000 real digits, in turn in one process, made once:
    seed 7 twice, seed 8, and a single quick run of article D's network. A folder per run."""
    digits = shared_file("mnist-real-10k.npz")

    def make(folder):
        quick = ["--quick", "--data", digits]
        runs = {
            "compare": ["--compare", *quick],
            "again": ["--compare", *quick],
            "seed 8": ["--compare", "--seed", 8, *quick],
            "deep": ["--network", "deep", *quick],
        }
        flags = [[*flags, "--out", folder / name] for name, flags in runs.items()]
        for name, result in zip(runs, run("mnist_dense.py", *flags[0], then=flags[1:])):
            (folder / name / "stdout.txt").write_text(assert_succeeded(result).stdout)

    return made_once("compare-mnist-runs", make)


@pytest.mark.warm
def test_mnist_compare_writes_compare_json_and_png_whose_p_values_recompute(mnist_runs):
    compared = compared_in(mnist_runs / "compare")
    assert_pairs_agree(compared, ["first", "dropout", "deep"])
    assert (compared["n"], compared["n_train"], compared["seed"]) == (500, 2000, 7)
    assert compared["data"] == str(shared_file("mnist-real-10k.npz"))
    settings = {
        name: (network["epochs"], network["batch_size"], network["article"])
        for name, network in compared["networks"].items()
    }
    assert settings == {"first": (1, 128, "A"), "dropout": (1, 128, "E"), "deep": (1, 32, "D")}
    assert (mnist_runs / "compare" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stdout = (mnist_runs / "compare" / "stdout.txt").read_text()
    assert "Network 2 of 3: dropout (article E), 1 epoch of batch 128" in stdout
    assert "Network 3 of 3: deep (article D), 1 epoch of batch 32" in stdout
    for pair in compared["pairs"]:
        assert pair["verdict"] in stdout.splitlines()
    assert "3 pairs: one could pass 0.05 by luck alone, so Holm's adjustment" in stdout


@pytest.mark.warm
def test_mnist_compare_trains_each_network_as_the_lesson_does(mnist_runs):
    """Article D's network takes 28x28 images and digits as labels: as prepared by --compare, it
    scores what a single run of it scores on the same test digits."""
    compared = compared_in(mnist_runs / "compare")
    single = metrics_in(mnist_runs / "deep")
    assert single["n_test"] == compared["n"]
    assert compared["networks"]["deep"]["accuracy"] == pytest.approx(
        single["test_accuracy"], abs=1e-6
    )


@pytest.mark.warm
def test_mnist_compare_with_the_same_seed_writes_the_same_bytes_and_another_seed_others(
    mnist_runs,
):
    first = (mnist_runs / "compare" / "compare.json").read_bytes()
    assert (mnist_runs / "again" / "compare.json").read_bytes() == first
    other = compared_in(mnist_runs / "seed 8")
    assert other["seed"] == 8 and (mnist_runs / "seed 8" / "compare.json").read_bytes() != first
    assert_pairs_agree(other, ["first", "dropout", "deep"])


## What --compare refuses


@pytest.mark.warm
def test_compare_refuses_flags_it_cannot_read_in_one_line_and_writes_nothing(tmp_path):
    pima = shared_file("pima-indians-diabetes.data.csv")
    out = ["--out", tmp_path / "out"]
    runs = [
        ("mnist_dense.py", ["--compare", "--predict", "x.png", *out]),
        ("pima_binary.py", ["--compare", "--predict", "rows.csv", *out]),
        ("mnist_dense.py", ["--compare", "--draw", *out]),
        ("mnist_dense.py", ["--compare", "--network", "dropout", *out]),
        ("pima_binary.py", ["--compare", "--tensorboard", tmp_path / "logs", *out]),
        ("pima_binary.py", ["--compare", "--network", "dropout", "--tensorboard", "logs", *out]),
        ("pima_binary.py", ["--compare", "--folds", 300, "--data", pima, *out]),
    ]
    said = [
        "--predict trains nothing, so it reads no --compare; leave it out",
        "--predict trains nothing, so it reads no --compare; leave it out",
        "--draw trains nothing, so it reads no --compare; leave it out",
        "--compare trains every network, so it takes no --network; leave it out",
        "--compare trains every network, so it takes no --tensorboard; leave it out",
        "--compare trains every network, so it takes no --network or --tensorboard; leave them",
    ]
    commands = [[script, *flags] for script, flags in runs]
    *refused, too_many = run(*commands[0], then=commands[1:], cwd=tmp_path)
    for result, words in zip(refused, said):
        assert_one_line_error(result, words, code=2)
    assert_one_line_error(too_many, "--folds 300", "268 rows of one class", "at most 268 folds")
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())  # not even an empty folder
