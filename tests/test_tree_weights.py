"""Sample weights, class weights and min_weight_fraction_leaf: scikit-learn's semantics, the
repeated-rows identity, the pruning path and the pruners with weights, and refused input."""
import numpy as np
import pytest
from helpers import require

from minprune import tree


def data(seed=0, n=300):
    datasets = require("sklearn.datasets")
    X, y = datasets.make_classification(n, 5, n_informative=3, n_classes=3, flip_y=0.1,
                                        random_state=seed)
    w = np.random.default_rng(seed).integers(0, 4, n)
    return np.round(X * 2), y, w


def test_integer_weights_grow_the_tree_of_repeated_rows():
    X, y, w = data()
    weighted = tree.DecisionTreeClassifier(tie_break="first").fit(X, y, sample_weight=w)
    repeated = tree.DecisionTreeClassifier(tie_break="first").fit(np.repeat(X, w, axis=0),
                                                                  np.repeat(y, w))
    for name in ("children_left", "children_right", "feature", "threshold", "value",
                 "impurity", "weighted_n_node_samples"):
        np.testing.assert_array_equal(getattr(weighted.tree_, name),
                                      getattr(repeated.tree_, name), err_msg=name)
    assert weighted.tree_.n_node_samples[0] == np.count_nonzero(w)   # weight 0: left out
    Xr, yr = data(1)[:2]
    wr = np.random.default_rng(1).integers(1, 3, len(yr))
    reg = tree.DecisionTreeRegressor(criterion="absolute_error", tie_break="first",
                                     max_depth=4).fit(Xr, yr * 1.5, sample_weight=wr)
    rep = tree.DecisionTreeRegressor(criterion="absolute_error", tie_break="first",
                                     max_depth=4).fit(np.repeat(Xr, wr, axis=0),
                                                      np.repeat(yr * 1.5, wr))
    np.testing.assert_array_equal(reg.tree_.threshold, rep.tree_.threshold)
    np.testing.assert_allclose(reg.tree_.value, rep.tree_.value)


def test_pruning_path_importances_and_probabilities_with_weights_equal_scikit_learn():
    sk = require("sklearn.tree")
    X, y, w = data(2, 500)
    for cw in (None, {0: 2, 1: 1, 2: 3}):
        ours = tree.DecisionTreeClassifier(random_state=0, class_weight=cw).fit(X, y, w)
        theirs = sk.DecisionTreeClassifier(random_state=0, class_weight=cw).fit(X, y, w)
        path = tree.cost_complexity_path(ours)
        ref = theirs.cost_complexity_pruning_path(X, y, sample_weight=w)
        np.testing.assert_array_equal(path.ccp_alphas, ref.ccp_alphas)
        np.testing.assert_allclose(path.impurities, ref.impurities, rtol=1e-12)
        np.testing.assert_allclose(ours.feature_importances_, theirs.feature_importances_,
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X))
        alpha = float(ref.ccp_alphas[len(ref.ccp_alphas) // 2])
        at_fit = tree.DecisionTreeClassifier(random_state=0, class_weight=cw,
                                             ccp_alpha=alpha).fit(X, y, w)
        expected = sk.DecisionTreeClassifier(random_state=0, class_weight=cw,
                                             ccp_alpha=alpha).fit(X, y, w)
        np.testing.assert_array_equal(at_fit.tree_.feature, expected.tree_.feature)
        np.testing.assert_array_equal(at_fit.tree_.threshold, expected.tree_.threshold)


def test_the_pruners_count_weights_as_repeated_rows():
    X, y, w = data(3)
    weighted = tree.DecisionTreeClassifier(tie_break="first").fit(X, y, sample_weight=w)
    repeated = tree.DecisionTreeClassifier(tie_break="first").fit(np.repeat(X, w, axis=0),
                                                                  np.repeat(y, w))
    for prune in (tree.prune_pessimistic, tree.prune_error_based, tree.prune_minimum_error):
        np.testing.assert_array_equal(prune(weighted).tree_.threshold,
                                      prune(repeated).tree_.threshold)
    raised_w = tree.prune_error_based(weighted, X=X, y=y, sample_weight=w, subtree_raising=True)
    raised_r = tree.prune_error_based(repeated, X=np.repeat(X, w, axis=0), y=np.repeat(y, w),
                                      subtree_raising=True)
    np.testing.assert_array_equal(raised_w.tree_.threshold, raised_r.tree_.threshold)
    np.testing.assert_array_equal(raised_w.tree_.value, raised_r.tree_.value)


def test_min_weight_fraction_leaf_keeps_that_weight_in_every_leaf():
    X, y, w = data(4)
    est = tree.DecisionTreeClassifier(min_weight_fraction_leaf=0.1).fit(X, y, sample_weight=w)
    leaves = est.tree_.is_leaf
    assert est.tree_.weighted_n_node_samples[leaves].min() >= 0.1 * w.sum()
    assert est.get_n_leaves() > 2


@pytest.mark.parametrize("kwargs, fit, message", [
    ({}, {"sample_weight": -np.ones(300)}, "sample_weight must be >= 0, got -1.0 at row 0"),
    ({}, {"sample_weight": np.ones(7)}, r"sample_weight.shape == \(7,\), expected \(300,\)"),
    ({}, {"sample_weight": np.full(300, np.nan)}, "sample_weight must be finite"),
    ({}, {"sample_weight": np.zeros(300)}, "sample_weight must have a positive sum"),
    ({"class_weight": "even"}, {}, "class_weight must be None, 'balanced' or a dict"),
    ({"class_weight": {5: 2.0}}, {}, r"class_weight names classes \[5\] that are not in y"),
    ({"class_weight": {0: -1}}, {}, r"class_weight\[0\] must be a number >= 0, got -1"),
    ({"min_weight_fraction_leaf": 0.7}, {},
     r"min_weight_fraction_leaf must be a number in \[0, 0.5\], got 0.7"),
])
def test_bad_weights_are_refused_naming_the_argument(kwargs, fit, message):
    X, y, _ = data()
    with pytest.raises(ValueError, match=message):
        tree.DecisionTreeClassifier(**kwargs).fit(X, y, **fit)


def test_regression_criteria_names():
    X, y, _ = data()
    with pytest.raises(ValueError, match="criterion must be one of squared_error, "
                                         "friedman_mse, absolute_error, got 'poisson'"):
        tree.DecisionTreeRegressor(criterion="poisson").fit(X, y)
    median = tree.DecisionTreeRegressor(criterion="absolute_error", max_depth=1).fit(X, y * 1.0)
    assert median.tree_.value[0, 0] == np.median(y)
