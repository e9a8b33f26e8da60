"""Growing a tree: depth-first, or best-first when max_leaf_nodes is set. StoppingRules are
pre-pruning: they decide, before a split is made, that a node stays a leaf.

The rules and the order of nodes follow scikit-learn's tree builders (depth-first: preorder,
left child first; best-first: the frontier node with the largest improvement is split next,
nodes numbered as they are created), so the same data and parameters give the same tree. The
builders are Numba kernels; ``grow`` is the Python entry point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from .criteria import CODES, SQUARED_ERROR, class_impurity, squared_error
from .splitter import best_split_classes, best_split_values, partition, presort
from .structure import Tree

EPSILON = np.finfo(np.float64).eps


@dataclass
class StoppingRules:
    """Pre-pruning. A node stays a leaf when any rule says so:

    - its depth is ``max_depth``;
    - it has fewer than ``min_samples_split`` samples (which acts as at least
      2·``min_samples_leaf``, as no split could give both sides enough);
    - its impurity is at most machine epsilon (it is pure);
    - no cut leaves ``min_samples_leaf`` samples on both sides;
    - the best split's weighted improvement N_t/N·(imp - N_R/N_t·imp_R - N_L/N_t·imp_L) is below
      ``min_impurity_decrease``;
    - best-first growth has made ``max_leaf_nodes`` leaves.
    """
    max_depth: int = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    min_impurity_decrease: float = 0.0
    max_leaf_nodes: int = None

    @property
    def depth_limit(self):
        return np.iinfo(np.int32).max if self.max_depth is None else self.max_depth

    @property
    def split_limit(self):
        return max(self.min_samples_split, 2 * self.min_samples_leaf)


@njit(cache=True)
def _summarise(ys_c, ys_r, classify, start, end, value):
    """Fill ``value`` with the node's class counts (or its target sum); return (Σy, Σy²)."""
    value[:] = 0.0
    s, sq = 0.0, 0.0
    for p in range(start, end):
        if classify:
            value[ys_c[0, p]] += 1.0
        else:
            y = ys_r[0, p]
            s += y
            sq += y * y
    if not classify:
        value[0] = s
    return s, sq


@njit(cache=True)
def _split(vals, order, ys_c, ys_r, classify, code, start, end, depth, impurity, counts,
           total, total_sq, rules, n_total, work_b, work_v, work_o, work_yc, work_yr):
    """Decide whether node [start, end) splits; if so, partition the rows.

    Returns (split?, feature, pos, threshold, impurity_left, impurity_right, improvement, ties).
    """
    max_depth, split_limit, min_leaf, min_decrease = rules
    n = end - start
    if depth >= max_depth or n < split_limit or impurity <= EPSILON:
        return False, -2, end, -2.0, impurity, impurity, 0.0, 0
    if classify:
        f, pos, t, found, ties = best_split_classes(vals, ys_c, start, end, len(counts),
                                                    int(min_leaf), code, counts)
    else:
        f, pos, t, found, ties = best_split_values(vals, ys_r, start, end, int(min_leaf), total)
    if not found:
        return False, -2, end, -2.0, impurity, impurity, 0.0, 0
    n_left = pos - start
    n_right = n - n_left
    if classify:
        left = np.zeros(len(counts))
        for p in range(start, pos):
            left[ys_c[f, p]] += 1.0
        imp_l = class_impurity(left, float(n_left), code)
        imp_r = class_impurity(counts - left, float(n_right), code)
    else:
        s_left, sq_left = 0.0, 0.0
        for p in range(start, pos):
            y = ys_r[f, p]
            s_left += y
            sq_left += y * y
        imp_l = squared_error(s_left, sq_left, float(n_left))
        imp_r = squared_error(total - s_left, total_sq - sq_left, float(n_right))
    improvement = (n / n_total) * (impurity - (n_right / n * imp_r) - (n_left / n * imp_l))
    if improvement + EPSILON < min_decrease:
        return False, -2, end, -2.0, impurity, impurity, 0.0, ties
    if classify:
        partition(vals, order, ys_c, start, end, f, pos, work_b, work_v, work_o, work_yc)
    else:
        partition(vals, order, ys_r, start, end, f, pos, work_b, work_v, work_o, work_yr)
    return True, f, pos, t, imp_l, imp_r, improvement, ties


@njit(cache=True)
def _first(gain, a, b):
    """Frontier order: the larger improvement first, then the node created earlier."""
    return gain[a] > gain[b] or (gain[a] == gain[b] and a < b)


@njit(cache=True)
def _grow(vals, order, ys_c, ys_r, classify, n_out, code, rules, max_leaves):
    """Both builders. ``max_leaves`` < 0: depth-first; else best-first with that many leaves."""
    d, n = order.shape
    cap = 2 * n
    left = np.full(cap, -1, dtype=np.int64)
    right = np.full(cap, -1, dtype=np.int64)
    feature = np.full(cap, -2, dtype=np.int64)
    threshold = np.full(cap, -2.0)
    value = np.zeros((cap, n_out))
    impurity = np.zeros(cap)
    samples = np.zeros(cap, dtype=np.int64)
    # per-node split, kept until the node is expanded (at once depth-first; when popped from
    # the frontier best-first: a node's split is found when it is created)
    start_of = np.zeros(cap, dtype=np.int64)
    end_of = np.zeros(cap, dtype=np.int64)
    depth_of = np.zeros(cap, dtype=np.int64)
    pos_of = np.zeros(cap, dtype=np.int64)
    imp_l_of = np.zeros(cap)
    imp_r_of = np.zeros(cap)
    gain_of = np.zeros(cap)
    splits = np.zeros(cap, dtype=np.bool_)
    work_b = np.zeros(n, dtype=np.bool_)
    work_v = np.empty(n, dtype=vals.dtype)
    work_o = np.empty(n, dtype=np.int64)
    work_yc = np.empty(n, dtype=ys_c.dtype)
    work_yr = np.empty(n, dtype=ys_r.dtype)
    counts = np.zeros(max(n_out, 1))
    tied = 0
    # the root's impurity is computed from scratch; children get theirs from the split
    total, total_sq = _summarise(ys_c, ys_r, classify, 0, n, counts)
    root_impurity = (class_impurity(counts, float(n), code) if classify
                     else squared_error(total, total_sq, float(n)))
    # stack (depth-first) or heap (best-first) of pending nodes:
    # (start, end, depth, parent, is_left, impurity)
    st_start = np.zeros(cap, dtype=np.int64)
    st_end = np.zeros(cap, dtype=np.int64)
    st_depth = np.zeros(cap, dtype=np.int64)
    st_parent = np.zeros(cap, dtype=np.int64)
    st_left = np.zeros(cap, dtype=np.bool_)
    st_imp = np.zeros(cap)
    heap = np.zeros(cap, dtype=np.int64)
    heap_size = 0
    top = 0
    st_start[0], st_end[0], st_depth[0], st_parent[0], st_imp[0] = 0, n, 0, -1, root_impurity
    top = 1
    node_count = 0
    budget = max_leaves - 1
    while top > 0 or heap_size > 0:
        if top > 0:                                    # create the next pending node
            top -= 1
            start, end, depth = st_start[top], st_end[top], st_depth[top]
            parent, is_left, imp = st_parent[top], st_left[top], st_imp[top]
            node = node_count
            node_count += 1
            total, total_sq = _summarise(ys_c, ys_r, classify, start, end, counts)
            if classify:
                value[node, :] = counts[:n_out]
            else:
                value[node, 0] = total / (end - start)
            impurity[node], samples[node] = imp, end - start
            if parent >= 0:
                if is_left:
                    left[parent] = node
                else:
                    right[parent] = node
            ok, f, pos, t, il, ir, gain, ties = _split(
                vals, order, ys_c, ys_r, classify, code, start, end, depth, imp, counts,
                total, total_sq, rules, float(n), work_b, work_v, work_o, work_yc, work_yr)
            tied += ties > 0
            if ok:
                feature[node], threshold[node] = f, t
            start_of[node], end_of[node], depth_of[node] = start, end, depth
            pos_of[node], imp_l_of[node], imp_r_of[node] = pos, il, ir
            gain_of[node], splits[node] = gain, ok
            if max_leaves < 0:                         # depth-first: expand at once
                if not ok:
                    continue
            else:                                      # best-first: into the frontier heap
                heap[heap_size] = node
                heap_size += 1
                i = heap_size - 1
                while i > 0 and _first(gain_of, heap[i], heap[(i - 1) // 2]):
                    up = (i - 1) // 2
                    heap[i], heap[up] = heap[up], heap[i]
                    i = up
                continue
        else:
            node = heap[0]                             # best-first: pop the largest gain
            heap_size -= 1
            heap[0] = heap[heap_size]
            i = 0
            while 2 * i + 1 < heap_size:
                c = 2 * i + 1
                if c + 1 < heap_size and _first(gain_of, heap[c + 1], heap[c]):
                    c += 1
                if not _first(gain_of, heap[c], heap[i]):
                    break
                heap[i], heap[c] = heap[c], heap[i]
                i = c
            if not splits[node] or budget <= 0:
                feature[node], threshold[node] = -2, -2.0  # stays a leaf
                continue
            budget -= 1
        # Expand ``node``: push the right child, then the left, so the left is created first.
        for child_left in (False, True):
            st_start[top] = start_of[node] if child_left else pos_of[node]
            st_end[top] = pos_of[node] if child_left else end_of[node]
            st_depth[top], st_parent[top] = depth_of[node] + 1, node
            st_left[top] = child_left
            st_imp[top] = imp_l_of[node] if child_left else imp_r_of[node]
            top += 1
    k = node_count
    return (left[:k], right[:k], feature[:k], threshold[:k], value[:k], impurity[:k],
            samples[:k], tied)


def grow(X, y, criterion, n_classes, rules):
    """Grow a tree on X (n, d) float32 and y (int classes or float values).

    Returns ``(tree, tied_splits)``: the ``Tree`` and how many of its splits were chosen among
    several equally good features (by the lowest index).
    """
    XT = np.ascontiguousarray(X.T, dtype=np.float32)
    classify = criterion != "squared_error"
    ys_in = y.astype(np.int64 if classify else np.float64)
    vals, order, ys = presort(XT, ys_in)
    empty_c = np.zeros((1, 1), dtype=np.int64)
    empty_r = np.zeros((1, 1), dtype=np.float64)
    ys_c, ys_r = (ys, empty_r) if classify else (empty_c, ys)
    packed = (float(rules.depth_limit), float(rules.split_limit), float(rules.min_samples_leaf),
              float(rules.min_impurity_decrease))
    *arrays, tied = _grow(vals, order, ys_c, ys_r, classify, n_classes if classify else 1,
                          CODES[criterion] if classify else SQUARED_ERROR, packed,
                          -1 if rules.max_leaf_nodes is None else rules.max_leaf_nodes)
    return Tree(*arrays), int(tied)
