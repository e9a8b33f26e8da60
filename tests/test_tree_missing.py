"""Missing values (NaN) as scikit-learn 1.9 handles them: the same trees for the same
random_state, the same routes at predict, and every pruner following those routes.

The grid: missing at random at 5-50% and missing in one class only, x the pre-pruning settings
x plain, integer-weighted and max_features fits x random_state; classification array for array
(integer sums are exact), regression partition for partition (see test_tree_equality)."""
import os

import numpy as np
import pytest
from helpers import assert_same_tree, require
from test_tree_equality import SETTINGS, compare_partitions, goes_left

from minprune import tree
from minprune.tree.methods import POST_PRUNERS

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
RATES = (0.05, 0.2, 0.5)
STATES = range(2) if QUICK else range(4)


@pytest.fixture(scope="module")
def sk():
    return require("sklearn.tree")


def with_holes(kind, n, seed, rate, pattern):
    """Features rounded to small integers, with NaN: "random" (each value missing with
    probability ``rate``) or "one-class" (missing only in rows of class 0 / below-median
    targets, where the fact that a value is missing tells the class)."""
    datasets = require("sklearn.datasets")
    if kind == "classification":
        X, y = datasets.make_classification(n, 6, n_informative=4, n_classes=3, flip_y=0.05,
                                            random_state=seed)
        marked = y == 0
    else:
        X, y = datasets.make_regression(n, 6, noise=5.0, random_state=seed)
        y = y / y.std()
        marked = y < np.median(y)
    X = np.round(X * 2)
    rng = np.random.default_rng(seed)
    holes = rng.random(X.shape) < rate
    if pattern == "one-class":
        holes &= marked[:, None]
    X[holes] = np.nan
    weights = rng.integers(0, 4, n).astype(np.float64)
    return X, y, weights


def assert_same_routes(ours, theirs, X):
    split = ours.tree_.children_left != -1
    np.testing.assert_array_equal(ours.tree_.missing_go_to_left[split],
                                  theirs.tree_.missing_go_to_left[split])
    np.testing.assert_array_equal(ours.apply(X), theirs.apply(X))


@pytest.mark.parametrize("pattern", ["random", "one-class"])
@pytest.mark.parametrize("params", SETTINGS + [{"ccp_alpha": 0.002}],
                         ids=lambda p: ",".join(p) or "full")
def test_classification_with_missing_values_equals_scikit_learn(sk, params, pattern):
    for seed in range(2):
        for rate in RATES:
            X, y, weights = with_holes("classification", 400, seed, rate, pattern)
            variants = [({}, {}), ({}, {"sample_weight": weights}), ({"max_features": 3}, {}),
                        ({"criterion": "entropy"}, {})]
            for random_state in STATES:
                for extra, fit in variants:
                    kw = dict(random_state=random_state, **params, **extra)
                    ours = tree.DecisionTreeClassifier(**kw).fit(X, y, **fit)
                    theirs = sk.DecisionTreeClassifier(**kw).fit(X, y, **fit)
                    try:
                        assert_same_tree(ours, theirs)
                        assert_same_routes(ours, theirs, X)
                        np.testing.assert_array_equal(ours.predict_proba(X),
                                                      theirs.predict_proba(X))
                    except AssertionError as error:
                        error.add_note(f"seed {seed}, rate {rate}, {kw}, {fit.keys()}")
                        raise


@pytest.mark.parametrize("criterion", ["squared_error", "absolute_error"])
@pytest.mark.parametrize("params", SETTINGS, ids=lambda p: ",".join(p) or "full")
def test_regression_with_missing_values_gives_scikit_learns_partitions(sk, criterion, params):
    for seed in range(2):
        for rate, pattern in ((0.05, "random"), (0.2, "random"), (0.5, "random"),
                              (0.3, "one-class")):
            X, y, weights = with_holes("regression", 300, seed, rate, pattern)
            for random_state in STATES:
                for extra, w in (({}, None), ({}, weights), ({"max_features": 3}, None)):
                    kw = dict(criterion=criterion, random_state=random_state, **params, **extra)
                    ours = tree.DecisionTreeRegressor(**kw).fit(X, y, sample_weight=w)
                    theirs = sk.DecisionTreeRegressor(**kw).fit(X, y, sample_weight=w)
                    try:
                        compare_partitions(ours, theirs, X, y, np.ones(len(y)) if w is None
                                           else w, criterion, "max_features" in extra
                                           or "max_leaf_nodes" in params)
                    except AssertionError as error:
                        error.add_note(f"seed {seed}, rate {rate}, {kw}, weights {w is not None}")
                        raise


def test_nan_at_predict_goes_to_the_bigger_child_when_fit_had_none(sk):
    X, y, _ = with_holes("classification", 400, 0, 0.0, "random")
    ours = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    theirs = sk.DecisionTreeClassifier(random_state=0).fit(X, y)
    X_test, _, _ = with_holes("classification", 400, 1, 0.3, "random")
    assert_same_routes(ours, theirs, X_test)
    t = ours.tree_
    split = np.flatnonzero(t.children_left != -1)
    bigger = t.n_node_samples[t.children_left[split]] > t.n_node_samples[t.children_right[split]]
    np.testing.assert_array_equal(t.missing_go_to_left[split], bigger)


def test_a_feature_missing_in_one_class_is_used_as_a_signal(sk):
    """Missing only in class 0: the missing pattern alone separates it, and the tree says so
    with a present-against-missing split (threshold +inf)."""
    rng = np.random.default_rng(0)
    X = rng.random((200, 2))
    y = np.arange(200) % 2
    X[y == 0, 1] = np.nan
    ours = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    assert ours.tree_.threshold[0] == np.inf and ours.tree_.feature[0] == 1
    assert ours.score(X, y) == 1.0 and ours.get_n_leaves() == 2
    assert_same_tree(ours, sk.DecisionTreeClassifier(random_state=0).fit(X, y))


def test_infinity_and_nan_targets_are_refused():
    X = np.zeros((4, 2))
    X[1, 1] = -np.inf
    with pytest.raises(ValueError, match="column 1 .*infinite"):
        tree.DecisionTreeClassifier().fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="y contains NaN"):
        tree.DecisionTreeRegressor().fit(np.zeros((3, 1)), [1.0, np.nan, 2.0])
    fitted = tree.DecisionTreeClassifier().fit(np.eye(4)[:, :2], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="column 1 .*infinite"):
        fitted.predict(X)


def members_by_apply(est, X):
    """Which rows pass through each node, from the leaves ``apply`` reaches."""
    t = est.tree_
    parents = t.parents()
    leaves = est.apply(X)
    through = [set() for _ in range(t.node_count)]
    for row, node in enumerate(leaves):
        while node >= 0:
            through[node].add(row)
            node = parents[node]
    return through


@pytest.mark.parametrize("name", sorted(POST_PRUNERS))
def test_every_post_pruner_follows_predicts_routes(name):
    """Each pruner on data with holes gives a subtree of the full tree, and the rows it
    counts at each kept node are those ``predict`` sends there."""
    from minprune.tree.postprune import _node_members
    datasets = require("sklearn.datasets")
    X, y = datasets.load_wine(return_X_y=True)
    rng = np.random.default_rng(0)
    X[rng.random(X.shape) < 0.2] = np.nan
    train, val = np.arange(0, 178, 2), np.arange(1, 178, 2)
    full = tree.DecisionTreeClassifier(random_state=0).fit(X[train], y[train])
    pruned, _ = POST_PRUNERS[name].run(full, (X[train], y[train]), (X[val], y[val]),
                                       np.random.default_rng(0))
    assert pruned.get_n_leaves() <= full.get_n_leaves()
    for est in (full, pruned):
        members = _node_members(est, X)
        for node, rows in enumerate(members_by_apply(est, X)):
            assert set(members[node].tolist()) == rows
    assert np.isfinite(pruned.predict_proba(X)).all()


def test_cost_complexity_path_with_missing_values_equals_scikit_learn(sk):
    X, y, _ = with_holes("classification", 400, 3, 0.2, "random")
    ours = tree.cost_complexity_path(tree.DecisionTreeClassifier(random_state=0).fit(X, y))
    theirs = sk.DecisionTreeClassifier(random_state=0).cost_complexity_pruning_path(X, y)
    np.testing.assert_allclose(ours.ccp_alphas, theirs.ccp_alphas, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(ours.impurities, theirs.impurities, rtol=1e-10, atol=1e-15)


def test_onnx_runtime_routes_missing_values_as_predict():
    ort = require("onnxruntime")
    require("onnx")
    from minprune.tree.onnx_export import to_model
    X, y, _ = with_holes("classification", 300, 2, 0.3, "random")
    for est in (tree.DecisionTreeClassifier(random_state=0).fit(X, y),
                tree.DecisionTreeRegressor(random_state=0).fit(X, y.astype(float))):
        session = ort.InferenceSession(to_model(est).SerializeToString(),
                                       providers=["CPUExecutionProvider"])
        out = session.run(None, {"x": X.astype(np.float32)})
        if hasattr(est, "classes_"):
            np.testing.assert_array_equal(out[0], est.predict(X))
        else:
            np.testing.assert_allclose(out[0][:, 0], est.predict(X), rtol=1e-6)


def test_saved_trees_keep_their_missing_routes(tmp_path):
    from minprune import io
    X, y, _ = with_holes("classification", 300, 4, 0.3, "random")
    est = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    path = tmp_path / "t.npz"
    io.save(est, path)
    again = io.load(path)
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert "or missing" in tree.export_text(est, show_missing=True)
    assert "or missing" not in tree.export_text(est)


def test_route_is_predicts_rule():
    X, y, _ = with_holes("classification", 200, 5, 0.3, "random")
    est = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    t = est.tree_
    for node in np.flatnonzero(t.children_left != -1):
        np.testing.assert_array_equal(t.route(node, X) == 1,
                                      goes_left(t, node, X.astype(np.float32)))
