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
Features are visited in the order ``visit.visit_order`` draws (scikit-learn's random order, or
index order); ties go to the first candidate found: the first feature visited, then the lowest
threshold; ``ties`` reports how many other features were as good.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .criteria import ABSOLUTE_ERROR, GINI, class_impurity
from .median import absolute_errors
from .records import Cut

FEATURE_THRESHOLD = 1e-7


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
def may_cut(a, b):
    """Whether a cut may fall between consecutive sorted values a <= b: b > a + 1e-7, the sum
    taken in float32 as scikit-learn takes it (in float64 two values one float32 ulp apart
    near 1 could be cut, which scikit-learn never does)."""
    return np.float32(b) > np.float32(a) + np.float32(FEATURE_THRESHOLD)


@njit(cache=True, inline="always")
def _admissible(x, p, n_left, n_right, w_left, w_total, min_leaf, min_weight):
    """The rules every candidate cut before position p obeys, in both searches: the values
    on either side differ (``may_cut``), each side keeps ``min_leaf`` of the samples (``n_left``,
    ``n_right``, missing ones included) and ``min_weight`` of the weight (``w_left`` of
    ``w_total`` goes left)."""
    if not may_cut(x[p - 1], x[p]):
        return False
    if n_left < min_leaf or n_right < min_leaf:
        return False
    return w_left >= min_weight and w_total - w_left >= min_weight


@njit(cache=True, inline="always")
def _threshold(a, b):
    """scikit-learn's threshold between sorted float32 values a < b: a/2 + b/2 in float64,
    or a itself where that rounds to b."""
    t = np.float64(a) / 2.0 + np.float64(b) / 2.0
    return np.float64(a) if t == np.float64(b) else t


@njit(cache=True)
def present_end(x, start, end):
    """Where the missing values (NaN, sorted last) of a node's slice [start, end) of one
    feature's row begin: the end of its present values."""
    p = end
    while p > start and np.isnan(x[p - 1]):
        p -= 1
    return p


@njit(cache=True)
def _scan_classes(x, yc, o, start, end_present, end, leaf, code, total, w_total, miss, w_miss,
                  missing_left, left, right):
    """One pass over the cuts of one feature of node [start, end) for integer classes, the
    missing rows [end_present, end) on the left (``missing_left``) or on the right; ``miss``:
    their (weighted) class counts. Returns the pass's best (proxy, pos, threshold, n_left,
    n_right); proxy -inf: no admissible cut.

    The scan moves one sample at a time to the left and keeps the counts; unweighted, the
    sums of squared counts are updated with them (exact integers), weighted they are
    recomputed from the counts at each admissible cut, as scikit-learn does. (The criterion
    stays inside the scan: as a separate function, even inlined, it cost the builder a
    third of its speed.)"""
    min_leaf, min_weight, w, weighted = leaf   # into locals once: a field read is a load a step
    n_classes = len(total)
    n_missing = end - end_present
    extra_left = n_missing if missing_left else 0
    extra_right = n_missing - extra_left
    w_left = w_miss if missing_left else 0.0
    sq_left, sq_right = 0.0, 0.0
    for c in range(n_classes):
        left[c] = miss[c] if missing_left else 0.0
        right[c] = total[c] - left[c]
        sq_left += left[c] * left[c]
        sq_right += right[c] * right[c]
    best, best_pos, best_t, best_nl, best_nr = -np.inf, end, 0.0, 0, 0
    for p in range(start + 1, end_present):
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
        n_left, n_right = p - start + extra_left, end_present - p + extra_right
        if not _admissible(x, p, n_left, n_right, w_left, w_total, min_leaf, min_weight):
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
        if proxy > best:
            best, best_pos, best_t = proxy, p, _threshold(x[p - 1], x[p])
            best_nl, best_nr = n_left, n_right
    return best, best_pos, best_t, best_nl, best_nr


@njit(cache=True)
def _present_versus_missing(start, end_present, end, w_total, w_missing, leaf):
    """Whether the cut that sends the present values left and the missing ones right keeps
    ``min_samples_leaf`` and ``min_weight`` on both sides; and the weights (left, right) as
    scikit-learn forms them (left = total - missing, right = total - left)."""
    w_left = w_total - w_missing
    w_right = w_total - w_left
    ok = (end_present - start >= leaf.min_samples and end - end_present >= leaf.min_samples
          and w_left >= leaf.min_weight and w_right >= leaf.min_weight)
    return ok, w_left, w_right


@njit(cache=True)
def best_split_classes(vals, order, ys, start, end, n_classes, leaf, code, total, visit, count):
    """Best split of node [start, end) for integer classes; ``total`` = the node's (weighted)
    class counts; the features ``visit[:count]`` in that order (the first of equal splits
    wins). ``leaf`` is a ``records.LeafRules``.

    scikit-learn's search with missing values (NaN, sorted to the end of each row), in its
    order: a feature with missing values in the node is scanned with its missing rows on the
    right, then the cut that sends every present value left and the missing ones right
    (threshold +inf) is tried, then the scan is repeated with the missing rows on the left;
    the first best wins. A feature with none sends them, at predict, to the
    side with more samples. Returns a ``records.Cut``.
    """
    w, weighted = leaf.sample_weight, leaf.weighted
    w_total = 0.0
    for c in range(n_classes):
        w_total += total[c]
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties, best_missing_left, best_n_left = -1, end, 0.0, 0, 0, 0, 0
    left, right = np.zeros(n_classes), np.zeros(n_classes)
    miss = np.zeros(n_classes)
    for i in range(count):
        f = visit[i]
        x, yc, o = vals[f], ys[f], order[f]
        end_present = present_end(x, start, end)
        miss[:] = 0.0
        w_miss = 0.0
        for p in range(end_present, end):
            wp = w[o[p]] if weighted else 1.0
            miss[yc[p]] += wp
            w_miss += wp
        f_proxy, f_pos, f_t, n_left, n_right = _scan_classes(
            x, yc, o, start, end_present, end, leaf, code, total, w_total, miss, w_miss, False,
            left, right)
        f_missing_left = n_left > n_right
        if end_present < end:
            f_missing_left = False
            ok, w_left, w_right = _present_versus_missing(start, end_present, end, w_total,
                                                          w_miss, leaf)
            if ok:
                for k in range(n_classes):
                    left[k] = total[k] - miss[k]
                    right[k] = total[k] - left[k]
                proxy = (-w_right * class_impurity(right, w_right, code)
                         - w_left * class_impurity(left, w_left, code))
                if proxy > f_proxy:
                    f_proxy, f_pos, f_t = proxy, end_present, np.inf
            proxy, pos, t, nl, nr = _scan_classes(x, yc, o, start, end_present, end, leaf, code,
                                                  total, w_total, miss, w_miss, True, left,
                                                  right)
            if proxy > f_proxy:
                f_proxy, f_pos, f_t, f_missing_left = proxy, pos, t, True
        if f_proxy > best_proxy:
            best_proxy, best_f, best_pos, best_t, found, ties = f_proxy, f, f_pos, f_t, 1, 0
            best_missing_left = int(f_missing_left)
            best_n_left = f_pos - start + (end - end_present if f_missing_left else 0)
        elif found and f_proxy == best_proxy:
            ties += 1
    return Cut(best_f, best_pos, best_t, found, ties, best_missing_left, best_n_left)


@njit(cache=True)
def _scan_values(x, yv, o, start, end_present, end, leaf, code, total, w_total, s_miss, w_miss,
                 missing_left, med):
    """One pass over the cuts of one feature for a float target (as ``_scan_classes``);
    ``s_miss``, ``w_miss``: the missing rows' Σw·y and Σw. For absolute_error, ``med`` holds
    the errors of the prefixes and suffixes in this pass's order (``_order_errors``)."""
    min_leaf, min_weight, w, weighted = leaf           # into locals once (as above)
    n_missing = end - end_present
    extra_left = n_missing if missing_left else 0
    extra_right = n_missing - extra_left
    shift = extra_left                 # absolute_error: the pass's order puts missing first
    left_err, right_err = med.left_error, med.right_error
    s_left, w_left = (s_miss, w_miss) if missing_left else (0.0, 0.0)
    best, best_pos, best_t, best_nl, best_nr = -np.inf, end, 0.0, 0, 0
    for p in range(start + 1, end_present):
        wp = w[o[p - 1]] if weighted else 1.0
        s_left += wp * yv[p - 1] if weighted else yv[p - 1]
        w_left += wp
        n_left, n_right = p - start + extra_left, end_present - p + extra_right
        if not _admissible(x, p, n_left, n_right, w_left, w_total, min_leaf, min_weight):
            continue
        w_right = w_total - w_left
        if code == ABSOLUTE_ERROR:
            proxy = (-w_right * (right_err[p + shift] / w_right)
                     - w_left * (left_err[p + shift - 1] / w_left))
        else:
            s_right = total - s_left
            proxy = s_left * s_left / w_left + s_right * s_right / w_right
        if proxy > best:
            best, best_pos, best_t = proxy, p, _threshold(x[p - 1], x[p])
            best_nl, best_nr = n_left, n_right
    return best, best_pos, best_t, best_nl, best_nr


@njit(cache=True)
def scan_order(o, start, end_present, end, missing_left, out):
    """``out[start:end]``: the node's samples in a pass's order - as sorted (missing last), or
    with the missing ones first."""
    n_missing = end - end_present
    if missing_left:
        for q in range(n_missing):
            out[start + q] = o[end_present + q]
        for p in range(start, end_present):
            out[p + n_missing] = o[p]
    else:
        for p in range(start, end):
            out[p] = o[p]


@njit(cache=True)
def best_split_values(vals, order, ys, start, end, leaf, code, total, w_total, visit, count,
                      med):
    """Best split of node [start, end) for a float target; ``total`` = the node's weighted sum
    and ``w_total`` its weight; the features ``visit[:count]`` in that order; missing values
    as ``best_split_classes`` handles them. ``code`` picks squared_error (proxy
    Σ_L²/w_L + Σ_R²/w_R) or absolute_error (proxy -W_R·imp_R - W_L·imp_L; ``med``: its
    ``records.MedianScratch``, the node's targets ranked by ``rank_targets``). Returns a
    ``records.Cut``."""
    w, weighted = leaf.sample_weight, leaf.weighted
    best_proxy = -np.inf
    best_f, best_pos, best_t, found, ties, best_missing_left, best_n_left = -1, end, 0.0, 0, 0, 0, 0
    scan = np.empty(order.shape[1] if code == ABSOLUTE_ERROR else 0, dtype=np.int64)
    for i in range(count):
        f = visit[i]
        x, yv, o = vals[f], ys[f], order[f]
        end_present = present_end(x, start, end)
        s_miss, w_miss = 0.0, 0.0
        for p in range(end_present, end):
            wp = w[o[p]] if weighted else 1.0
            s_miss += wp * yv[p] if weighted else yv[p]
            w_miss += wp
        if code == ABSOLUTE_ERROR:
            absolute_errors(o, start, end, w, weighted, med)
        f_proxy, f_pos, f_t, n_left, n_right = _scan_values(
            x, yv, o, start, end_present, end, leaf, code, total, w_total, s_miss, w_miss,
            False, med)
        f_missing_left = n_left > n_right
        if end_present < end:
            # the last cut first: absolute_error's errors are those of the sorted order now
            ok, w_left, w_right = _present_versus_missing(start, end_present, end, w_total,
                                                          w_miss, leaf)
            last = -np.inf
            if ok and code == ABSOLUTE_ERROR:
                last = (-w_right * (med.right_error[end_present] / w_right)
                        - w_left * (med.left_error[end_present - 1] / w_left))
            elif ok:
                s_left = total - s_miss
                s_right = total - s_left
                last = s_left * s_left / w_left + s_right * s_right / w_right
            if code == ABSOLUTE_ERROR:
                scan_order(o, start, end_present, end, True, scan)
                absolute_errors(scan, start, end, w, weighted, med)
            f_missing_left = False
            if last > f_proxy:
                f_proxy, f_pos, f_t = last, end_present, np.inf
            proxy, pos, t, nl, nr = _scan_values(x, yv, o, start, end_present, end, leaf, code,
                                                 total, w_total, s_miss, w_miss, True, med)
            if proxy > f_proxy:
                f_proxy, f_pos, f_t, f_missing_left = proxy, pos, t, True
        # Sums taken in different orders differ in the last bits, so for the ``ties``
        # diagnostic two features tie when their proxies agree to 1e-12 (relative).
        near = found and abs(f_proxy - best_proxy) <= 1e-12 * abs(best_proxy)
        if f_proxy > best_proxy:
            ties = ties + 1 if near else 0
            best_proxy, best_f, best_pos, best_t, found = f_proxy, f, f_pos, f_t, 1
            best_missing_left = int(f_missing_left)
            best_n_left = f_pos - start + (end - end_present if f_missing_left else 0)
        elif near:
            ties += 1
    return Cut(best_f, best_pos, best_t, found, ties, best_missing_left, best_n_left)


@njit(cache=True)
def partition(vals, order, ys, start, end, cut, goes_left, buf_v, buf_o, buf_y):
    """Stably split every row's slice [start, end) by the ``records.Cut``: left samples first,
    then the right ones; every row stays sorted, its missing values last.

    The left samples are those before ``cut.pos`` in the cut feature's row, and its missing
    ones when ``cut.missing_left``.
    """
    f = cut.feature
    for p in range(start, end):
        s = order[f, p]
        goes_left[s] = p < cut.pos or (cut.missing_left == 1 and np.isnan(vals[f, p]))
    for g in range(order.shape[0]):
        if g == f and cut.missing_left == 0:          # already in place
            continue
        lo, hi = start, 0
        for p in range(start, end):
            s = order[g, p]
            if goes_left[s]:
                vals[g, lo], order[g, lo], ys[g, lo] = vals[g, p], s, ys[g, p]
                lo += 1
            else:
                buf_v[hi], buf_o[hi], buf_y[hi] = vals[g, p], s, ys[g, p]
                hi += 1
        for q in range(hi):
            vals[g, lo + q], order[g, lo + q], ys[g, lo + q] = buf_v[q], buf_o[q], buf_y[q]
