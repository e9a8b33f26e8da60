"""The equality grid against scikit-learn: data seeds x sizes x every pre-pruning setting x every
criterion x random_state 0..4, fully grown trees included, with and without sample_weight,
class_weight and max_features - no case filtered out.

Classification with integer weights (counts, including 0) is compared array for array: every
sum is an exact integer, so the trees agree to the last bit, tied splits included.

Regression, and classification with real-valued weights ("balanced"), are compared partition
for partition: sums of real numbers taken in another order differ in the last bits, and where
two splits are equally good in exact arithmetic each library keeps the one its rounding
favours. The walk in ``compare_partitions`` checks, node by node, the samples, weights, values
and impurities; where the two trees split a node into the same two sides with different
features (or with the sides swapped) it goes on; where they split it differently it demands
that both splits are equally good (their children's weighted impurity agrees to 1e-9); where
one splits a node and the other not, the node must be pure (with real weights scikit-learn can
compute a pure node's impurity as a few ulps above its epsilon and split it, gaining nothing).
"""
import os
from math import isclose

import numpy as np
import pytest
from helpers import assert_same_tree as assert_arrays_equal
from helpers import require

from minprune import tree
from minprune.tree.median import weighted_median

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
SETTINGS = [{}, {"max_depth": 4}, {"min_samples_leaf": 5}, {"min_samples_split": 20},
            {"max_leaf_nodes": 15}, {"min_impurity_decrease": 0.002},
            {"min_weight_fraction_leaf": 0.02}]
SEEDS = range(5)
SIZES = (150, 400, 900) if QUICK else (200, 600, 1500)


@pytest.fixture(scope="module")
def sk():
    return require("sklearn.tree")


def dataset(kind, n, seed):
    """Features rounded to small integers: ties between features are the rule, not luck."""
    datasets = require("sklearn.datasets")
    if kind == "classification":
        X, y = datasets.make_classification(n, 6, n_informative=4, n_classes=3, flip_y=0.05,
                                            random_state=seed)
    else:
        X, y = datasets.make_regression(n, 6, noise=5.0, random_state=seed)
        y = y / y.std()
    weights = np.random.default_rng(seed).integers(0, 4, n).astype(np.float64)
    return np.round(X * 2), y, weights


def impurity(criterion, y, w):
    if criterion in ("gini", "entropy"):
        p = np.bincount(y, weights=w) / w.sum()
        p = p[p > 0]
        return 1 - (p ** 2).sum() if criterion == "gini" else -(p * np.log2(p)).sum()
    if criterion == "absolute_error":
        return np.average(np.abs(y - weighted_median(y, w)), weights=w)
    return np.average((y - np.average(y, weights=w)) ** 2, weights=w)


def split_score(criterion, y, w, rows, go):
    """The children's weighted impurity of splitting ``rows`` by ``go``."""
    return sum(w[rows[side]].sum() * impurity(criterion, y[rows[side]], w[rows[side]])
               for side in (go, ~go))


def goes_left(t, node, X):
    """Which rows of X split ``node`` of tree ``t`` (ours or scikit-learn's) sends left, a
    missing value where its ``missing_go_to_left`` says."""
    v = X[:, t.feature[node]]
    return np.where(np.isnan(v), bool(t.missing_go_to_left[node]), v <= t.threshold[node])


def compare_partitions(ours, theirs, X, y, w, criterion, diverging=False):
    """Walk both trees in our preorder, checking every node pair's samples, weight, value and
    impurity. Returns the events met: "feature" (the same two sides by another feature),
    "mirror" (the sides swapped), "tie" (other sides, equally good), "pure" (a pure node split
    by one library only).

    ``diverging`` (max_features below the number of features, or best-first growth): after a
    mirror, tie or pure event the libraries create other nodes or the same nodes in another
    order, so their random feature draws (and a best-first frontier) part ways; from then on
    a node split differently, however well, is allowed - and only then."""
    a, b = ours.tree_, theirs.tree_
    X = X.astype(np.float32)
    events = []
    stack = [(0, 0, np.flatnonzero(w > 0))]
    while stack:
        i, j, rows = stack.pop()
        parted = diverging and any(e in ("mirror", "tie", "pure") for e in events)
        if parted and a.n_node_samples[i] != b.n_node_samples[j]:
            continue
        assert a.n_node_samples[i] == b.n_node_samples[j] == len(rows)
        assert isclose(a.weighted_n_node_samples[i], b.weighted_n_node_samples[j], rel_tol=1e-12)
        value = a.value[i] / (a.value[i].sum() if hasattr(ours, "classes_") else 1)
        assert all(isclose(u, v, rel_tol=1e-10, abs_tol=1e-12)
                   for u, v in zip(value.tolist(), b.value[j, 0].tolist())), f"node {i}: value"
        assert isclose(a.impurity[i], b.impurity[j], rel_tol=1e-10, abs_tol=1e-12), \
            f"node {i}: impurity"
        leaf_a, leaf_b = a.children_left[i] == -1, b.children_left[j] == -1
        if leaf_a != leaf_b:
            # A pure node whose impurity rounds to a few ulps above machine epsilon in one
            # library (its right side's counts are differences of rounded sums) is split
            # there, gaining nothing; anything else is a real difference.
            assert a.impurity[i] < 1e-12 or parted, f"node {i}: one tree splits it, the other not"
            events.append("pure")
            continue
        if leaf_a:
            continue
        go_a, go_b = goes_left(a, i, X[rows]), goes_left(b, j, X[rows])
        same, mirror = np.array_equal(go_a, go_b), np.array_equal(go_a, ~go_b)
        if same or mirror:
            if a.feature[i] != b.feature[j]:
                events.append("mirror" if mirror else "feature")
            left_b, right_b = b.children_left[j], b.children_right[j]
            if mirror:
                left_b, right_b = right_b, left_b
            stack.append((a.children_right[i], right_b, rows[~go_a]))
            stack.append((a.children_left[i], left_b, rows[go_a]))
            continue
        ours_score = split_score(criterion, y, w, rows, go_a)
        theirs_score = split_score(criterion, y, w, rows, go_b)
        assert ours_score == pytest.approx(theirs_score, rel=1e-9) or parted, \
            f"node {i}: the splits differ in quality (ours {ours_score}, theirs {theirs_score})"
        events.append("tie")
    return events


@pytest.mark.parametrize("criterion", ["gini", "entropy"])
@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(p) or "full")
def test_classification_equals_scikit_learn_array_for_array(sk, criterion, params):
    """Without weights, with integer sample weights (zeros included), with integer class
    weights on top and with max_features: the same arrays for every random_state."""
    tied = 0
    for seed in SEEDS:
        for n in SIZES:
            X, y, weights = dataset("classification", n, seed)
            variants = [({}, {}), ({}, {"sample_weight": weights}),
                        ({"class_weight": {0: 1, 1: 3, 2: 2}}, {"sample_weight": weights}),
                        ({"max_features": 3}, {})]
            for random_state in range(5):
                for extra, fit in variants:
                    kw = dict(criterion=criterion, random_state=random_state, **params, **extra)
                    ours = tree.DecisionTreeClassifier(**kw).fit(X, y, **fit)
                    assert_arrays_equal(ours, sk.DecisionTreeClassifier(**kw).fit(X, y, **fit))
                    tied += ours.n_tied_splits_
    assert tied > 0                                  # the grid really has tied splits


@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(p) or "full")
def test_balanced_class_weights_give_scikit_learns_partitions(sk, params):
    """Real-valued weights: partition for partition (see the module's docstring)."""
    for seed in SEEDS[:3]:
        X, y, _ = dataset("classification", SIZES[-1], seed)
        w = len(y) / (3 * np.bincount(y))[y]
        for random_state in range(5):
            kw = dict(class_weight="balanced", random_state=random_state, **params)
            ours = tree.DecisionTreeClassifier(**kw).fit(X, y)
            theirs = sk.DecisionTreeClassifier(**kw).fit(X, y)
            compare_partitions(ours, theirs, X, y, w, "gini", "max_leaf_nodes" in params)


@pytest.mark.parametrize("criterion", ["squared_error", "absolute_error"])
@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(p) or "full")
def test_regression_gives_scikit_learns_partitions(sk, criterion, params):
    """Without weights, with integer sample weights and with max_features."""
    for seed in SEEDS:
        for n in SIZES:
            X, y, weights = dataset("regression", n, seed)
            for random_state in range(5):
                for extra, w in (({}, None), ({}, weights), ({"max_features": 3}, None)):
                    kw = dict(criterion=criterion, random_state=random_state, **params, **extra)
                    ours = tree.DecisionTreeRegressor(**kw).fit(X, y, sample_weight=w)
                    theirs = sk.DecisionTreeRegressor(**kw).fit(X, y, sample_weight=w)
                    try:
                        compare_partitions(ours, theirs, X, y, np.ones(n) if w is None else w,
                                           criterion, "max_features" in extra
                                           or "max_leaf_nodes" in params)
                    except AssertionError as error:
                        error.add_note(f"seed {seed}, n {n}, {kw}, weights {w is not None}")
                        raise


def test_friedman_mse_is_squared_error_as_in_scikit_learn(sk):
    X, y, w = dataset("regression", 400, 0)
    a = tree.DecisionTreeRegressor(criterion="friedman_mse", random_state=0).fit(X, y, w)
    b = tree.DecisionTreeRegressor(criterion="squared_error", random_state=0).fit(X, y, w)
    for name in tree.Tree.FIELDS:
        np.testing.assert_array_equal(getattr(a.tree_, name), getattr(b.tree_, name))
