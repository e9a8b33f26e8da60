"""Which features a node's split search visits, in what order: scikit-learn's random draw
(its xorshift ``rand_int``, its Fisher-Yates walk over the features not known to be
constant), or every non-constant feature by index. Numba kernels."""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .splitter import may_cut, present_end

RAND_R_MAX = 0x7FFFFFFF                    # scikit-learn's bound for its rand_r draws


@njit(cache=True)
def _constant(x, start, end):
    """Whether a feature cannot split node [start, end) (its slice ``x[start:end]``, missing
    values last): missing throughout, or one present value and none missing. (One present
    value and some missing can still split: present against missing.)"""
    end_present = present_end(x, start, end)
    if end_present == start:
        return True
    return end_present == end and not may_cut(x[start], x[end - 1])


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
            if not _constant(vals[f], start, end):
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
        if _constant(vals[f], start, end):                # set it aside
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
