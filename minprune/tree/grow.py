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

from ..jit import njit
from .criteria import (ABSOLUTE_ERROR, CLASSIFICATION as CLASSIFY, CODES, class_impurity,
                       squared_error)
from .frontier import pop, push
from .records import (FeatureDraw, LeafRules, Nodes, NodeSums, PartitionBuffers, Pending,
                      Split, Splits, StopRules, median_scratch)
from .median import absolute_errors, rank_targets
from .splitter import (best_split_classes, best_split_values, partition, present_end, presort,
                       scan_order)
from .structure import LEAF, Tree
from .visit import visit_order

EPSILON = np.finfo(np.float64).eps
# Why a node is a leaf (its ``Tree.stop_reason``); 0: it splits. In the order they are tested.
SPLIT, DEPTH, SAMPLES, WEIGHT, PURE, NO_SPLIT, DECREASE, MAX_LEAVES = range(8)   # PRUNED: 8
STOP_REASONS = ("split", "max_depth reached", "too few samples to split (min_samples_split, "
                "or 2 x min_samples_leaf)", "too little weight (2 x min_weight_fraction_leaf)",
                "pure (impurity 0)", "no valid cut (min_samples_leaf / min_weight on both "
                "sides, or every feature constant)", "best improvement below "
                "min_impurity_decrease", "max_leaf_nodes reached", "pruned after growth")


@dataclass
class StoppingRules:
    """Pre-pruning. A node stays a leaf when any rule says so:

    - its depth is ``max_depth``;
    - it has fewer than ``min_samples_split`` samples (which acts as at least
      2·``min_samples_leaf``, as no split could give both sides enough), or less than twice
      ``min_weight_fraction_leaf`` of the total sample weight;
    - its impurity is at most machine epsilon (it is pure);
    - no cut leaves ``min_samples_leaf`` samples and that fraction of the weight on both sides;
    - the best split's weighted improvement W_t/W·(imp - W_R/W_t·imp_R - W_L/W_t·imp_L) is below
      ``min_impurity_decrease`` (W: sums of sample weights, sample counts without weights);
    - best-first growth has made ``max_leaf_nodes`` leaves.
    """
    max_depth: int = None
    min_samples_split: int = 2
    min_samples_leaf: int = 1
    min_impurity_decrease: float = 0.0
    max_leaf_nodes: int = None
    min_weight_fraction_leaf: float = 0.0

    @property
    def depth_limit(self):
        return np.iinfo(np.int32).max if self.max_depth is None else self.max_depth

    @property
    def split_limit(self):
        return max(self.min_samples_split, 2 * self.min_samples_leaf)


@njit(cache=True)
def _summarise(order0, ys_c, ys_r, classify, start, end, value, leaf):
    """Fill ``value`` with the node's (weighted) class counts; return its ``NodeSums``, summed
    in the order scikit-learn accumulates them (w·y first, then times y)."""
    w, weighted = leaf.sample_weight, leaf.weighted
    value[:] = 0.0
    s, sq, wn = 0.0, 0.0, 0.0
    for p in range(start, end):
        wp = w[order0[p]] if weighted else 1.0
        wn += wp
        if classify:
            value[ys_c[0, p]] += wp
        else:
            wy = wp * ys_r[0, p]
            s += wy
            sq += wy * ys_r[0, p]
    return NodeSums(s, sq, wn)


@njit(cache=True)
def _children(vals, order, ys_c, ys_r, classify, code, start, end, cut, counts, sums, leaf,
              med):
    """(impurity left, impurity right, weight left, weight right) of ``cut`` (a
    ``records.Cut``) of node [start, end); ``sums``: the node's ``NodeSums``. The left sums
    start from the missing rows when they go left (scikit-learn's criterion reset), then add
    the present values left of the cut."""
    w, weighted = leaf.sample_weight, leaf.weighted
    f = cut.feature
    o, x = order[f], vals[f]
    end_present = present_end(x, start, end)
    lo = end_present if cut.missing_left else end        # the missing rows going left
    w_left = 0.0
    if classify:
        left = np.zeros(len(counts))
        for q in range(lo, end + cut.pos - start):
            p = q if q < end else start + q - end
            wp = w[o[p]] if weighted else 1.0
            left[ys_c[f, p]] += wp
            w_left += wp
        w_right = sums.weight - w_left
        return (class_impurity(left, w_left, code),
                class_impurity(counts - left, w_right, code), w_left, w_right)
    if code == ABSOLUTE_ERROR:
        for q in range(lo, end + cut.pos - start):
            p = q if q < end else start + q - end
            w_left += w[o[p]] if weighted else 1.0
        w_right = sums.weight - w_left
        scan = np.empty(len(o), dtype=np.int64)
        scan_order(o, start, end_present, end, cut.missing_left == 1, scan)
        absolute_errors(scan, start, end, w, weighted, med)
        n_left = cut.n_left
        return (med.left_error[start + n_left - 1] / w_left,
                med.right_error[start + n_left] / w_right, w_left, w_right)
    s_left, sq_left = 0.0, 0.0
    for q in range(lo, end + cut.pos - start):
        p = q if q < end else start + q - end
        wp = w[o[p]] if weighted else 1.0
        wy = wp * ys_r[f, p]
        s_left += wy
        sq_left += wy * ys_r[f, p]
        w_left += wp
    w_right = sums.weight - w_left
    return (squared_error(s_left, sq_left, w_left),
            squared_error(sums.total - s_left, sums.total_sq - sq_left, w_right), w_left,
            w_right)


@njit(cache=True)
def _split(vals, order, ys_c, ys_r, classify, code, start, end, depth, impurity, counts, sums,
           rules, w_all, buffers, draw, n_known, visit, leaf, med):
    """Decide whether node [start, end) splits; if so, partition the rows. ``sums``: the
    node's ``NodeSums``; ``rules``: the ``StopRules``. Returns a ``Split``."""
    n = end - start
    reason = (DEPTH if depth >= rules.max_depth else SAMPLES if n < rules.split_limit
              else WEIGHT if sums.weight < 2.0 * rules.min_weight
              else PURE if impurity <= EPSILON else SPLIT)
    if reason != SPLIT:
        return Split(reason, -2, end, -2.0, impurity, impurity, 0.0, 0, n_known, 0)
    count, n_constants = visit_order(vals, start, end, draw, n_known, visit)
    if classify:
        cut = best_split_classes(vals, order, ys_c, start, end, len(counts), leaf, code, counts,
                                 visit, count)
    else:
        cut = best_split_values(vals, order, ys_r, start, end, leaf, code, sums.total,
                                sums.weight, visit, count, med)
    if not cut.found:
        return Split(NO_SPLIT, -2, end, -2.0, impurity, impurity, 0.0, 0, n_constants, 0)
    imp_l, imp_r, w_left, w_right = _children(vals, order, ys_c, ys_r, classify, code, start,
                                              end, cut, counts, sums, leaf, med)
    wn = sums.weight
    improvement = (wn / w_all) * (impurity - (w_right / wn * imp_r) - (w_left / wn * imp_l))
    if improvement + EPSILON < rules.min_impurity_decrease:
        return Split(DECREASE, -2, end, -2.0, impurity, impurity, 0.0, cut.ties, n_constants,
                     0)
    b = buffers
    if classify:             # two calls: the class and the float targets are different types
        partition(vals, order, ys_c, start, end, cut, b.goes_left, b.values, b.samples,
                  b.classes)
    else:
        partition(vals, order, ys_r, start, end, cut, b.goes_left, b.values, b.samples,
                  b.targets)
    return Split(SPLIT, cut.feature, start + cut.n_left, cut.threshold, imp_l, imp_r,
                 improvement, cut.ties, n_constants, cut.missing_left)


@njit(cache=True)
def _new_nodes(cap, n_out):
    """An empty ``Nodes`` table for ``cap`` nodes."""
    return Nodes(np.full(cap, -1, dtype=np.int64), np.full(cap, -1, dtype=np.int64),
                 np.full(cap, -2, dtype=np.int64), np.full(cap, -2.0), np.zeros((cap, n_out)),
                 np.zeros(cap), np.zeros(cap, dtype=np.int64), np.zeros(cap),
                 np.zeros(cap, dtype=np.int8), np.zeros(cap, dtype=np.int8))


@njit(cache=True)
def _new_pending(cap):
    """An empty ``Pending`` stack."""
    return Pending(np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
                   np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
                   np.zeros(cap, dtype=np.bool_), np.zeros(cap), np.zeros(cap, dtype=np.int64))


@njit(cache=True)
def _new_splits(cap):
    """An empty ``Splits`` table."""
    return Splits(np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
                  np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64), np.zeros(cap),
                  np.zeros(cap), np.zeros(cap), np.zeros(cap, dtype=np.bool_),
                  np.zeros(cap, dtype=np.int64))


@njit(cache=True)
def _new_buffers(n, vals, ys_c, ys_r):
    """``PartitionBuffers`` for ``n`` samples."""
    return PartitionBuffers(np.zeros(n, dtype=np.bool_), np.empty(n, dtype=vals.dtype),
                            np.empty(n, dtype=np.int64), np.empty(n, dtype=ys_c.dtype),
                            np.empty(n, dtype=ys_r.dtype))


@njit(cache=True)
def _node_summary(order, ys_c, ys_r, classify, code, start, end, counts, leaf, med):
    """(``NodeSums``, value, impurity) of node [start, end); ``counts`` receives its class
    counts. For absolute_error the value is the weighted median, and the node's targets are
    ranked for its split search."""
    sums = _summarise(order[0], ys_c, ys_r, classify, start, end, counts, leaf)
    if classify:
        return sums, 0.0, class_impurity(counts, sums.weight, code)
    if code == ABSOLUTE_ERROR:
        rank_targets(order[0], ys_r[0], start, end, med)
        absolute_errors(order[0], start, end, leaf.sample_weight, leaf.weighted, med)
        return sums, med.right_median[start], med.right_error[start] / sums.weight
    return (sums, sums.total / sums.weight,
            squared_error(sums.total, sums.total_sq, sums.weight))


@njit(cache=True)
def _create(node, pending, top, nodes, splits, vals, order, ys_c, ys_r, classify, n_out, code,
            rules, w_all, counts, buffers, draw, visit, leaf, med):
    """Create the node on top of ``pending``: its value, impurity, size and link from its
    parent; then find (and, if it splits, apply) its split, kept in ``splits``. The root's
    impurity is computed from its samples, every other node's comes from its parent's split
    (as scikit-learn's). Returns the number of tied features of that split."""
    start, end, parent = pending.start[top], pending.end[top], pending.parent[top]
    sums, mean, own = _node_summary(order, ys_c, ys_r, classify, code, start, end, counts,
                                    leaf, med)
    impurity = own if parent < 0 else pending.impurity[top]
    if classify:
        nodes.value[node, :] = counts[:n_out]
    else:
        nodes.value[node, 0] = mean
    nodes.impurity[node], nodes.n_samples[node] = impurity, end - start
    nodes.weighted_n_samples[node] = sums.weight
    if parent >= 0:
        if pending.is_left[top]:
            nodes.left[parent] = node
        else:
            nodes.right[parent] = node
    split = _split(vals, order, ys_c, ys_r, classify, code, start, end, pending.depth[top],
                   impurity, counts, sums, rules, w_all, buffers, draw, pending.n_constants[top],
                   visit, leaf, med)
    ok = split.reason == SPLIT
    nodes.stop_reason[node] = split.reason
    if ok:
        nodes.feature[node], nodes.threshold[node] = split.feature, split.threshold
        nodes.missing_left[node] = split.missing_left
    splits.start[node], splits.end[node], splits.depth[node] = start, end, pending.depth[top]
    splits.pos[node], splits.ok[node] = split.pos, ok
    splits.impurity_left[node] = split.impurity_left
    splits.impurity_right[node] = split.impurity_right
    splits.neg_improvement[node] = -split.improvement
    splits.n_constants[node] = split.n_constants
    return split.ties


@njit(cache=True)
def _push_children(pending, top, splits, node, pass_constants):
    """Push the right child, then the left, so that the left is created first. The children
    learn the parent's constant features (depth-first only, as in scikit-learn's builders)."""
    for child_left in (False, True):
        pending.start[top] = splits.start[node] if child_left else splits.pos[node]
        pending.end[top] = splits.pos[node] if child_left else splits.end[node]
        pending.depth[top], pending.parent[top] = splits.depth[node] + 1, node
        pending.is_left[top] = child_left
        pending.impurity[top] = (splits.impurity_left[node] if child_left
                                 else splits.impurity_right[node])
        pending.n_constants[top] = splits.n_constants[node] if pass_constants else 0
        top += 1
    return top


@njit(cache=True)
def _grow(vals, order, ys_c, ys_r, classify, n_out, code, rules, max_leaves, draw, leaf):
    """Both builders. ``max_leaves`` < 0: depth-first (preorder); else best-first, the frontier
    node with the largest improvement split next (ties: as scikit-learn's std heap has them),
    until ``max_leaves`` leaves. ``rules``: ``StopRules``; ``draw``: ``FeatureDraw``;
    ``leaf``: ``LeafRules``. Returns (the ``Nodes`` table cut to size, tied splits)."""
    n = order.shape[1]
    cap = 2 * n
    nodes = _new_nodes(cap, n_out)
    pending, splits = _new_pending(cap), _new_splits(cap)
    buffers = _new_buffers(n, vals, ys_c, ys_r)
    counts = np.zeros(max(n_out, 1))
    visit = np.empty(vals.shape[0], dtype=np.int64)
    med = median_scratch(n + 1 if code == ABSOLUTE_ERROR else 1)
    w_all = 0.0
    for i in range(n):
        w_all += leaf.sample_weight[i] if leaf.weighted else 1.0
    pending.end[0], pending.parent[0] = n, -1
    top, node_count, tied = 1, 0, 0
    frontier = np.zeros(cap, dtype=np.int64)          # best-first: a heap by improvement
    gains = np.zeros(cap)
    size, budget = 0, max_leaves - 1
    while top > 0 or size > 0:
        if top > 0:
            top -= 1
            node = node_count
            node_count += 1
            tied += _create(node, pending, top, nodes, splits, vals, order, ys_c, ys_r,
                            classify, n_out, code, rules, w_all, counts, buffers, draw, visit,
                            leaf, med) > 0
            if max_leaves >= 0:
                gains[node] = -splits.neg_improvement[node]
                size = push(frontier, gains, node, size)
                continue
            if not splits.ok[node]:
                continue
        else:
            node = pop(frontier, gains, size)
            size -= 1
            if not splits.ok[node] or budget <= 0:
                nodes.feature[node], nodes.threshold[node] = -2, -2.0     # stays a leaf
                nodes.missing_left[node] = 0
                if splits.ok[node]:
                    nodes.stop_reason[node] = MAX_LEAVES
                continue
            budget -= 1
        top = _push_children(pending, top, splits, node, max_leaves < 0)
    k = node_count
    return Nodes(nodes.left[:k], nodes.right[:k], nodes.feature[:k], nodes.threshold[:k],
                 nodes.value[:k], nodes.impurity[:k], nodes.n_samples[:k],
                 nodes.weighted_n_samples[:k], nodes.stop_reason[:k],
                 nodes.missing_left[:k]), tied


def grow(X, y, criterion, n_classes, rules, seed=None, max_features=None, sample_weight=None):
    """Grow a tree on X (n, d) float32 and y (int classes or float values).

    ``seed`` None: every feature is searched in index order, the lowest index winning a tie
    (rpart's rule). An int in [0, 2^31 - 1): scikit-learn's random feature order seeded with
    it (its splitter's ``rand_r_state``), ``max_features`` features a node at most.
    ``sample_weight``: None or non-negative weights; as in scikit-learn, samples of weight 0
    take no part (they are not counted in ``n_node_samples``).

    Returns ``(tree, tied_splits)``: the ``Tree`` and how many of its splits were chosen among
    several equally good features.
    """
    classify = criterion in CLASSIFY
    w_all = float(len(X)) if sample_weight is None else float(np.sum(sample_weight))
    min_weight = rules.min_weight_fraction_leaf * w_all
    if sample_weight is not None:
        keep = sample_weight != 0
        X, y, sample_weight = X[keep], y[keep], np.ascontiguousarray(sample_weight[keep],
                                                                     dtype=np.float64)
    XT = np.ascontiguousarray(X.T, dtype=np.float32)
    ys_in = y.astype(np.int64 if classify else np.float64)
    vals, order, ys = presort(XT, ys_in)
    empty_c = np.zeros((1, 1), dtype=np.int64)
    empty_r = np.zeros((1, 1), dtype=np.float64)
    ys_c, ys_r = (ys, empty_r) if classify else (empty_c, ys)
    stop = StopRules(float(rules.depth_limit), float(rules.split_limit),
                     float(rules.min_samples_leaf), float(rules.min_impurity_decrease),
                     min_weight)
    d = X.shape[1]
    draw = FeatureDraw(np.arange(d, dtype=np.int64), np.zeros(d, dtype=np.int64),
                       np.array([0 if seed is None else seed], dtype=np.uint64),
                       int(seed is not None), d if max_features is None else int(max_features))
    leaf = LeafRules(int(rules.min_samples_leaf), min_weight,
                     np.ones(1) if sample_weight is None else sample_weight,
                     int(sample_weight is not None))
    nodes, tied = _grow(vals, order, ys_c, ys_r, classify, n_classes if classify else 1,
                        CODES[criterion], stop,
                        -1 if rules.max_leaf_nodes is None else rules.max_leaf_nodes, draw, leaf)
    return Tree(*nodes), int(tied)


def stopping_trace(est):
    """Why every leaf of a fitted tree stopped growing: one row per leaf, in node order, with
    ``node``, ``depth``, ``samples``, ``impurity`` and ``why`` (a sentence of
    ``STOP_REASONS``), read from ``tree_.stop_reason`` as the builder recorded it."""
    est._check_fitted()
    t = est.tree_
    depth = t.depths()
    rows = []
    for node in range(t.node_count):
        if t.children_left[node] != LEAF:
            continue
        code = int(t.stop_reason[node])
        rows.append({"node": node, "depth": int(depth[node]),
                     "samples": int(t.n_node_samples[node]),
                     "impurity": float(t.impurity[node]),
                     "why": STOP_REASONS[code] if 0 <= code < len(STOP_REASONS)
                     else "not recorded"})
    return rows
