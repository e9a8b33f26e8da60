"""Cost-complexity paths and pruned trees identical to scikit-learn's at every alpha, and the
readings of max_features, the cut rule and ccp_alpha at fit (the equality grid of grown trees
is in test_tree_equality.py)."""
import numpy as np
import pytest
from helpers import assert_same_tree as assert_same
from helpers import require

from minprune import tree


@pytest.fixture(scope="module")
def sk():
    """scikit-learn's tree module: the oracle (skipped without it; CI requires it)."""
    return require("sklearn.tree")

def data(kind, n, seed):
    datasets = require("sklearn.datasets")
    if kind == "classification":
        return datasets.make_classification(n, 8, n_informative=5, flip_y=0.0, random_state=seed)
    X, y = datasets.make_regression(n, 8, noise=5.0, random_state=seed)
    return X, y / y.std()                           # unit variance: the same thresholds apply


def test_prediction_agrees_even_with_ties(sk):
    X, y = data("classification", 2000, 0)
    ours = tree.DecisionTreeClassifier().fit(X, y)
    theirs = sk.DecisionTreeClassifier(random_state=0).fit(X, y)
    assert ours.score(X, y) == theirs.score(X, y) == 1.0      # fully grown: pure leaves
    assert abs(ours.get_n_leaves() - theirs.get_n_leaves()) <= 0.05 * theirs.get_n_leaves()


def from_sklearn(est):
    """A minprune estimator holding exactly scikit-learn's grown tree (to test pruning alone)."""
    t = est.tree_
    classify = hasattr(est, "classes_")
    ours = tree.DecisionTreeClassifier() if classify else tree.DecisionTreeRegressor()
    value = t.value[:, 0, :] * (t.n_node_samples[:, None] if classify else 1)
    ours.tree_ = tree.Tree(t.children_left.astype(np.int64), t.children_right.astype(np.int64),
                           t.feature.astype(np.int64), t.threshold.copy(), value,
                           t.impurity.copy(), t.n_node_samples.astype(np.int64))
    ours.n_features_in_ = est.n_features_in_
    if classify:
        ours.classes_ = est.classes_
    return ours


@pytest.mark.parametrize("criterion", ["gini", "entropy", "squared_error"])
@pytest.mark.parametrize("seed", [0, 1])
def test_cost_complexity_path_and_pruned_trees(criterion, seed, sk):
    kind = "regression" if criterion == "squared_error" else "classification"
    X, y = data(kind, 600, seed)
    cls = sk.DecisionTreeRegressor if kind == "regression" else sk.DecisionTreeClassifier
    theirs = cls(criterion=criterion, random_state=seed).fit(X, y)
    ours = from_sklearn(theirs)
    path = tree.cost_complexity_path(ours)
    ref = theirs.cost_complexity_pruning_path(X, y)
    np.testing.assert_array_equal(path.ccp_alphas, ref.ccp_alphas)
    np.testing.assert_array_equal(path.impurities, ref.impurities)
    assert path.n_leaves[0] == theirs.get_n_leaves() and path.n_leaves[-1] == 1
    for alpha in ref.ccp_alphas:
        pruned = tree.prune_ccp(ours, alpha)
        expected = cls(criterion=criterion, random_state=seed, ccp_alpha=alpha).fit(X, y)
        assert_same_structure(pruned, expected)


def assert_same_structure(ours, theirs):
    for name in ("children_left", "children_right", "feature", "threshold", "n_node_samples"):
        np.testing.assert_array_equal(getattr(ours.tree_, name), getattr(theirs.tree_, name),
                                      err_msg=name)


def test_grown_and_pruned_end_to_end(sk):
    """Grown by minprune, pruned by minprune: scikit-learn's tree at every alpha of its path."""
    params = {"min_samples_split": 20, "random_state": 3}
    X, y = data("classification", 3000, 0)
    ours = tree.DecisionTreeClassifier(**params).fit(X, y)
    theirs = sk.DecisionTreeClassifier(**params).fit(X, y)
    for alpha in theirs.cost_complexity_pruning_path(X, y).ccp_alphas:
        assert_same_structure(tree.prune_ccp(ours, alpha),
                              sk.DecisionTreeClassifier(ccp_alpha=alpha, **params).fit(X, y))


def test_error_risk_path_uses_misclassification():
    X, y = data("classification", 400, 3)
    est = tree.DecisionTreeClassifier().fit(X, y)
    path = tree.cost_complexity_path(est, risk="error")
    assert path.impurities[0] == 0.0                  # a fully grown tree makes no errors
    assert path.impurities[-1] == pytest.approx(min(np.bincount(y)) / len(y))
    assert np.all(np.diff(path.ccp_alphas) >= 0)


def test_values_one_float32_ulp_apart_are_not_cut(sk):
    """scikit-learn adds its 1e-7 feature threshold in float32: near 1 that rounds up to one
    ulp, so two neighbouring float32 values are never separated."""
    a = np.float32(1.0)
    b = np.nextafter(a, np.float32(2))
    X = np.array([[a], [a], [b], [b]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    ours = tree.DecisionTreeClassifier().fit(X, y)
    theirs = sk.DecisionTreeClassifier(random_state=0).fit(X, y)
    assert ours.get_n_leaves() == theirs.get_n_leaves() == 1
    X[2:] = np.nextafter(b, np.float32(2))               # two ulps apart: both cut
    assert tree.DecisionTreeClassifier().fit(X, y).get_n_leaves() == \
        sk.DecisionTreeClassifier(random_state=0).fit(X, y).get_n_leaves() == 2


def test_ccp_alpha_at_fit_and_the_log_loss_alias(sk):
    X, y = data("classification", 800, 1)
    full = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    alphas = tree.cost_complexity_path(full).ccp_alphas
    alpha = float(alphas[len(alphas) // 2])
    at_fit = tree.DecisionTreeClassifier(ccp_alpha=alpha, random_state=0).fit(X, y)
    after = tree.prune_ccp(full, alpha)
    for name in ("children_left", "children_right", "feature", "threshold", "value"):
        np.testing.assert_array_equal(getattr(at_fit.tree_, name), getattr(after.tree_, name))
    assert at_fit.get_n_leaves() < full.get_n_leaves()
    assert_same(at_fit, sk.DecisionTreeClassifier(ccp_alpha=alpha, random_state=0).fit(X, y))
    entropy = tree.DecisionTreeClassifier(criterion="entropy", max_depth=4,
                                          random_state=0).fit(X, y)
    log_loss = tree.DecisionTreeClassifier(criterion="log_loss", max_depth=4,
                                           random_state=0).fit(X, y)
    np.testing.assert_array_equal(entropy.tree_.threshold, log_loss.tree_.threshold)
    with pytest.raises(ValueError, match="ccp_alpha must be a number >= 0"):
        tree.DecisionTreeClassifier(ccp_alpha=-1).fit(X, y)


def test_max_features_as_scikit_learn(sk):
    X, y = data("classification", 600, 2)
    for max_features in ("sqrt", "log2", 3, 0.5):
        for random_state in range(3):
            ours = tree.DecisionTreeClassifier(max_features=max_features,
                                               random_state=random_state).fit(X, y)
            theirs = sk.DecisionTreeClassifier(max_features=max_features,
                                               random_state=random_state).fit(X, y)
            assert_same(ours, theirs)
    with pytest.raises(ValueError, match="max_features must be None, 'sqrt'"):
        tree.DecisionTreeClassifier(max_features=0).fit(X, y)
    with pytest.raises(ValueError, match="needs the random feature draw"):
        tree.DecisionTreeClassifier(max_features=2, tie_break="first").fit(X, y)


def test_tie_break_first_is_the_lowest_index_without_random_numbers():
    X = np.repeat(np.arange(6.0)[:, None], 3, axis=1)     # three identical features
    y = np.array([0, 0, 0, 1, 1, 1])
    state = np.random.get_state()[1].copy()
    est = tree.DecisionTreeClassifier(tie_break="first").fit(X, y)
    assert est.tree_.feature[0] == 0 and est.n_tied_splits_ == 1
    np.testing.assert_array_equal(np.random.get_state()[1], state)   # no draw was made
    with pytest.raises(ValueError, match="tie_break must be one of random, first"):
        tree.DecisionTreeClassifier(tie_break="rpart").fit(X, y)
