"""The estimator facade: bad input, prediction, export, persistence, pre-pruning rules."""
import numpy as np
import pytest

import minprune
from minprune import tree
from minprune.data import checkerboard, make_classification, make_regression


@pytest.mark.parametrize("params, match", [
    (dict(max_depth=0), r"max_depth must be an integer >= 1 or None, got 0"),
    (dict(min_samples_split=1), "min_samples_split must be an integer >= 2"),
    (dict(min_samples_leaf=0), "min_samples_leaf must be an integer >= 1"),
    (dict(max_leaf_nodes=1), "max_leaf_nodes must be an integer >= 2"),
    (dict(min_impurity_decrease=-1), "min_impurity_decrease must be a number >= 0"),
    (dict(criterion="mse"), "criterion must be one of gini, entropy"),
])
def test_parameters_out_of_range(params, match):
    with pytest.raises(ValueError, match=match):
        tree.DecisionTreeClassifier(**params).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_bad_data():
    X = np.zeros((5, 3))
    X[2, 1] = np.nan                                   # a missing value is data
    tree.DecisionTreeClassifier().fit(X, [0, 1, 0, 1, 0])
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match="column 1 .*infinite"):
        tree.DecisionTreeClassifier().fit(X, [0, 1, 0, 1, 0])
    X[2, 1] = 1e39                                     # beyond float32
    with pytest.raises(ValueError, match="column 1 .*too large for float32"):
        tree.DecisionTreeRegressor().fit(X, [0, 1, 0, 1, 0])
    for est in (tree.DecisionTreeClassifier(), tree.DecisionTreeRegressor()):
        with pytest.raises(ValueError, match="y contains NaN"):
            est.fit(np.zeros((3, 1)), [0, np.nan, 1])
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        tree.DecisionTreeClassifier().fit(np.zeros((5, 3)), np.zeros((5, 2)))
    for X_empty in (np.empty((3, 0)), np.empty((0, 3))):   # refused, never a crash
        for est in (tree.DecisionTreeClassifier(), tree.DecisionTreeRegressor()):
            with pytest.raises(ValueError, match="at least 1 sample and 1 feature"):
                est.fit(X_empty, np.arange(len(X_empty)))
    with pytest.raises(ValueError, match="non-integer"):
        tree.DecisionTreeClassifier().fit(np.zeros((3, 1)), [0.5, 1.5, 0.2])
    with pytest.raises(ValueError, match="numeric"):
        tree.DecisionTreeRegressor().fit(np.zeros((3, 1)), np.array(["a", "b", "c"]))


def test_wrong_number_of_features_and_unfitted():
    est = tree.DecisionTreeClassifier().fit(np.random.rand(20, 3), np.arange(20) % 2)
    with pytest.raises(ValueError, match="2 features, but DecisionTreeClassifier is expecting 3 "
                                         "features as input"):
        est.predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        tree.DecisionTreeClassifier().predict(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        tree.prune_pessimistic(tree.DecisionTreeClassifier())


def test_too_few_samples_give_a_leaf_as_in_scikit_learn():
    one = tree.DecisionTreeClassifier().fit(np.zeros((1, 3)), [7])
    assert one.get_n_leaves() == 1 and list(one.predict(np.ones((2, 3)))) == [7, 7]
    few = tree.DecisionTreeClassifier(min_samples_split=10).fit(np.arange(15).reshape(5, 3),
                                                                [0, 1] * 2 + [0])
    assert few.get_n_leaves() == 1 and list(few.predict([[0, 0, 0]])) == [0]


def test_string_labels_and_probabilities():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array(["cat", "cat", "dog", "dog"])
    est = tree.DecisionTreeClassifier().fit(X, y)
    assert list(est.predict([[0.2], [2.7]])) == ["cat", "dog"]
    np.testing.assert_array_equal(est.predict_proba([[0.2]]), [[1.0, 0.0]])
    assert est.get_depth() == 1 and est.get_n_leaves() == 2
    np.testing.assert_array_equal(est.apply([[0.2], [2.7]]), [1, 2])


def test_pre_pruning_rules_hold():
    X, y = make_classification(800, 6, n_informative=3, flip_y=0.2, random_state=0)
    t = tree.DecisionTreeClassifier(max_depth=4).fit(X, y)
    assert t.get_depth() <= 4
    t = tree.DecisionTreeClassifier(min_samples_leaf=25).fit(X, y).tree_
    assert t.n_node_samples[t.is_leaf].min() >= 25
    t = tree.DecisionTreeClassifier(max_leaf_nodes=7).fit(X, y)
    assert t.get_n_leaves() == 7
    t = tree.DecisionTreeClassifier(min_samples_split=100).fit(X, y).tree_
    assert t.n_node_samples[~t.is_leaf].min() >= 100


def test_horizon_effect_on_xor():
    """A greedy pre-pruning rule stops on XOR (no single split helps); a full tree does not."""
    X, y = checkerboard(400, tiles=2, rng=0)
    stopped = tree.DecisionTreeClassifier(min_impurity_decrease=0.01).fit(X, y)
    full = tree.DecisionTreeClassifier().fit(X, y)
    assert full.score(X, y) == 1.0 and stopped.score(X, y) < full.score(X, y)


def test_regressor_predicts_leaf_means_and_scores():
    X, y, _ = make_regression(300, 4, n_informative=2, noise=1.0, random_state=0)
    est = tree.DecisionTreeRegressor(max_depth=5).fit(X, y)
    leaves = est.apply(X)
    for leaf in np.unique(leaves)[:5]:
        assert est.predict(X[leaves == leaf])[0] == pytest.approx(y[leaves == leaf].mean())
    assert 0.5 < est.score(X, y) <= 1.0


def test_export_text_matches_scikit_learn():
    from sklearn.tree import DecisionTreeClassifier, export_text
    X, y = make_classification(300, 4, n_informative=3, n_redundant=0, flip_y=0, random_state=3)
    ours = tree.DecisionTreeClassifier(max_depth=2).fit(X, y)
    theirs = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    if ours.n_tied_splits_ == 0:
        assert tree.export_text(ours) == export_text(theirs)
    assert tree.export_text(ours, feature_names=list("abcd")).startswith("|--- ")


def test_plot_tree_draws(tmp_path):
    X, y = make_classification(200, 4, n_informative=2, random_state=0)
    ax = tree.plot_tree(tree.DecisionTreeClassifier(max_depth=3).fit(X, y))
    ax.figure.savefig(tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 1000


@pytest.mark.parametrize("cls", [tree.DecisionTreeClassifier, tree.DecisionTreeRegressor])
def test_save_and_load_trees(cls, tmp_path):
    X, y = make_classification(200, 4, n_informative=2, random_state=0)
    est = cls(max_depth=4).fit(X, y)
    minprune.save(est, tmp_path / "t.npz")
    back = minprune.load(tmp_path / "t.npz")
    assert type(back) is cls and back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
