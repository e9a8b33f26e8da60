"""Post-pruners on trees small enough to work by hand, and their properties."""
import itertools

import numpy as np
import pytest
from helpers import require

from minprune import tree
from minprune.data import make_classification
from minprune.tree.structure import LEAF


def hand_tree(counts, children):
    """A fitted classifier from class counts per node and (left, right) children (-1 = leaf)."""
    counts = np.array(counts, dtype=float)
    left = np.array([c[0] for c in children])
    right = np.array([c[1] for c in children])
    internal = left != LEAF
    est = tree.DecisionTreeClassifier()
    est.tree_ = tree.Tree(left, right, np.where(internal, 0, -2),
                          np.where(internal, 0.5, -2.0), counts, np.zeros(len(counts)),
                          counts.sum(axis=1).astype(np.int64))
    est.classes_ = np.arange(counts.shape[1])
    est.n_features_in_ = 1
    return est


#        0: [8, 4]
#       /         \
#  1: [7, 1]    2: [1, 3]
#               /        \
#          3: [1, 1]   4: [0, 2]
SMALL = dict(counts=[[8, 4], [7, 1], [1, 3], [1, 1], [0, 2]],
             children=[(1, 2), (-1, -1), (3, 4), (-1, -1), (-1, -1)])


def test_pessimistic_by_hand():
    est = hand_tree(**SMALL)
    pruned = tree.prune_pessimistic(est)
    root = pruned.pruning_trace_[0]
    # root: e'(t) = 4 + 1/2; leaves 1, 3, 4 make 1 + 1 + 0 errors: e'(T) = 2 + 3/2 = 3.5;
    # SE = sqrt(3.5 * (12 - 3.5) / 12) = 1.5745; 4.5 <= 5.0745: prune at the root.
    assert root["leaf_error"] == 4.5 and root["subtree_error"] == 3.5
    assert root["decision"] == "prune" and pruned.get_n_leaves() == 1
    assert len(pruned.pruning_trace_) == 1                   # top-down: nothing below is visited


def test_minimum_error_laplace_by_hand():
    est = hand_tree(**SMALL)
    pruned = tree.prune_minimum_error(est, m=None)
    rows = {r["node"]: r for r in pruned.pruning_trace_}
    # Laplace E = (n - n_c + k - 1) / (n + k), k = 2; costs are n·E.
    # node 2: leaf 4·(4-3+1)/6 = 1.333; children 2·(2-1+1)/4 + 2·(2-2+1)/4 = 1.0 + 0.5 = 1.5
    assert rows[2]["leaf_error"] == pytest.approx(4 * 2 / 6)
    assert rows[2]["subtree_error"] == pytest.approx(1.5) and rows[2]["decision"] == "prune"
    # root: leaf 12·5/14 = 4.286; children 8·2/10 + 1.333 = 2.933: keep
    assert rows[0]["leaf_error"] == pytest.approx(12 * 5 / 14)
    assert rows[0]["decision"] == "keep" and pruned.get_n_leaves() == 2


def test_minimum_error_m_estimate_by_hand():
    est = hand_tree(**SMALL)
    m = 4.0
    prior = np.array([8, 4]) / 12
    rate = lambda c: 1 - ((np.array(c) + m * prior) / (sum(c) + m)).max()
    pruned = tree.prune_minimum_error(est, m=m)
    rows = {r["node"]: r for r in pruned.pruning_trace_}
    assert rows[2]["leaf_error"] == pytest.approx(4 * rate([1, 3]))
    assert rows[2]["subtree_error"] == pytest.approx(2 * rate([1, 1]) + 2 * rate([0, 2]))


@pytest.mark.parametrize("errors, n", [(0, 6), (1, 6), (2, 10), (5, 40), (0, 1), (10, 200)])
def test_binomial_upper_limit_matches_clopper_pearson(errors, n):
    stats = require("scipy.stats")
    expected = stats.beta.ppf(1 - 0.25, errors + 1, n - errors)
    assert tree.binomial_upper(errors, n, 0.25) == pytest.approx(expected, rel=1e-9)


def test_error_based_by_hand():
    est = hand_tree(**SMALL)
    pruned = tree.prune_error_based(est, confidence=0.25, estimate="exact")
    rows = {r["node"]: r for r in pruned.pruning_trace_}
    stats = require("scipy.stats")
    U = lambda e, n: n * stats.beta.ppf(0.75, e + 1, n - e)
    assert rows[2]["leaf_error"] == pytest.approx(U(1, 4))
    assert rows[2]["subtree_error"] == pytest.approx(U(1, 2) + 2 * (1 - 0.25 ** 0.5))
    expected = U(1, 4) <= U(1, 2) + 2 * (1 - 0.25 ** 0.5) + 0.1
    assert (rows[2]["decision"] == "prune") == expected


def quinlan(n, e, cf, norm):
    """C4.5's AddErrs, written out again from its description, plus e."""
    if e < 1:
        base = n * (1 - cf ** (1 / n))
        return e + (base if e == 0 else base + e * (quinlan(n, 1, cf, norm) - 1 - base))
    if e + 0.5 >= n:
        return e + max(n - e, 0)
    z = norm.ppf(1 - cf)
    f = (e + 0.5) / n
    upper = (f + z * z / (2 * n) + z * np.sqrt(f / n - f * f / n + z * z / (4 * n * n))) \
        / (1 + z * z / n)
    return upper * n


@pytest.mark.parametrize("cf", [0.1, 0.25, 0.5])
def test_c45_estimate_is_quinlans_approximation(cf):
    norm = require("scipy.stats").norm
    grid = [(n, e) for n in (1, 2, 3, 6, 14, 50, 200) for e in (0, 0.3, 0.5, 1, 2, 5.5, n - 1,
                                                               n - 0.5, n) if 0 <= e <= n]
    assert any(e + 0.5 >= n and e >= 1 for n, e in grid) and any(0 < e < 1 for _, e in grid)
    for n, e in grid:
        assert tree.c45_errors(n, e, cf) == pytest.approx(quinlan(n, e, cf, norm), rel=1e-12), \
            (n, e)
    assert tree.c45_errors(200, 1, 0.9) == 1.0             # CF > 0.5: J48 adds nothing


def test_the_two_estimates_differ_where_the_approximation_does():
    exact = 200 * tree.binomial_upper(1, 200, 0.25)
    assert abs(tree.c45_errors(200, 1, 0.25) - exact) > 0.1
    est = hand_tree(**SMALL)
    c45 = {r["node"]: r for r in tree.prune_error_based(est).pruning_trace_}
    assert c45[2]["leaf_error"] == pytest.approx(tree.c45_errors(4, 1, 0.25))
    with pytest.raises(ValueError, match="estimate must be one of c45, exact"):
        tree.prune_error_based(est, estimate="binomial")


def all_prunings(t, node=0):
    """Every pruning of the subtree at ``node`` as a set of nodes turned into leaves."""
    if t.children_left[node] == LEAF:
        return [frozenset()]
    below = [a | b for a, b in itertools.product(all_prunings(t, t.children_left[node]),
                                                 all_prunings(t, t.children_right[node]))]
    return [frozenset([node])] + below


def errors_of(est, t, collapse, X, y):
    pruned = est._with_tree(t.subtree(np.isin(np.arange(t.node_count), list(collapse))), None)
    return int(np.sum(pruned.predict(X) != y))


def test_reduced_error_is_optimal_on_its_pruning_set():
    X, y = make_classification(400, 5, n_informative=3, flip_y=0.25, random_state=1)
    est = tree.DecisionTreeClassifier(max_leaf_nodes=9).fit(X[:200], y[:200])
    Xv, yv = X[200:], y[200:]
    pruned = tree.prune_reduced_error(est, Xv, yv)
    best = min(errors_of(est, est.tree_, c, Xv, yv) for c in all_prunings(est.tree_))
    assert int(np.sum(pruned.predict(Xv) != yv)) == best


def is_pruned_subtree(small, big):
    """Every node of ``small`` is the node of ``big`` at the same path, with its split and counts,
    and every leaf of ``small`` sits at a node of ``big``."""
    stack = [(0, 0)]
    while stack:
        a, b = stack.pop()
        if small.n_node_samples[a] != big.n_node_samples[b]:
            return False
        if small.children_left[a] == LEAF:
            continue
        if (small.feature[a], small.threshold[a]) != (big.feature[b], big.threshold[b]):
            return False
        stack += [(small.children_left[a], big.children_left[b]),
                  (small.children_right[a], big.children_right[b])]
    return True


PRUNERS = {
    "ccp": lambda e, Xv, yv: tree.prune_ccp(e, 0.01),
    "rep": lambda e, Xv, yv: tree.prune_reduced_error(e, Xv, yv),
    "pep": lambda e, Xv, yv: tree.prune_pessimistic(e),
    "ebp": lambda e, Xv, yv: tree.prune_error_based(e),
    "mep": lambda e, Xv, yv: tree.prune_minimum_error(e, m=2.0),
}


@pytest.mark.parametrize("name", list(PRUNERS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruners_return_a_pruned_subtree_and_leave_the_input_alone(name, seed):
    X, y = make_classification(500, 6, n_informative=3, flip_y=0.2, random_state=seed)
    est = tree.DecisionTreeClassifier().fit(X[:300], y[:300])
    before = [a.copy() for a in est.tree_.arrays()]
    pruned = PRUNERS[name](est, X[300:], y[300:])
    assert all(np.array_equal(a, b) for a, b in zip(before, est.tree_.arrays()))
    assert est.pruning_trace_ is None and pruned.pruning_trace_ is not None
    assert is_pruned_subtree(pruned.tree_, est.tree_)
    assert pruned.get_n_leaves() < est.get_n_leaves()
    for row in pruned.pruning_trace_:
        assert {"node", "depth", "samples", "decision"} <= set(row)


def raising_case():
    """A tree on which C4.5 raises subtrees, and the leaves of a raised subtree change label."""
    for seed in range(40):
        X, y = make_classification(300, 5, n_informative=3, n_classes=3, flip_y=0.25,
                                   random_state=seed)
        est = tree.DecisionTreeClassifier(min_samples_leaf=4, random_state=0).fit(X, y)
        raised = tree.prune_error_based(est, X=X, y=y, subtree_raising=True)
        if any(r["decision"] == "raise" for r in raised.pruning_trace_):
            return X, y, est, raised
    raise AssertionError("no subtree was raised in 40 data sets")


def test_subtree_raising_redistributes_relabels_and_reprunes():
    """J48's rule: after a raise the subtree holds the node's training data - every node's
    counts are those of the training samples reaching it, every leaf predicts their
    majority - and it is pruned again, so the result is a fixed point of the procedure."""
    X, y, est, raised = raising_case()
    t = raised.tree_
    leaves = raised.apply(X)
    y_index = np.searchsorted(raised.classes_, y)
    for node in np.flatnonzero(t.is_leaf):
        counts = np.bincount(y_index[leaves == node], minlength=3)
        if counts.sum():
            np.testing.assert_array_equal(t.value[node], counts)
            assert t.n_node_samples[node] == counts.sum()
    internal = np.flatnonzero(~t.is_leaf)
    np.testing.assert_array_equal(t.n_node_samples[internal],
                                  t.n_node_samples[t.children_left[internal]]
                                  + t.n_node_samples[t.children_right[internal]])
    again = tree.prune_error_based(raised, X=X, y=y, subtree_raising=True)
    assert {r["decision"] for r in again.pruning_trace_} == {"keep"}
    np.testing.assert_array_equal(again.tree_.feature, t.feature)
    # the decision rule, row by row: prune, raise or keep with C4.5's 0.1 tolerance
    for r in raised.pruning_trace_:
        leaf, whole, up = r["leaf_error"], r["subtree_error"], r["raised_error"]
        prune = leaf - (whole + 0.1) < 1e-6 and leaf - (up + 0.1) < 1e-6
        expected = "prune" if prune else "raise" if up - (whole + 0.1) < 1e-6 else "keep"
        assert r["decision"] == expected


def test_subtree_raising_relabels_the_raised_leaves():
    """The raised subtree's leaves are relabelled by the node's data: some leaf changes its
    class in these trees (keeping the old labels, as the earlier code did, would differ)."""
    datasets = require("sklearn.datasets")
    X, y = datasets.make_classification(400, 8, n_informative=4, n_classes=4,
                                        n_clusters_per_class=2, flip_y=0.3,
                                        random_state=8)   # a rare case, found by a search
    est = tree.DecisionTreeClassifier(min_samples_leaf=2, random_state=0).fit(X, y)
    raised = tree.prune_error_based(est, X=X, y=y, subtree_raising=True)
    assert sum(r["relabelled"] for r in raised.pruning_trace_) >= 1
    leaves = raised.apply(X)
    for node in np.flatnonzero(raised.tree_.is_leaf):      # labels are the data's majority
        reach = y[leaves == node]
        if len(reach):
            assert raised.classes_[np.argmax(raised.tree_.value[node])] == \
                np.bincount(reach, minlength=4).argmax()
    with pytest.raises(ValueError, match="training data"):
        tree.prune_error_based(est, subtree_raising=True)
    with pytest.raises(ValueError, match="labels the tree was not fitted on"):
        tree.prune_error_based(est, X=X, y=y + 7, subtree_raising=True)


def test_select_ccp_alpha_table_and_rules():
    X, y = make_classification(400, 6, n_informative=3, flip_y=0.2, random_state=3)
    a_min, table = tree.select_ccp_alpha(X, y, cv=5, rule="min", rng=0)
    a_1se, _ = tree.select_ccp_alpha(X, y, cv=5, rule="1se", rng=0)
    assert a_1se >= a_min
    assert {"alpha", "leaves", "cv_error", "cv_se", "CP", "nsplit", "rel_error", "xerror",
            "xstd"} == set(table[0])
    errors = [r["cv_error"] for r in table]
    assert table[int(np.argmin(errors))]["alpha"] == a_min


def test_select_ccp_alpha_is_deterministic_by_default():
    """Wine has splits of equal improvement: with an unseeded tree the two rules once chose
    from different fold trees, and the 1-SE tree came out larger than the minimum's."""
    datasets = require("sklearn.datasets")
    X, y = datasets.load_wine(return_X_y=True)
    runs = [tree.select_ccp_alpha(X[::2], y[::2], cv=5, rng=4) for _ in range(4)]
    assert all(r == runs[0] for r in runs)


def test_the_one_leaf_row_is_the_root_alone_in_every_fold():
    """Its cross-validated error is each training fold's majority class, judged on its test
    fold (wine, cv=2: the last candidate once left some fold trees unpruned)."""
    datasets = require("sklearn.datasets")
    X, y = datasets.load_wine(return_X_y=True)
    _, table = tree.select_ccp_alpha(X, y, cv=2, rng=0, risk="error")
    folds = np.array_split(np.random.default_rng(0).permutation(len(X)), 2)
    errors = []
    for test in folds:
        train = np.setdiff1d(np.arange(len(X)), test)
        majority = np.bincount(y[train]).argmax()
        errors.append(np.mean(y[test] != majority))
    assert table[-1]["cv_error"] == pytest.approx(np.mean(errors))
    assert table[-1]["leaves"] == 1 and table[-1]["nsplit"] == 0
    assert table[-1]["rel_error"] == pytest.approx(1.0)
    root_error = np.mean(y != np.bincount(y).argmax())
    for row in table:
        assert row["xerror"] == pytest.approx(row["cv_error"] / root_error)
        assert row["nsplit"] == row["leaves"] - 1


def test_splits_that_gain_nothing_go_at_alpha_zero():
    """Misclassification risks are integer counts: a split whose leaves make as many errors
    as the node itself has alpha exactly 0 and is collapsed by prune_ccp(est, 0)."""
    found = 0
    for seed in range(6):
        X, y = make_classification(300, 5, n_informative=3, flip_y=0.3, random_state=seed)
        est = tree.DecisionTreeClassifier(min_samples_leaf=5).fit(X, y)
        pruned = tree.prune_ccp(est, 0.0, risk="error")
        t = pruned.tree_
        errors = t.value.sum(axis=1) - t.value.max(axis=1)
        below = errors.copy()
        for node in reversed(range(t.node_count)):          # children come after parents
            if t.children_left[node] != LEAF:
                below[node] = below[t.children_left[node]] + below[t.children_right[node]]
        internal = t.children_left != LEAF
        assert np.all(errors[internal] > below[internal])   # every kept split gains
        found += pruned.get_n_leaves() < est.get_n_leaves()
    assert found >= 1
