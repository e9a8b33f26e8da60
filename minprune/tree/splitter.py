"""The exact greedy split search, a Numba kernel: sorted values, running counts or sums.

Every feature keeps its samples in sorted order (``order[f]``); each node owns the same slice
[start, end) of every row, so a node's values are already sorted and the search is one linear
scan per feature. After a split each row is partitioned stably into left then right, which
keeps it sorted: no sorting below the root.

scikit-learn's rules, reproduced: a cut is placed only between consecutive values that differ
by more than 1e-7; the threshold is a/2 + b/2 in float64 of the two float32 values; both sides
keep at least ``min_samples_leaf`` samples; candidates are ranked by scikit-learn's proxy
(-(n_R·imp_R + n_L·imp_L) for classes, Σ_L²/n_L + Σ_R²/n_R for squared error). Ties go to the
first candidate found: the lowest feature index, then the lowest threshold.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .criteria import GINI, class_impurity

FEATURE_THRESHOLD = 1e-7


@njit(cache=True)
def presort(XT):
    """For every feature (row of XT, shape (n_features, n_samples)), the sample order."""
    d, n = XT.shape
    order = np.empty((d, n), dtype=np.int64)
    for f in range(d):
        order[f] = np.argsort(XT[f], kind="mergesort")
    return order


@njit(cache=True)
def best_split_classes(XT, order, start, end, y, n_classes, min_leaf, code):
    """Best split of node [start, end) for integer classes ``y``.

    Returns (feature, pos, threshold, found, ties): samples order[feature, start:pos] go left;
    ``ties`` counts other features whose best cut is exactly as good (scikit-learn would pick
    among them at random).
    """
    n = end - start
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties = -1, end, 0.0, False, 0
    total = np.zeros(n_classes)
    for p in range(start, end):
        total[y[order[0, p]]] += 1.0
    left = np.zeros(n_classes)
    right = np.zeros(n_classes)
    for f in range(XT.shape[0]):
        row = order[f]
        x = XT[f]
        if np.float64(x[row[end - 1]]) <= np.float64(x[row[start]]) + FEATURE_THRESHOLD:
            continue                                         # constant in this node
        left[:] = 0.0
        right[:] = total
        f_proxy, f_pos, f_t = -np.inf, end, 0.0
        sq_left, sq_right = 0.0, 0.0
        for c in range(n_classes):
            sq_right += total[c] * total[c]
        for p in range(start + 1, end):
            c = y[row[p - 1]]                                # move sample p-1 to the left
            sq_left += 2.0 * left[c] + 1.0
            sq_right -= 2.0 * right[c] - 1.0
            left[c] += 1.0
            right[c] -= 1.0
            a, b = x[row[p - 1]], x[row[p]]
            if np.float64(b) <= np.float64(a) + FEATURE_THRESHOLD:
                continue
            n_left = p - start
            n_right = n - n_left
            if n_left < min_leaf or n_right < min_leaf:
                continue
            if code == GINI:
                imp_l = 1.0 - sq_left / (n_left * n_left)
                imp_r = 1.0 - sq_right / (n_right * n_right)
            else:
                imp_l = class_impurity(left, float(n_left), code)
                imp_r = class_impurity(right, float(n_right), code)
            proxy = -n_right * imp_r - n_left * imp_l
            if proxy > f_proxy:
                f_proxy, f_pos = proxy, p
                f_t = np.float64(a) / 2.0 + np.float64(b) / 2.0
        if f_proxy > best_proxy:
            best_proxy, best_f, best_pos, best_t, found, ties = f_proxy, f, f_pos, f_t, True, 0
        elif found and f_proxy == best_proxy:
            ties += 1
    return best_f, best_pos, best_t, found, ties


@njit(cache=True)
def best_split_values(XT, order, start, end, y, min_leaf):
    """Best split of node [start, end) for a float target ``y`` (squared error); returns as
    ``best_split_classes``."""
    n = end - start
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties = -1, end, 0.0, False, 0
    total = 0.0
    for p in range(start, end):
        total += y[order[0, p]]
    for f in range(XT.shape[0]):
        row = order[f]
        x = XT[f]
        if np.float64(x[row[end - 1]]) <= np.float64(x[row[start]]) + FEATURE_THRESHOLD:
            continue
        s_left = 0.0
        f_proxy, f_pos, f_t = -np.inf, end, 0.0
        for p in range(start + 1, end):
            s_left += y[row[p - 1]]
            a, b = x[row[p - 1]], x[row[p]]
            if np.float64(b) <= np.float64(a) + FEATURE_THRESHOLD:
                continue
            n_left = p - start
            n_right = n - n_left
            if n_left < min_leaf or n_right < min_leaf:
                continue
            s_right = total - s_left
            proxy = s_left * s_left / n_left + s_right * s_right / n_right
            if proxy > f_proxy:
                f_proxy, f_pos = proxy, p
                f_t = np.float64(a) / 2.0 + np.float64(b) / 2.0
        # Sums of floats in different orders differ in the last bits, so for this diagnostic
        # two features tie when their proxies agree to 1e-12 (relative).
        near = found and abs(f_proxy - best_proxy) <= 1e-12 * abs(best_proxy)
        if f_proxy > best_proxy:
            ties = ties + 1 if near else 0
            best_proxy, best_f, best_pos, best_t, found = f_proxy, f, f_pos, f_t, True
        elif near:
            ties += 1
    return best_f, best_pos, best_t, found, ties


@njit(cache=True)
def partition(order, start, end, feature, pos, goes_left, buffer):
    """Stably split every feature's slice [start, end) into the left samples, then the right.

    The left samples are order[feature, start:pos]; every row stays sorted.
    """
    row = order[feature]
    for p in range(start, pos):
        goes_left[row[p]] = True
    for p in range(pos, end):
        goes_left[row[p]] = False
    for f in range(order.shape[0]):
        if f == feature:
            continue
        r = order[f]
        lo, hi = start, 0
        for p in range(start, end):
            s = r[p]
            if goes_left[s]:
                r[lo] = s
                lo += 1
            else:
                buffer[hi] = s
                hi += 1
        for q in range(hi):
            r[lo + q] = buffer[q]
