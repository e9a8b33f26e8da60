"""Critical value pruning against a direct implementation, and the optimally pruned tree against
brute force over every pruning of random trees."""
import numpy as np
import pytest
from helpers import require

from minprune import tree
from minprune.tree.critical import critical_collapse, split_goodness


def hand_built():
    """A tree on one feature x: root x <= 5 (gini gain 0.18), its left child x <= 2 (a weak split
    of 0.01) with a strong split x <= 1 (0.25) below it, its right child x <= 8 (0.02).

            0: x<=5
          /         \\
      1: x<=2      6: x<=8
      /     \\       /    \\
    2: x<=1  5     7      8
    /   \\
    3    4
    """
    left = np.array([1, 2, 3, -1, -1, -1, 7, -1, -1])
    right = np.array([6, 5, 4, -1, -1, -1, 8, -1, -1])
    feature = np.where(left == -1, -2, 0)
    threshold = np.array([5, 2, 1, -2, -2, -2, 8, -2, -2], dtype=float)
    n = np.array([100, 60, 40, 20, 20, 20, 40, 20, 20])
    impurity = np.array([0.5, 0.32, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    # chosen so that the goodness of node 1 is 0.32 - (40/60·0.5 + 20/60·x5) = 0.01 with
    # impurity x5 of leaf 5; node 6's children are pure, so its goodness is its impurity.
    impurity[5] = (0.32 - 0.01 - 40 / 60 * 0.5) * 3
    impurity[6] = 0.02
    impurity[0] = 0.18 + 0.6 * impurity[1] + 0.4 * impurity[6]
    value = np.array([[50, 50], [35, 25], [20, 20], [20, 0], [0, 20], [15, 5], [15, 25],
                      [0, 20], [15, 5]], dtype=float)
    est = tree.DecisionTreeClassifier()
    est.tree_ = tree.Tree(left, right, feature, threshold, value, impurity, n)
    est.classes_, est.n_classes_, est.n_features_in_, est.n_outputs_ = np.array([0, 1]), 2, 1, 1
    est.pruning_trace_ = None
    return est


def direct_cvp(t, goodness, c, node=0):
    """Mingers' rule written recursively: returns whether ``node`` is a leaf after pruning with
    critical value c, filling the set of collapsed nodes."""
    collapsed = set()

    def visit(node):
        if t.children_left[node] == -1:
            return True
        left_leaf = visit(t.children_left[node])
        right_leaf = visit(t.children_right[node])
        if left_leaf and right_leaf and goodness[node] <= c:
            collapsed.add(node)
            return True
        return False

    visit(node)
    return collapsed


def test_goodness_is_the_impurity_decrease_at_each_split():
    est = hand_built()
    g = split_goodness(est.tree_)
    np.testing.assert_allclose(g[[0, 1, 2, 6]], [0.18, 0.01, 0.5, 0.02], atol=1e-12)


def test_a_weak_split_above_a_strong_one_survives():
    est = hand_built()
    t = est.tree_
    g = split_goodness(t)
    for c in (-1.0, 0.005, 0.015, 0.02, 0.1, 0.18, 0.3, 0.5, 1.0):
        got = set(np.flatnonzero(critical_collapse(t, g, c)).tolist())
        assert got == direct_cvp(t, g, c), c
    # at c = 0.1 the weak split (node 1, 0.01) stays: the strong split below it (0.5) stays
    assert set(np.flatnonzero(critical_collapse(t, g, 0.1))) == {6}


def test_the_critical_value_is_chosen_on_the_pruning_set():
    """Pruning-set rows that the strong split sorts correctly and the right subtree does not:
    the chosen tree keeps the left splits and cuts node 6."""
    est = hand_built()
    X = np.array([[0.5], [1.5], [0.7], [1.2], [9.0], [7.0], [3.0]])
    y = np.array([0, 1, 0, 1, 1, 1, 0])
    pruned = tree.prune_critical_value(est, X, y)
    chosen = [r for r in pruned.critical_values_ if r["chosen"]]
    assert len(chosen) == 1 and pruned.get_n_leaves() == chosen[0]["leaves"]
    errors = {r["critical"]: r["pruning_errors"] for r in pruned.critical_values_}
    assert chosen[0]["pruning_errors"] == min(errors.values())
    assert pruned.get_n_leaves() == 4              # node 6 cut (0.02), nodes 0, 1, 2 kept
    assert pruned.critical_value_ == pytest.approx(0.02)
    assert (pruned.predict(X) == y).sum() == 7 - chosen[0]["pruning_errors"]
    trace = {r["node"]: r for r in pruned.pruning_trace_}      # one row per split, as others
    assert set(trace) == {0, 1, 2, 6} and trace[6]["decision"] == "prune"
    assert trace[6]["leaf_error"] == 0 and trace[6]["subtree_error"] == 0   # cut: as a leaf
    assert trace[2]["leaf_error"] == 2 and trace[2]["subtree_error"] == 0
    assert [trace[n]["decision"] for n in (0, 1, 2)] == ["keep"] * 3


def pareto(est, X, y):
    """Brute force over every pruning of est's tree, bottom-up: for each node, {leaves: the
    fewest pruning-set errors of a pruning with that many leaves}; returns the root's."""
    from minprune.tree.postprune import _node_members
    t = est.tree_
    members = _node_members(est, X)
    prediction = est.classes_[np.argmax(t.value, axis=1)]

    def fronts(node):
        here = {1: int(np.sum(y[members[node]] != prediction[node]))}
        if t.children_left[node] == -1:
            return here
        for nl, el in fronts(t.children_left[node]).items():
            for nr, er in fronts(t.children_right[node]).items():
                k = nl + nr
                here[k] = min(here.get(k, np.inf), el + er)
        return here

    return fronts(0)


@pytest.mark.parametrize("seed", range(6))
def test_the_optimal_pruning_is_the_smallest_most_accurate_pruning(seed):
    datasets = require("sklearn.datasets")
    X, y = datasets.make_classification(300, 5, n_informative=3, n_classes=3, flip_y=0.15,
                                        random_state=seed)
    train, test = np.arange(0, 300, 2), np.arange(1, 300, 2)
    full = tree.DecisionTreeClassifier(random_state=seed, max_leaf_nodes=14).fit(X[train],
                                                                                 y[train])
    best = tree.optimal_pruning(full, X[test], y[test])
    front = pareto(full, X[test], y[test])
    fewest = min(front.values())
    errors = int(np.sum(best.predict(X[test]) != y[test]))
    assert errors == fewest
    assert best.get_n_leaves() == min(k for k, e in front.items() if e == fewest)
    d = tree.pruning_deviation(full, full, best)
    assert d["over"] == 0 and d["under"] == full.get_n_leaves() - best.get_n_leaves()
    assert tree.pruning_deviation(full, best, best) == {"over": 0, "under": 0}


def test_deviation_counts_splits_on_each_side():
    est = hand_built()
    g = split_goodness(est.tree_)
    cut_right = est._with_tree(est.tree_.subtree(critical_collapse(est.tree_, g, 0.1)), None)
    cut_left = est._with_tree(est.tree_.subtree(np.isin(np.arange(9), [1])), None)
    d = tree.pruning_deviation(est, cut_left, cut_right)
    assert d == {"over": 2, "under": 1}     # nodes 1 and 2 cut that it keeps; node 6 kept


def test_a_raised_tree_is_not_compared():
    datasets = require("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    full = tree.DecisionTreeClassifier(random_state=0).fit(X, y)
    raised = tree.prune_error_based(full, 0.25, X, y, subtree_raising=True)
    kinds = {r["decision"] for r in raised.pruning_trace_}
    if "raise" in kinds:
        with pytest.raises(ValueError, match="not a pruning of the full tree"):
            tree.pruning_deviation(full, raised, full)
