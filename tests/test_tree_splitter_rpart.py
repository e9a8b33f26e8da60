"""rpart's split searches (Numba kernels) against their plain-NumPy twins, also as plain Python
(NUMBA_DISABLE_JIT=1 in CI), and the linked-list ranking of surrogates."""
import numpy as np
import pytest

from minprune.tree.rpart_scan import (anova_scan, anova_scan_numpy, gini_scan, gini_scan_numpy,
                                      surrogate_scan, surrogate_scan_numpy)
from minprune.tree.surrogate import class_priors, insert_split


def sorted_rows(rng, n, levels):
    x = np.sort(rng.integers(0, levels, n).astype(np.float64))
    return x, np.append(x, x[-1])


@pytest.mark.parametrize("information", [False, True])
@pytest.mark.parametrize("edge", [1, 3])
def test_gini_scan_equals_its_twin(rng, information, edge):
    for _ in range(20):
        n = int(rng.integers(2, 40))
        x, xs = sorted_rows(rng, n, 8)
        y = rng.integers(0, 3, n)
        w = np.ones(n)
        aprior = class_priors(y, w, 3)
        got = gini_scan(y, xs, w, aprior, 3, edge, information)
        want = gini_scan_numpy(y, x, w, aprior, 3, edge, information)
        assert got[0] == pytest.approx(want[0], rel=1e-9, abs=1e-12)
        if want[0] > 1e-9:
            assert got[1:] == want[1:]


@pytest.mark.parametrize("edge", [1, 4])
def test_anova_scan_equals_its_twin(rng, edge):
    for _ in range(20):
        n = int(rng.integers(2, 40))
        x, xs = sorted_rows(rng, n, 10)
        y = rng.standard_normal(n)
        w = np.ones(n)
        risk = ((y - y.mean()) ** 2).sum()
        got = anova_scan(y, xs, w, edge, risk)
        want = anova_scan_numpy(y, x, w, edge, risk)
        assert got[0] == pytest.approx(want[0], rel=1e-9, abs=1e-12)
        if want[0] > 1e-9:
            assert got[1:] == want[1:]


def test_surrogate_scan_equals_its_twin(rng):
    for _ in range(40):
        n = int(rng.integers(1, 30))
        x = np.sort(rng.integers(0, 6, n).astype(np.float64))
        side = rng.choice([-1, 0, 1], n, p=[0.45, 0.1, 0.45])
        w = np.ones(n)
        got = surrogate_scan(side, x, w)
        want = surrogate_scan_numpy(side, x, w)
        assert got[0] == want[0]
        if got[0]:
            assert got[1:] == pytest.approx(want[1:])


def test_a_pure_node_has_no_anova_split():
    y = np.ones(6)
    x = np.arange(7.0)
    assert anova_scan(y, x, np.ones(6), 1, 0.0)[0] == 0.0


def test_insert_split_keeps_rparts_ranking():
    items = []
    for name, agree in (("a", 0.7), ("b", 0.9), ("c", 0.8), ("d", 0.8)):
        items = insert_split(items, (name, 0, 0, agree), 3)
    assert [i[0] for i in items] == ["b", "c", "d"]          # ties behind, the worst dropped
    two = insert_split(insert_split([], ("a", 0, 0, 0.7), 2), ("b", 0, 0, 0.6), 2)
    assert [i[0] for i in insert_split(two, ("c", 0, 0, 0.65), 2)] == ["a", "c"]
    # rpart's linked list, full at two, given a new best keeps only the new one
    assert [i[0] for i in insert_split(two, ("c", 0, 0, 0.9), 2)] == ["c"]
    assert [i[0] for i in insert_split([("a", 0, 0, 0.5)], ("b", 0, 0, 0.5), 1)] == ["a"]
