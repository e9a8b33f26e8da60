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

from .criteria import (ABSOLUTE_ERROR, CLASSIFICATION as CLASSIFY, CODES, class_impurity,
                       squared_error)
from .frontier import pop, push
from .splitter import (absolute_errors, best_split_classes, best_split_values, partition,
                       presort, rank_targets, visit_order)
from .structure import LEAF, Tree

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
    """Fill ``value`` with the node's (weighted) class counts; return (Σw·y, Σw·y², Σw) in the
    order scikit-learn accumulates them (w·y first, then times y)."""
    w, weighted = leaf[2], leaf[3]
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
    return s, sq, wn


@njit(cache=True)
def _children(order, ys_c, ys_r, classify, code, start, end, f, pos, counts, node, leaf,
              scratch, iscratch):
    """Impurities of the split's two sides and their weights."""
    w, weighted = leaf[2], leaf[3]
    total, total_sq, wn = node
    o = order[f]
    w_left = 0.0
    if classify:
        left = np.zeros(len(counts))
        for p in range(start, pos):
            wp = w[o[p]] if weighted else 1.0
            left[ys_c[f, p]] += wp
            w_left += wp
        w_right = wn - w_left
        return (class_impurity(left, w_left, code),
                class_impurity(counts - left, w_right, code), w_left, w_right)
    if code == ABSOLUTE_ERROR:
        for p in range(start, pos):
            w_left += w[o[p]] if weighted else 1.0
        w_right = wn - w_left
        absolute_errors(o, start, end, w, weighted, scratch, iscratch)
        return scratch[0][pos - 1] / w_left, scratch[1][pos] / w_right, w_left, w_right
    s_left, sq_left = 0.0, 0.0
    for p in range(start, pos):
        wp = w[o[p]] if weighted else 1.0
        wy = wp * ys_r[f, p]
        s_left += wy
        sq_left += wy * ys_r[f, p]
        w_left += wp
    w_right = wn - w_left
    return (squared_error(s_left, sq_left, w_left),
            squared_error(total - s_left, total_sq - sq_left, w_right), w_left, w_right)


@njit(cache=True)
def _split(vals, order, ys_c, ys_r, classify, code, start, end, depth, impurity, counts,
           node, rules, w_all, work, draw, n_known, visit, leaf, scratch, iscratch):
    """Decide whether node [start, end) splits; if so, partition the rows. ``node`` =
    (Σw·y, Σw·y², Σw) of the node.

    Returns (SPLIT or why not - a code of ``STOP_REASONS`` -, feature, pos, threshold,
    impurity_left, impurity_right, improvement, ties, the constant features known to the
    children).
    """
    max_depth, split_limit, min_leaf, min_decrease, min_weight = rules
    n = end - start
    wn = node[2]
    reason = (DEPTH if depth >= max_depth else SAMPLES if n < split_limit
              else WEIGHT if wn < 2.0 * min_weight else PURE if impurity <= EPSILON else SPLIT)
    if reason != SPLIT:
        return reason, -2, end, -2.0, impurity, impurity, 0.0, 0, n_known
    count, n_constants = visit_order(vals, start, end, draw, n_known, visit)
    if classify:
        f, pos, t, found, ties = best_split_classes(vals, order, ys_c, start, end, len(counts),
                                                    leaf, code, counts, visit, count)
    else:
        f, pos, t, found, ties = best_split_values(vals, order, ys_r, start, end, leaf, code,
                                                   node[0], wn, visit, count, scratch,
                                                   iscratch)
    if not found:
        return NO_SPLIT, -2, end, -2.0, impurity, impurity, 0.0, 0, n_constants
    imp_l, imp_r, w_left, w_right = _children(order, ys_c, ys_r, classify, code, start, end,
                                              f, pos, counts, node, leaf, scratch, iscratch)
    improvement = (wn / w_all) * (impurity - (w_right / wn * imp_r) - (w_left / wn * imp_l))
    if improvement + EPSILON < min_decrease:
        return DECREASE, -2, end, -2.0, impurity, impurity, 0.0, ties, n_constants
    if classify:
        partition(vals, order, ys_c, start, end, f, pos, work[0], work[1], work[2], work[3])
    else:
        partition(vals, order, ys_r, start, end, f, pos, work[0], work[1], work[2], work[4])
    return SPLIT, f, pos, t, imp_l, imp_r, improvement, ties, n_constants


@njit(cache=True)
def _new_tree(cap, n_out):
    """The flat node arrays: children, feature, threshold, value, impurity, samples, weight,
    stop reason."""
    return (np.full(cap, -1, dtype=np.int64), np.full(cap, -1, dtype=np.int64),
            np.full(cap, -2, dtype=np.int64), np.full(cap, -2.0), np.zeros((cap, n_out)),
            np.zeros(cap), np.zeros(cap, dtype=np.int64), np.zeros(cap),
            np.zeros(cap, dtype=np.int8))


@njit(cache=True)
def _new_pending(cap):
    """The stack of nodes to create: (start, end, depth, parent, is_left, impurity, the
    constant features known from the parent)."""
    return (np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
            np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
            np.zeros(cap, dtype=np.bool_), np.zeros(cap), np.zeros(cap, dtype=np.int64))


@njit(cache=True)
def _new_splits(cap):
    """Each node's split, kept until it is expanded (at once depth-first; when it leaves the
    frontier best-first): (start, end, depth, pos, impurity left, right, -improvement, ok,
    constant features for the children)."""
    return (np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64),
            np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64), np.zeros(cap),
            np.zeros(cap), np.zeros(cap), np.zeros(cap, dtype=np.bool_),
            np.zeros(cap, dtype=np.int64))


@njit(cache=True)
def _new_work(n, vals, ys_c, ys_r):
    """Scratch buffers for partitioning."""
    return (np.zeros(n, dtype=np.bool_), np.empty(n, dtype=vals.dtype),
            np.empty(n, dtype=np.int64), np.empty(n, dtype=ys_c.dtype),
            np.empty(n, dtype=ys_r.dtype))


@njit(cache=True)
def _node_summary(order, ys_c, ys_r, classify, code, start, end, counts, leaf, scratch,
                  iscratch):
    """(Σw·y, Σw·y², Σw, value, impurity) of node [start, end); ``counts`` receives its class
    counts. For absolute_error the value is the weighted median, and the node's targets are
    ranked for its split search."""
    total, total_sq, wn = _summarise(order[0], ys_c, ys_r, classify, start, end, counts, leaf)
    if classify:
        return total, total_sq, wn, 0.0, class_impurity(counts, wn, code)
    if code == ABSOLUTE_ERROR:
        rank_targets(order[0], ys_r[0], start, end, scratch, iscratch)
        absolute_errors(order[0], start, end, leaf[2], leaf[3], scratch, iscratch)
        return total, total_sq, wn, scratch[3][start], scratch[1][start] / wn
    return total, total_sq, wn, total / wn, squared_error(total, total_sq, wn)


@njit(cache=True)
def _create(node, pending, top, tree, splits, vals, order, ys_c, ys_r, classify, n_out, code,
            rules, w_all, counts, work, draw, visit, leaf, scratch, iscratch):
    """Create the node on top of ``pending``: its value, impurity, size and link from its
    parent; then find (and, if it splits, apply) its split. The root's impurity is computed
    from its samples, every other node's comes from its parent's split (as scikit-learn's).
    Returns the number of tied features of that split."""
    left, right, feature, threshold, value, impurity, samples, weights, reasons = tree
    start, end, depth = pending[0][top], pending[1][top], pending[2][top]
    parent, is_left, imp = pending[3][top], pending[4][top], pending[5][top]
    total, total_sq, wn, mean, own = _node_summary(order, ys_c, ys_r, classify, code, start,
                                                   end, counts, leaf, scratch, iscratch)
    if parent < 0:
        imp = own
    if classify:
        value[node, :] = counts[:n_out]
    else:
        value[node, 0] = mean
    impurity[node], samples[node], weights[node] = imp, end - start, wn
    if parent >= 0:
        if is_left:
            left[parent] = node
        else:
            right[parent] = node
    reason, f, pos, t, il, ir, gain, ties, constants = _split(
        vals, order, ys_c, ys_r, classify, code, start, end, depth, imp, counts,
        (total, total_sq, wn), rules, w_all, work, draw, pending[6][top], visit, leaf,
        scratch, iscratch)
    ok = reason == SPLIT
    reasons[node] = reason
    if ok:
        feature[node], threshold[node] = f, t
    s_start, s_end, s_depth, s_pos, s_il, s_ir, s_key, s_ok, s_const = splits
    s_start[node], s_end[node], s_depth[node], s_pos[node] = start, end, depth, pos
    s_il[node], s_ir[node], s_key[node], s_ok[node] = il, ir, -gain, ok
    s_const[node] = constants
    return ties


@njit(cache=True)
def _push_children(pending, top, splits, node, pass_constants):
    """Push the right child, then the left, so that the left is created first. The children
    learn the parent's constant features (depth-first only, as in scikit-learn's builders)."""
    s_start, s_end, s_depth, s_pos, s_il, s_ir, _, _, s_const = splits
    for child_left in (False, True):
        pending[0][top] = s_start[node] if child_left else s_pos[node]
        pending[1][top] = s_pos[node] if child_left else s_end[node]
        pending[2][top], pending[3][top] = s_depth[node] + 1, node
        pending[4][top] = child_left
        pending[5][top] = s_il[node] if child_left else s_ir[node]
        pending[6][top] = s_const[node] if pass_constants else 0
        top += 1
    return top


@njit(cache=True)
def _grow(vals, order, ys_c, ys_r, classify, n_out, code, rules, max_leaves, draw, leaf):
    """Both builders. ``max_leaves`` < 0: depth-first (preorder); else best-first, the frontier
    node with the largest improvement split next (ties: as scikit-learn's std heap has them),
    until
    ``max_leaves`` leaves. ``leaf`` = (min_samples_leaf, min_weight_leaf, sample weights,
    weighted?)."""
    n = order.shape[1]
    cap = 2 * n
    tree = _new_tree(cap, n_out)
    pending, splits, work = _new_pending(cap), _new_splits(cap), _new_work(n, vals, ys_c, ys_r)
    counts = np.zeros(max(n_out, 1))
    visit = np.empty(vals.shape[0], dtype=np.int64)
    m = n + 1 if code == ABSOLUTE_ERROR else 1          # absolute_error's buffers
    scratch, iscratch = np.zeros((8, m)), np.zeros((2, m), dtype=np.int64)
    w_all = 0.0
    for i in range(n):
        w_all += leaf[2][i] if leaf[3] else 1.0
    pending[1][0], pending[3][0] = n, -1
    top, node_count, tied = 1, 0, 0
    frontier = np.zeros(cap, dtype=np.int64)          # best-first: a heap by improvement
    gains = np.zeros(cap)
    size, budget = 0, max_leaves - 1
    while top > 0 or size > 0:
        if top > 0:
            top -= 1
            node = node_count
            node_count += 1
            tied += _create(node, pending, top, tree, splits, vals, order, ys_c, ys_r,
                            classify, n_out, code, rules, w_all, counts, work, draw, visit,
                            leaf, scratch, iscratch) > 0
            if max_leaves >= 0:
                gains[node] = -splits[6][node]
                size = push(frontier, gains, node, size)
                continue
            if not splits[7][node]:
                continue
        else:
            node = pop(frontier, gains, size)
            size -= 1
            if not splits[7][node] or budget <= 0:
                tree[2][node], tree[3][node] = -2, -2.0     # stays a leaf
                if splits[7][node]:
                    tree[8][node] = MAX_LEAVES
                continue
            budget -= 1
        top = _push_children(pending, top, splits, node, max_leaves < 0)
    k = node_count
    return (tree[0][:k], tree[1][:k], tree[2][:k], tree[3][:k], tree[4][:k], tree[5][:k],
            tree[6][:k], tree[7][:k], tree[8][:k], tied)


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
    packed = (float(rules.depth_limit), float(rules.split_limit), float(rules.min_samples_leaf),
              float(rules.min_impurity_decrease), min_weight)
    d = X.shape[1]
    draw = (np.arange(d, dtype=np.int64), np.zeros(d, dtype=np.int64),
            np.array([0 if seed is None else seed], dtype=np.uint64),
            np.array([0 if seed is None else 1, d if max_features is None else max_features],
                     dtype=np.int64))
    leaf = (int(rules.min_samples_leaf), min_weight,
            np.ones(1) if sample_weight is None else sample_weight, sample_weight is not None)
    *arrays, tied = _grow(vals, order, ys_c, ys_r, classify, n_classes if classify else 1,
                          CODES[criterion], packed,
                          -1 if rules.max_leaf_nodes is None else rules.max_leaf_nodes, draw,
                          leaf)
    return Tree(*arrays), int(tied)


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
