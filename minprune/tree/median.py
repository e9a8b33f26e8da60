"""Weighted medians and absolute errors of every prefix of a sequence, for ``absolute_error``.

scikit-learn's method (its ``MAE`` criterion, version 1.8 on): the node's targets are ranked
once; walking the samples in a feature's order, each is "activated" at its rank in a Fenwick
tree holding prefix sums of w and w·y; the weighted median of the activated set is where the
cumulative weight crosses half the total (the mid-point of two values when it lands exactly on
half), and its absolute error follows from the pinball identity

    Σ w|y - m| = (Σ_{y>=m} w·y - m·Σ_{y>=m} w) + (m·Σ_{y<m} w - Σ_{y<m} w·y).

A forward walk gives every left child's error, a backward walk every right child's:
O(n log n) for all cut positions of a feature. The search is scikit-learn's, step for step.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit


@njit(cache=True)
def fenwick_add(tree_w, tree_wy, size, idx, y, w):
    """Activate a sample of weight w and target y at 0-based rank ``idx``."""
    wy = w * y
    i = idx + 1
    while i <= size:
        tree_w[i] += w
        tree_wy[i] += wy
        i += i & -i
    return wy


@njit(cache=True)
def fenwick_search(tree_w, tree_wy, size, max_pow2, target):
    """The smallest rank whose cumulative weight exceeds ``target``: (rank, weight and w·y
    before it, the previous activated rank - a different one only when the cumulative weight
    equals ``target`` exactly at a boundary)."""
    current, cw, cwy = 0, 0.0, 0.0
    bit = max_pow2
    equal_bit, equal_target = 0, 0.0
    while bit != 0:
        nxt = current + bit
        if nxt <= size:
            node_w = tree_w[nxt]
            if target == node_w:
                equal_target, equal_bit = target, bit
                break
            elif target > node_w:
                target -= node_w
                current = nxt
                cw += node_w
                cwy += tree_wy[nxt]
        bit >>= 1
    if bit == 0:
        return current, cw, cwy, current
    prev = current                              # exact match: find the previous rank
    while bit != 0:
        nxt = prev + bit
        if nxt <= size:
            node_w = tree_w[nxt]
            if target > node_w:
                target -= node_w
                prev = nxt
        bit >>= 1
    bit, target = equal_bit, equal_target
    while bit != 0:
        nxt = current + bit
        if nxt <= size:
            node_w = tree_w[nxt]
            if target >= node_w:
                target -= node_w
                current = nxt
                cw += node_w
                cwy += tree_wy[nxt]
        bit >>= 1
    return current, cw, cwy, prev


@njit(cache=True)
def prefix_errors(ranks, sorted_y, weights, first, last, step, errors, medians, tree_w, tree_wy):
    """Walk positions first, first + step, ..., last - step (``ranks[p]`` is the rank of the
    sample at p, ``weights[p]`` its weight); after each, store the weighted median and the
    absolute error of the samples walked so far at that position."""
    n = abs(last - first)
    tree_w[:n + 1] = 0.0
    tree_wy[:n + 1] = 0.0
    max_pow2 = 1
    while max_pow2 <= n:
        max_pow2 <<= 1
    max_pow2 >>= 1
    total_w, total_wy = 0.0, 0.0
    p = first
    for _ in range(n):
        r = ranks[p]
        w = weights[p]
        total_wy += fenwick_add(tree_w, tree_wy, n, r, sorted_y[r], w)
        total_w += w
        rank, w_left, wy_left, prev = fenwick_search(tree_w, tree_wy, n, max_pow2,
                                                     0.5 * total_w)
        if rank != prev:
            median = (sorted_y[prev] + sorted_y[rank]) / 2
        else:
            median = sorted_y[rank]
        w_right = total_w - w_left
        wy_right = total_wy - wy_left
        medians[p] = median
        errors[p] = (wy_right - median * w_right) + (median * w_left - wy_left)
        p += step


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


def weighted_median(y, w):
    """The weighted median as the criterion defines it (a plain reference for tests)."""
    o = np.argsort(y, kind="mergesort")
    y, w = np.asarray(y, dtype=np.float64)[o], np.asarray(w, dtype=np.float64)[o]
    c = np.cumsum(w)
    half = 0.5 * c[-1]
    k = int(np.searchsorted(c, half, side="right"))
    if k > 0 and c[k - 1] == half:
        prev = k - 1
        while prev > 0 and w[prev] == 0:
            prev -= 1
        return (y[prev] + y[k]) / 2
    return y[k]
