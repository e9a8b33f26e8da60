"""The Numba split search and builder, also run as plain Python (NUMBA_DISABLE_JIT=1 in CI)."""
import numpy as np
import pytest

from minprune import tree
from minprune.tree.criteria import ENTROPY, GINI
from minprune.tree.splitter import best_split_classes, best_split_values, partition, presort


def brute_force(X, y, min_leaf, impurity):
    """Every cut of every feature, scored by the weighted child impurity."""
    best = (np.inf, None, None)
    for f in range(X.shape[1]):
        values = np.unique(X[:, f])
        for a, b in zip(values[:-1], values[1:]):
            t = np.float64(a) / 2 + np.float64(b) / 2
            left = X[:, f] <= t
            if min(left.sum(), (~left).sum()) < min_leaf:
                continue
            score = left.sum() * impurity(y[left]) + (~left).sum() * impurity(y[~left])
            if score < best[0] - 1e-12:
                best = (score, f, t)
    return best


def gini(y):
    p = np.bincount(y) / len(y)
    return 1 - (p ** 2).sum()


def entropy(y):
    p = np.bincount(y) / len(y)
    p = p[p > 0]
    return -(p * np.log2(p)).sum()


def mse(y):
    return y.var()


@pytest.mark.parametrize("code, impurity", [(GINI, gini), (ENTROPY, entropy)])
@pytest.mark.parametrize("min_leaf", [1, 3])
def test_class_split_is_the_brute_force_best(code, impurity, min_leaf, rng):
    X = rng.random((40, 3)).astype(np.float32)
    y = (X[:, 1] + 0.3 * rng.random(40) > 0.6).astype(np.int64)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    counts = np.bincount(y, minlength=2).astype(np.float64)
    f, pos, t, found, ties = best_split_classes(vals, ys, 0, 40, 2, min_leaf, code, counts,
                                                *every_feature(vals))
    score, bf, bt = brute_force(X, y, min_leaf, impurity)
    assert found and (f, t) == (bf, bt)
    assert pos == int((X[:, f] <= t).sum())


def test_value_split_is_the_brute_force_best(rng):
    X = rng.random((30, 2)).astype(np.float32)
    y = np.sin(4 * X[:, 0]) + 0.1 * rng.random(30)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    f, pos, t, found, ties = best_split_values(vals, ys, 0, 30, 1, y.sum(),
                                               *every_feature(vals))
    score, bf, bt = brute_force(X, y, 1, mse)
    assert found and (f, t) == (bf, bt)


def test_constant_feature_is_never_split(rng):
    X = np.ones((20, 2), dtype=np.float32)
    y = np.arange(20) % 2
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    counts = np.bincount(y).astype(np.float64)
    assert not best_split_classes(vals, ys, 0, 20, 2, 1, GINI, counts, *every_feature(vals))[3]


def test_partition_keeps_rows_sorted(rng):
    X = rng.random((25, 3)).astype(np.float32)
    y = rng.integers(0, 3, 25)
    vals, order, ys = presort(np.ascontiguousarray(X.T), y)
    pos = 11
    left = set(order[1, :pos])
    partition(vals, order, ys, 0, 25, 1, pos, np.zeros(25, np.bool_), np.empty(25, np.float32),
              np.empty(25, np.int64), np.empty(25, np.int64))
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
    from minprune.tree.splitter import rand_int
    state = np.array([12345], dtype=np.uint64)
    x = 12345
    for _ in range(20):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        expected = 3 + (x % 0x80000000) % (17 - 3)
        assert rand_int(3, 17, state) == expected
        assert int(state[0]) == x
