"""Post-pruning by error estimates: reduced-error, pessimistic and minimum-error pruning
(error-based pruning, C4.5's, is in ``c45.py``). Each returns a *new* fitted estimator (the
input is never modified) whose ``pruning_trace_`` has one row per visited internal node:

``node, depth, samples, leaf_error, subtree_error, estimate, decision``

where the errors are what the method compares (counts, or estimated errors) and ``estimate``
names the quantity. Node ids refer to the input tree.
"""
from __future__ import annotations

import math

import numpy as np

from .structure import LEAF


def _classifier_tree(est, method):
    est._check_fitted()
    if not hasattr(est, "classes_"):
        raise ValueError(f"{method} pruning needs a DecisionTreeClassifier (it counts "
                         f"misclassifications)")
    return est.tree_


def _postorder(tree):
    """Node ids, children before parents."""
    out, stack = [], [(0, False)]
    while stack:
        node, seen = stack.pop()
        if seen or tree.children_left[node] == LEAF:
            out.append(node)
            continue
        stack.append((node, True))
        stack.append((tree.children_right[node], False))
        stack.append((tree.children_left[node], False))
    return out


def _row(tree, depth, node, leaf_error, subtree_error, estimate, pruned):
    return {"node": int(node), "depth": int(depth[node]),
            "samples": int(tree.n_node_samples[node]), "leaf_error": float(leaf_error),
            "subtree_error": float(subtree_error), "estimate": estimate,
            "decision": "prune" if pruned else "keep"}


def _bottom_up(est, leaf_cost, method, estimate, prune_if):
    """Shared bottom-up pass: a node becomes a leaf when ``prune_if(leaf, subtree)``; the
    subtree cost of a kept node is the sum of its children's (possibly pruned) costs."""
    tree = est.tree_
    depth = tree.depths()
    cost = np.zeros(tree.node_count)
    collapse = np.zeros(tree.node_count, dtype=bool)
    trace = []
    for node in _postorder(tree):
        leaf = leaf_cost(node)
        if tree.children_left[node] == LEAF:
            cost[node] = leaf
            continue
        sub = cost[tree.children_left[node]] + cost[tree.children_right[node]]
        pruned = prune_if(leaf, sub)
        collapse[node] = pruned
        cost[node] = leaf if pruned else sub
        trace.append(_row(tree, depth, node, leaf, sub, estimate, pruned))
    return est._with_tree(tree.subtree(collapse), trace)


# --- reduced-error pruning -----------------------------------------------------------------

def prune_reduced_error(est, X_val, y_val):
    """Reduced-error pruning (Quinlan 1987).

    Bottom-up over a separate pruning set: replace a subtree by a leaf predicting the node's
    majority training class whenever the leaf makes no more errors on the pruning set than the
    (already pruned) subtree: prune if E_leaf(t) <= Σ E(children). The result makes the fewest
    pruning-set errors of all prunings of the tree, and is the smallest such pruning.
    For a regressor the error is the sum of squared errors on the pruning set.
    """
    est._check_fitted()
    tree = est.tree_
    X_val = np.asarray(X_val)
    y_val = np.asarray(y_val)
    if len(X_val) != len(y_val):
        raise ValueError(f"X_val has {len(X_val)} samples but y_val has {len(y_val)}")
    paths = _node_members(est, X_val)              # which validation samples reach each node
    classify = hasattr(est, "classes_")
    if classify:
        prediction = est.classes_[np.argmax(tree.value, axis=1)]
        leaf_cost = lambda node: float(np.sum(y_val[paths[node]] != prediction[node]))
        estimate = "pruning-set errors"
    else:
        leaf_cost = lambda node: float(np.sum((y_val[paths[node]] - tree.value[node, 0]) ** 2))
        estimate = "pruning-set squared error"
    return _bottom_up(est, leaf_cost, "reduced-error", estimate, lambda leaf, sub: leaf <= sub)


def _node_members(est, X):
    """For every node, the indices of the rows of X whose path passes through it (predict's
    routes: missing values by the surrogates, then the default side)."""
    tree = est.tree_
    X = np.asarray(X, dtype=np.float32)
    members = [None] * tree.node_count
    members[0] = np.arange(len(X))
    for node in range(tree.node_count):             # parents come before children
        if tree.children_left[node] == LEAF:
            continue
        rows = members[node]
        side = tree.route(node, X[rows])
        members[tree.children_left[node]] = rows[side == 1]
        members[tree.children_right[node]] = rows[side == 0]      # -1: the row stays here
    return members


# --- pessimistic error pruning -------------------------------------------------------------

def prune_pessimistic(est):
    """Pessimistic error pruning (Quinlan 1987), top-down, on the training counts alone.

    With continuity correction ½ per leaf: e'(t) = e(t) + ½ for the node as a leaf and
    e'(T_t) = Σ_leaves (e(l) + ½) for its subtree, SE = √(e'(T_t)·(n_t - e'(T_t)) / n_t).
    Prune if e'(t) <= e'(T_t) + SE. Visiting top-down, a pruned node's descendants are not
    visited.
    """
    tree = _classifier_tree(est, "pessimistic")
    depth = tree.depths()
    errors = tree.value.sum(axis=1) - tree.value.max(axis=1)
    leaf_sum, leaf_count = _subtree_sums(tree, errors)
    collapse = np.zeros(tree.node_count, dtype=bool)
    trace = []
    stack = [0]
    while stack:
        node = stack.pop()
        if tree.children_left[node] == LEAF:
            continue
        n = tree.weighted_n_node_samples[node]
        e_leaf = errors[node] + 0.5
        e_sub = leaf_sum[node] + 0.5 * leaf_count[node]
        se = math.sqrt(max(e_sub * (n - e_sub), 0.0) / n)
        pruned = e_leaf <= e_sub + se
        row = _row(tree, depth, node, e_leaf, e_sub, "corrected errors (+ SE "
                   f"{se:.3f} on the subtree)", pruned)
        trace.append(row)
        if pruned:
            collapse[node] = True
        else:
            stack.append(tree.children_right[node])
            stack.append(tree.children_left[node])
    return est._with_tree(tree.subtree(collapse), trace)


def _subtree_sums(tree, per_node):
    """For every node: the sum of ``per_node`` over the leaves below it, and their count."""
    total = np.where(tree.is_leaf, per_node, 0.0).astype(np.float64)
    count = tree.is_leaf.astype(np.int64)
    for node in reversed(range(tree.node_count)):   # children have larger ids than parents
        if tree.children_left[node] != LEAF:
            total[node] = total[tree.children_left[node]] + total[tree.children_right[node]]
            count[node] = count[tree.children_left[node]] + count[tree.children_right[node]]
    return total, count


# --- minimum-error pruning -----------------------------------------------------------------

def prune_minimum_error(est, m=2.0):
    """Minimum-error pruning: prune when the node's expected error rate as a leaf is at most
    the sample-weighted expected error rate of its (pruned) children.

    ``m=None``: Niblett & Bratko (1986), Laplace estimate E = (n - n_c + k - 1) / (n + k) with k
    classes and n_c the majority count. ``m`` a number: Cestnik & Bratko (1991), m-estimate
    p_c = (n_c + m·π_c) / (n + m) with π_c the class prior at the root, E = 1 - max_c p_c.
    """
    tree = _classifier_tree(est, "minimum-error")
    if m is not None and not m >= 0:
        raise ValueError(f"m must be >= 0 or None (Laplace), got {m!r}")
    counts = tree.value
    n = counts.sum(axis=1)
    k = counts.shape[1]
    if m is None:
        rate = (n - counts.max(axis=1) + k - 1) / (n + k)
        estimate = "Laplace expected error rate"
    else:
        prior = counts[0] / n[0]
        rate = 1 - ((counts + m * prior) / (n + m)[:, None]).max(axis=1)
        estimate = f"m-estimate expected error rate (m={m})"
    # Costs are rates weighted by samples so that children add up: n_t·E.
    return _bottom_up(est, lambda node: n[node] * rate[node], "minimum-error", estimate,
                      lambda leaf, sub: leaf <= sub)
