"""The Numba split search and builder, also run as plain Python (NUMBA_DISABLE_JIT=1 in CI)."""
import numpy as np
import pytest

from minprune import tree
from minprune.tree.criteria import ABSOLUTE_ERROR, ENTROPY, GINI, SQUARED_ERROR
from minprune.tree.median import rank_targets
from minprune.tree.records import Cut, LeafRules, median_scratch
from minprune.tree.splitter import (
    best_split_classes,
    best_split_values,
    partition,
    presort,
)


def brute_force(X, y, min_leaf, impurity, w=None, min_weight=0.0):
    """Every cut of every feature, scored by the weighted child impurity."""
    w = np.ones(len(y)) if w is None else w
    best = (np.inf, None, None)
    for f in range(X.shape[1]):
        values = np.unique(X[:, f])
        for a, b in zip(values[:-1], values[1:]):
            t = np.float64(a) / 2 + np.float64(b) / 2
            left = X[:, f] <= t
            if min(left.sum(), (~left).sum()) < min_leaf or \
                    min(w[left].sum(), w[~left].sum()) < min_weight:
                continue
            score = (w[left].sum() * impurity(y[left], w[left])
                     + w[~left].sum() * impurity(y[~left], w[~left]))
            if score < best[0] - 1e-12:
                best = (score, f, t)
    return best


def gini(y, w):
    p = np.bincount(y, weights=w) / w.sum()
    return 1 - (p ** 2).sum()


def entropy(y, w):
    p = np.bincount(y, weights=w) / w.sum()
    p = p[p > 0]
    return -(p * np.log2(p)).sum()


def mse(y, w):
    return np.average((y - np.average(y, weights=w)) ** 2, weights=w)


def mae(y, w):
    from minprune.tree.median import weighted_median
    return np.average(np.abs(y - weighted_median(y, w)), weights=w)


def unweighted(min_leaf):
    """The splitter's ``leaf`` argument without sample weights."""
    return LeafRules(min_leaf, 0.0, np.ones(1), 0)


def scratch(n):
    """absolute_error's buffers for n samples."""
    return median_scratch(n + 1)


@pytest.mark.parametrize("code, impurity", [(GINI, gini), (ENTROPY, entropy)])
@pytest.mark.parametrize("min_leaf", [1, 3])
def test_class_split_is_the_brute_force_best(code, impurity, min_leaf, rng):
    X = rng.random((40, 3)).astype(np.float32)
    y = (X[:, 1] + 0.3 * rng.random(40) > 0.6).astype(np.int64)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    counts = np.bincount(y, minlength=2).astype(np.float64)
    f, pos, t, found, ties, _, _ = best_split_classes(vals, order, ys, 0, 40, 2,
                                                      unweighted(min_leaf), code, counts,
                                                      *every_feature(vals))
    score, bf, bt = brute_force(X, y, min_leaf, impurity)
    assert found and (f, t) == (bf, bt)
    assert pos == int((X[:, f] <= t).sum())


@pytest.mark.parametrize("code, impurity", [(GINI, gini), (ENTROPY, entropy)])
def test_weighted_class_split_is_the_brute_force_best(code, impurity, rng):
    X = rng.random((50, 3)).astype(np.float32)
    y = (X[:, 2] + 0.4 * rng.random(50) > 0.7).astype(np.int64)
    w = rng.random(50) * 3
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    counts = np.bincount(y, weights=w, minlength=2)
    min_weight = 0.1 * w.sum()
    f, pos, t, found, ties, _, _ = best_split_classes(vals, order, ys, 0, 50, 2,
                                                LeafRules(2, min_weight, w, 1), code, counts,
                                                *every_feature(vals))
    score, bf, bt = brute_force(X, y, 2, impurity, w, min_weight)
    assert found and (f, t) == (bf, bt)


def test_value_split_is_the_brute_force_best(rng):
    X = rng.random((30, 2)).astype(np.float32)
    y = np.sin(4 * X[:, 0]) + 0.1 * rng.random(30)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    f, pos, t, found, ties, _, _ = best_split_values(vals, order, ys, 0, 30, unweighted(1),
                                               SQUARED_ERROR, y.sum(), 30.0,
                                               *every_feature(vals), scratch(30))
    score, bf, bt = brute_force(X, y, 1, mse)
    assert found and (f, t) == (bf, bt)


@pytest.mark.parametrize("code, impurity", [(SQUARED_ERROR, mse), (ABSOLUTE_ERROR, mae)])
@pytest.mark.parametrize("weighted", [False, True])
def test_weighted_value_split_is_the_brute_force_best(code, impurity, weighted, rng):
    n = 40
    X = rng.random((n, 3)).astype(np.float32)
    y = np.sin(4 * X[:, 1]) + 0.3 * rng.random(n)
    w = rng.random(n) * 2 + 0.1 if weighted else np.ones(n)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    buffers = scratch(n)
    if code == ABSOLUTE_ERROR:
        rank_targets(order[0], ys[0], 0, n, buffers)
    f, pos, t, found, ties, _, _ = best_split_values(vals, order, ys, 0, n,
                                               LeafRules(3, 0.0, w, int(weighted)), code,
                                               (w * y).sum(), w.sum(), *every_feature(vals),
                                               buffers)
    score, bf, bt = brute_force(X, y, 3, impurity, w)
    assert found and (f, t) == (bf, bt)


def test_prefix_errors_are_weighted_medians_and_absolute_errors(rng):
    """The Fenwick walk against sorting every prefix, with ties at exactly half the weight
    (integer weights) and repeated targets."""
    from minprune.tree.median import prefix_errors, weighted_median
    for trial in range(20):
        n = int(rng.integers(1, 30))
        y = rng.integers(0, 6, n).astype(np.float64) + (0.5 if trial % 2 else 0.0)
        w = rng.integers(1, 4, n).astype(np.float64)
        idx = np.argsort(y, kind="mergesort")
        ranks = np.empty(n, dtype=np.int64)
        ranks[idx] = np.arange(n)
        errors, medians = np.zeros(n), np.zeros(n)
        prefix_errors(ranks, y[idx], w, 0, n, 1, errors, medians, np.zeros(n + 1),
                      np.zeros(n + 1))
        for p in range(n):
            m = weighted_median(y[:p + 1], w[:p + 1])
            assert medians[p] == m
            assert errors[p] == pytest.approx((w[:p + 1] * np.abs(y[:p + 1] - m)).sum(),
                                              abs=1e-12)
        errors[:] = 0.0
        prefix_errors(ranks, y[idx], w, n - 1, -1, -1, errors, medians, np.zeros(n + 1),
                      np.zeros(n + 1))
        for p in range(n):
            assert medians[p] == weighted_median(y[p:], w[p:])


def brute_force_missing(X, y, impurity):
    """Every cut of every feature with the missing rows on either side, and present against
    missing: the first best (score, feature, threshold, missing go left)."""
    w = np.ones(len(y))
    best = (np.inf, None, None, None)
    for f in range(X.shape[1]):
        present = ~np.isnan(X[:, f])
        values = np.unique(X[present, f])
        between = [np.float64(a) / 2 + np.float64(b) / 2 for a, b in zip(values[:-1], values[1:])]
        # scikit-learn's order: missing right, present against missing, missing left
        cuts = [(t, False) for t in between] + ([(np.inf, False)] + [(t, True) for t in between]
                                                 if not present.all() else [])
        for t, m in cuts:
            left = np.where(present, X[:, f] <= t, m)
            if left.all() or not left.any():
                continue
            score = (left.sum() * impurity(y[left], w[left])
                     + (~left).sum() * impurity(y[~left], w[~left]))
            if score < best[0] - 1e-12:
                best = (score, f, t, m)
    return best


@pytest.mark.parametrize("code, impurity", [(GINI, gini), (SQUARED_ERROR, mse)])
def test_split_with_missing_values_is_the_brute_force_best(code, impurity, rng):
    """Missing rows tried on both sides of every cut, and present against missing."""
    for _ in range(10):
        X = rng.integers(0, 5, (30, 3)).astype(np.float32)
        X[rng.random(X.shape) < 0.3] = np.nan
        y = (np.nan_to_num(X[:, 0], nan=4) + rng.random(30) > 2.5).astype(np.int64)
        if code == SQUARED_ERROR:
            y = y + 0.1 * rng.random(30)
        vals, order, ys = presort(np.ascontiguousarray(X.T), y)
        if code == GINI:
            cut = best_split_classes(vals, order, ys, 0, 30, 2, unweighted(1), code,
                                     np.bincount(y, minlength=2).astype(np.float64),
                                     *every_feature(vals))
        else:
            cut = best_split_values(vals, order, ys, 0, 30, unweighted(1), code, y.sum(), 30.0,
                                    *every_feature(vals), scratch(30))
        score, f, t, m = brute_force_missing(X, y, impurity)
        assert cut.found and (cut.feature, cut.threshold) == (f, t)
        if t != np.inf:
            assert cut.missing_left == m
        present = ~np.isnan(X[:, f])
        assert cut.n_left == int(np.where(present, X[:, f] <= t, m).sum())


def test_constant_feature_is_never_split(rng):
    X = np.ones((20, 2), dtype=np.float32)
    y = np.arange(20) % 2
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    counts = np.bincount(y).astype(np.float64)
    assert not best_split_classes(vals, order, ys, 0, 20, 2, unweighted(1), GINI, counts,
                                  *every_feature(vals))[3]


def test_partition_keeps_rows_sorted(rng):
    X = rng.random((25, 3)).astype(np.float32)
    y = rng.integers(0, 3, 25)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    pos = 11
    left = set(order[1, :pos])
    partition(vals, order, ys, 0, 25, Cut(1, pos, 0.0, 1, 0, 0, pos), np.zeros(25, np.bool_),
              np.empty(25, np.float32), np.empty(25, np.int64), np.empty(25, np.int64))
    for f in range(3):
        assert set(order[f, :pos]) == left
        assert np.all(np.diff(vals[f, :pos]) >= 0) and np.all(np.diff(vals[f, pos:]) >= 0)
        np.testing.assert_array_equal(vals[f], X[order[f], f])
        np.testing.assert_array_equal(ys[f], y[order[f]])


def test_small_tree_matches_scikit_learn(rng):
    from sklearn.tree import DecisionTreeClassifier
    X = rng.random((120, 3))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.8).astype(int)
    ours = tree.DecisionTreeClassifier(max_depth=3).fit(X, y)
    theirs = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    if ours.n_tied_splits_ == 0:
        np.testing.assert_array_equal(ours.tree_.feature, theirs.tree_.feature)
        np.testing.assert_array_equal(ours.tree_.threshold, theirs.tree_.threshold)
    assert ours.score(X, y) == theirs.score(X, y)


def test_weakest_link_path_is_monotone(rng):
    X = rng.random((150, 2))
    y = (X[:, 0] > rng.random(150)).astype(int)
    path = tree.cost_complexity_path(tree.DecisionTreeClassifier().fit(X, y))
    assert np.all(np.diff(path.ccp_alphas) >= 0) and np.all(np.diff(path.impurities) >= -1e-15)
    assert path.n_leaves[-1] == 1


def every_feature(vals):
    """Visit every feature in index order (the splitter's ``visit`` and ``count``)."""
    return np.arange(vals.shape[0], dtype=np.int64), vals.shape[0]


def test_rand_int_is_scikit_learns_xorshift():
    """our_rand_r: x ^= x << 13; x ^= x >> 17; x ^= x << 5 on 32 bits, then % (RAND_R_MAX+1)."""
    from minprune.tree.visit import rand_int
    state = np.array([12345], dtype=np.uint64)
    x = 12345
    for _ in range(20):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        expected = 3 + (x % 0x80000000) % (17 - 3)
        assert rand_int(3, 17, state) == expected
        assert int(state[0]) == x


def test_frontier_pops_the_largest_improvement_first(rng):
    """The best-first frontier (scikit-learn's std heap, move for move): whatever the order of
    pushes and pops, each pop returns a node of the largest key present."""
    from minprune.tree.frontier import pop, push
    keys = rng.integers(0, 5, 60).astype(np.float64)       # many equal keys
    heap, size, present = np.zeros(60, dtype=np.int64), 0, set()
    for node in range(60):
        size = push(heap, keys, node, size)
        present.add(node)
        if node % 3 == 2:
            best = pop(heap, keys, size)
            size -= 1
            assert keys[best] == max(keys[n] for n in present)
            present.remove(best)
    while size:
        best = pop(heap, keys, size)
        size -= 1
        assert keys[best] == max(keys[n] for n in present)
        present.remove(best)
