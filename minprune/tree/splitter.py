"""The exact greedy split search, Numba kernels: sorted values, running counts or sums.

Layout: for every feature f, row f of ``vals``, ``order`` and ``ys`` holds the feature's values,
the sample ids and their targets, sorted by the value. Each node owns the same slice
[start, end) of every row, so its values are already sorted and the search is one sequential
scan per feature. After a split every row is partitioned stably (left samples, then right),
which keeps it sorted: nothing is sorted below the root.

scikit-learn's rules, reproduced: a cut is placed only between consecutive values that differ by
more than 1e-7 (in float32 arithmetic); the threshold is a/2 + b/2 in float64 of the two float32
values; both sides keep at least ``min_samples_leaf`` samples and ``min_weight_leaf`` weight;
candidates are ranked by scikit-learn's proxy (-(W_R·imp_R + W_L·imp_L) for classes and
absolute error, Σ_L²/W_L + Σ_R²/W_R for squared error; W: sums of sample weights, or counts).
Features are visited in the order ``visit_order`` draws (scikit-learn's random order, or index
order); ties go to the first candidate found: the first feature visited, then the lowest
threshold; ``ties`` reports how many other features were as good.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .criteria import ABSOLUTE_ERROR, GINI, class_impurity
from .median import prefix_errors

FEATURE_THRESHOLD = 1e-7
RAND_R_MAX = 0x7FFFFFFF                    # scikit-learn's bound for its rand_r draws


@njit(cache=True)
def presort(XT, y):
    """Rows sorted by each feature: (vals, order, ys), each of shape (n_features, n_samples)."""
    d, n = XT.shape
    vals = np.empty((d, n), dtype=XT.dtype)
    order = np.empty((d, n), dtype=np.int64)
    ys = np.empty((d, n), dtype=y.dtype)
    for f in range(d):
        o = np.argsort(XT[f], kind="mergesort")
        order[f] = o
        for p in range(n):
            vals[f, p] = XT[f, o[p]]
            ys[f, p] = y[o[p]]
    return vals, order, ys


@njit(cache=True)
def _cut(a, b):
    """Whether a cut may fall between consecutive sorted values a <= b: b > a + 1e-7, the sum
    taken in float32 as scikit-learn takes it (in float64 two values one float32 ulp apart
    near 1 could be cut, which scikit-learn never does)."""
    return np.float32(b) > np.float32(a) + np.float32(FEATURE_THRESHOLD)


@njit(cache=True, inline="always")
def _admissible(x, p, start, n, w_left, w_total, min_leaf, min_weight):
    """The rules every candidate cut before position p obeys, in both searches: the values
    on either side differ (``_cut``), and each side keeps ``min_leaf`` samples and
    ``min_weight`` of the weight (``w_left`` of ``w_total`` goes left)."""
    if not _cut(x[p - 1], x[p]):
        return False
    n_left = p - start
    if n_left < min_leaf or n - n_left < min_leaf:
        return False
    return w_left >= min_weight and w_total - w_left >= min_weight


@njit(cache=True)
def rand_int(low, high, state):
    """scikit-learn's ``rand_int``: one step of its xorshift ``our_rand_r`` on the uint32 seed
    in ``state[0]``, then low + r % (high - low)."""
    s = state[0]
    s ^= (s << np.uint64(13)) & np.uint64(0xFFFFFFFF)
    s ^= s >> np.uint64(17)
    s ^= (s << np.uint64(5)) & np.uint64(0xFFFFFFFF)
    state[0] = s
    return low + np.int64(s % np.uint64(RAND_R_MAX + 1)) % (high - low)


@njit(cache=True)
def visit_order(vals, start, end, draw, n_known, visit):
    """The features node [start, end) evaluates, in the order it evaluates them, into
    ``visit``; returns (how many, the constant features known to its children).

    ``draw`` is a ``records.FeatureDraw``. Not random:
    every non-constant feature by index (the lowest index wins a tie, R's rpart rule).
    Random: scikit-learn's ``node_split_best`` draw, step for step - a Fisher-Yates draw over
    the features not yet known to be constant, constants found on the way moved aside and
    handed to the children, at most ``max_features`` non-constant features visited - so that
    the first of equally good features in this order is the one scikit-learn keeps.
    """
    features, constant, state = draw.features, draw.constant, draw.state
    d = len(features)
    count = 0
    if not draw.random:
        for f in range(d):
            if _cut(vals[f, start], vals[f, end - 1]):
                visit[count] = f
                count += 1
        return count, 0
    max_features = draw.max_features
    n_found, n_drawn, n_total, f_i, n_visited = 0, 0, n_known, d, 0
    while f_i > n_total and (n_visited < max_features or n_visited <= n_found + n_drawn):
        n_visited += 1
        f_j = rand_int(n_drawn, f_i - n_found, state)
        if f_j < n_known:                              # a constant known from the parent
            features[n_drawn], features[f_j] = features[f_j], features[n_drawn]
            n_drawn += 1
            continue
        f_j += n_found
        f = features[f_j]
        if not _cut(vals[f, start], vals[f, end - 1]):  # constant here: set it aside
            features[f_j], features[n_total] = features[n_total], features[f_j]
            n_found += 1
            n_total += 1
            continue
        f_i -= 1
        features[f_i], features[f_j] = features[f_j], features[f_i]
        visit[count] = f
        count += 1
    for i in range(n_known):                           # the parent's constants, in order
        features[i] = constant[i]
    for i in range(n_known, n_known + n_found):
        constant[i] = features[i]
    return count, n_total


@njit(cache=True)
def best_split_classes(vals, order, ys, start, end, n_classes, leaf, code, total, visit, count):
    """Best split of node [start, end) for integer classes; ``total`` = the node's (weighted)
    class counts; the features ``visit[:count]`` in that order (the first of equal splits
    wins). ``leaf`` is a ``records.LeafRules``.

    The scan moves one sample at a time to the left and keeps the counts; unweighted, the
    sums of squared counts are updated with them (exact integers), weighted they are
    recomputed from the counts at each admissible cut, as scikit-learn does. (The criterion
    stays inside the scan: as a separate function, even inlined, it cost the builder a
    third of its speed.)
    Returns (feature, pos, threshold, found, ties): row[feature][start:pos] goes left.
    """
    # the rules read into locals once: a field read in the loop would be a load per step
    min_leaf, min_weight, w, weighted = leaf
    n = end - start
    w_total = 0.0
    for c in range(n_classes):
        w_total += total[c]
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties = -1, end, 0.0, False, 0
    left = np.zeros(n_classes)
    right = np.zeros(n_classes)
    total_sq = 0.0
    for c in range(n_classes):
        total_sq += total[c] * total[c]
    for i in range(count):
        f = visit[i]
        x, yc, o = vals[f], ys[f], order[f]
        left[:] = 0.0
        right[:] = total
        sq_left, sq_right, w_left = 0.0, total_sq, 0.0
        f_proxy, f_pos, f_t = -np.inf, end, 0.0
        for p in range(start + 1, end):
            c = yc[p - 1]                                    # sample p-1 moves to the left
            if weighted:
                wp = w[o[p - 1]]
                left[c] += wp
                w_left += wp
            else:
                sq_left += 2.0 * left[c] + 1.0
                sq_right -= 2.0 * right[c] - 1.0
                left[c] += 1.0
                right[c] -= 1.0
                w_left += 1.0
            if not _admissible(x, p, start, n, w_left, w_total, min_leaf, min_weight):
                continue
            w_right = w_total - w_left
            if weighted:
                sq_left, sq_right = 0.0, 0.0
                for k in range(n_classes):
                    right[k] = total[k] - left[k]
                    sq_left += left[k] * left[k]
                    sq_right += right[k] * right[k]
            if code == GINI:
                imp_l = 1.0 - sq_left / (w_left * w_left)
                imp_r = 1.0 - sq_right / (w_right * w_right)
            else:
                imp_l = class_impurity(left, w_left, code)
                imp_r = class_impurity(right, w_right, code)
            proxy = -w_right * imp_r - w_left * imp_l
            if proxy > f_proxy:
                f_proxy, f_pos = proxy, p
                f_t = np.float64(x[p - 1]) / 2.0 + np.float64(x[p]) / 2.0
        if f_proxy > best_proxy:
            best_proxy, best_f, best_pos, best_t, found, ties = f_proxy, f, f_pos, f_t, True, 0
        elif found and f_proxy == best_proxy:
            ties += 1
    return best_f, best_pos, best_t, found, ties


@njit(cache=True)
def best_split_values(vals, order, ys, start, end, leaf, code, total, w_total, visit, count,
                      med):
    """Best split of node [start, end) for a float target; ``total`` = the node's weighted sum
    and ``w_total`` its weight; the features ``visit[:count]`` in that order. ``code`` picks
    squared_error (proxy Σ_L²/w_L + Σ_R²/w_R) or absolute_error (proxy -W_R·imp_R - W_L·imp_L;
    ``med``: its ``records.MedianScratch``, the node's targets ranked by ``rank_targets``)."""
    min_leaf, min_weight, w, weighted = leaf           # into locals once (as above)
    n = end - start
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties = -1, end, 0.0, False, 0
    for i in range(count):
        f = visit[i]
        x, yv, o = vals[f], ys[f], order[f]
        if code == ABSOLUTE_ERROR:
            absolute_errors(o, start, end, w, weighted, med)
        left_err, right_err = med.left_error, med.right_error
        s_left, w_left = 0.0, 0.0
        f_proxy, f_pos, f_t = -np.inf, end, 0.0
        for p in range(start + 1, end):
            wp = w[o[p - 1]] if weighted else 1.0
            s_left += wp * yv[p - 1] if weighted else yv[p - 1]
            w_left += wp
            if not _admissible(x, p, start, n, w_left, w_total, min_leaf, min_weight):
                continue
            w_right = w_total - w_left
            if code == ABSOLUTE_ERROR:
                proxy = (-w_right * (right_err[p] / w_right)
                         - w_left * (left_err[p - 1] / w_left))
            else:
                s_right = total - s_left
                proxy = s_left * s_left / w_left + s_right * s_right / w_right
            if proxy > f_proxy:
                f_proxy, f_pos = proxy, p
                f_t = np.float64(x[p - 1]) / 2.0 + np.float64(x[p]) / 2.0
        # Sums taken in different orders differ in the last bits, so for the ``ties``
        # diagnostic two features tie when their proxies agree to 1e-12 (relative).
        near = found and abs(f_proxy - best_proxy) <= 1e-12 * abs(best_proxy)
        if f_proxy > best_proxy:
            ties = ties + 1 if near else 0
            best_proxy, best_f, best_pos, best_t, found = f_proxy, f, f_pos, f_t, True
        elif near:
            ties += 1
    return best_f, best_pos, best_t, found, ties


@njit(cache=True)
def absolute_errors(o, start, end, w, weighted, med):
    """For the samples ``o[start:end]`` in this order: ``med.left_error[p]`` = the absolute
    error of o[start:p+1] about its weighted median, ``med.right_error[p]`` = that of o[p:end]
    (``left_median``, ``right_median``: the medians). Needs the node's targets ranked by
    ``rank_targets`` first."""
    for p in range(start, end):
        s = o[p]
        med.ranks[p] = med.rank_of[s]
        med.weights[p] = w[s] if weighted else 1.0
    prefix_errors(med.ranks, med.sorted_targets, med.weights, start, end, 1, med.left_error,
                  med.left_median, med.fenwick_w, med.fenwick_wy)
    prefix_errors(med.ranks, med.sorted_targets, med.weights, end - 1, start - 1, -1,
                  med.right_error, med.right_median, med.fenwick_w, med.fenwick_wy)


@njit(cache=True)
def rank_targets(order0, ys0, start, end, med):
    """Rank node [start, end)'s targets once (equal targets in sample order):
    ``med.rank_of[sample]`` = its rank, ``med.sorted_targets[:n]`` = the sorted targets."""
    n = end - start
    y = np.empty(n)
    for p in range(start, end):
        y[p - start] = ys0[p]
    idx = np.argsort(y, kind="mergesort")
    for r in range(n):
        med.rank_of[order0[start + idx[r]]] = r
        med.sorted_targets[r] = y[idx[r]]


@njit(cache=True)
def partition(vals, order, ys, start, end, feature, pos, goes_left, buf_v, buf_o, buf_y):
    """Stably split every row's slice [start, end): left samples first, then the right ones.

    The left samples are order[feature, start:pos]; every row stays sorted.
    """
    for p in range(start, pos):
        goes_left[order[feature, p]] = True
    for p in range(pos, end):
        goes_left[order[feature, p]] = False
    for f in range(order.shape[0]):
        if f == feature:
            continue
        lo, hi = start, 0
        for p in range(start, end):
            s = order[f, p]
            if goes_left[s]:
                vals[f, lo], order[f, lo], ys[f, lo] = vals[f, p], s, ys[f, p]
                lo += 1
            else:
                buf_v[hi], buf_o[hi], buf_y[hi] = vals[f, p], s, ys[f, p]
                hi += 1
        for q in range(hi):
            vals[f, lo + q], order[f, lo + q], ys[f, lo + q] = buf_v[q], buf_o[q], buf_y[q]
