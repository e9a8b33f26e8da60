"""Critical value pruning (Mingers 1987), with its critical value chosen on a pruning set.

Each split has a goodness: here the decrease in impurity the split itself achieves at its node,
imp(t) - (W_L/W_t·imp_L + W_R/W_t·imp_R), in the units of the tree's criterion (the measure the
tree was grown with, as Mingers used the growing measure). For a critical value c, the tree is
pruned bottom-up: a node whose goodness does not exceed c becomes a leaf if its children have
become leaves - a split of little worth survives when a better split lies below it. Raising c
through the goodness values gives a nested sequence of pruned trees, from the full tree to the
root; as Esposito, Malerba & Semeraro (1997) ran it, the tree chosen is the one that makes the
fewest errors on an independent pruning set (the smallest of those, on a tie).
"""
from __future__ import annotations

import numpy as np

from .postprune import _node_members, _postorder
from .structure import LEAF


def split_goodness(tree):
    """The goodness of every node's split (0 for a leaf): the impurity decrease at the node."""
    goodness = np.zeros(tree.node_count)
    w = tree.weighted_n_node_samples
    for node in np.flatnonzero(tree.children_left != LEAF):
        left, right = tree.children_left[node], tree.children_right[node]
        goodness[node] = tree.impurity[node] - (w[left] / w[node] * tree.impurity[left]
                                                + w[right] / w[node] * tree.impurity[right])
    return goodness


def critical_collapse(tree, goodness, critical):
    """Which nodes critical value ``critical`` turns into leaves: bottom-up, a node whose
    goodness is at most ``critical`` and whose children are (now) leaves."""
    is_leaf = tree.children_left == LEAF
    collapse = np.zeros(tree.node_count, dtype=bool)
    for node in _postorder(tree):
        if is_leaf[node]:
            continue
        left, right = tree.children_left[node], tree.children_right[node]
        children_leaves = (is_leaf[left] or collapse[left]) and (is_leaf[right] or collapse[right])
        collapse[node] = children_leaves and goodness[node] <= critical
    return collapse


def _errors(est, collapse, members, y, top=0):
    """Pruning-set errors (squared errors for a regressor) of the subtree under ``top`` with
    the nodes in ``collapse`` turned into leaves."""
    tree = est.tree_
    classify = hasattr(est, "classes_")
    prediction = (est.classes_[np.argmax(tree.value, axis=1)] if classify
                  else tree.value[:, 0])
    total, stack = 0.0, [top]
    while stack:
        node = stack.pop()
        if tree.children_left[node] == LEAF or collapse[node]:
            rows = members[node]
            total += (np.sum(y[rows] != prediction[node]) if classify
                      else np.sum((y[rows] - prediction[node]) ** 2))
            continue
        stack += [tree.children_right[node], tree.children_left[node]]
    return float(total)


def prune_critical_value(est, X_val, y_val):
    """Critical value pruning, the critical value chosen on the pruning set (X_val, y_val).

    Returns a new fitted estimator. Its ``pruning_trace_`` has one row per internal node, as
    the other pruners' (``node, depth, samples, leaf_error, subtree_error, estimate,
    decision``: the pruning-set errors of the node as a leaf and of its subtree, the split's
    goodness against the chosen critical value); ``critical_values_`` lists every candidate
    (``critical``, ``leaves``, ``pruning_errors``, ``chosen``) and ``critical_value_`` is the
    one kept.
    """
    from .postprune import _row  # lazy: the trace rows are shared with the other pruners
    est._check_fitted()
    tree = est.tree_
    X_val, y_val = np.asarray(X_val), np.asarray(y_val)
    if len(X_val) != len(y_val):
        raise ValueError(f"X_val has {len(X_val)} samples but y_val has {len(y_val)}")
    goodness = split_goodness(tree)
    members = _node_members(est, X_val)
    internal = tree.children_left != LEAF
    candidates, best = [], None
    for critical in [-np.inf] + sorted(set(goodness[internal].tolist())):
        collapse = critical_collapse(tree, goodness, critical)
        leaves = int(tree.subtree(collapse).n_leaves)
        errors = _errors(est, collapse, members, y_val)
        candidates.append({"critical": float(critical), "leaves": leaves,
                           "pruning_errors": errors, "chosen": False})
        if best is None or (errors, leaves) < (best[0], best[1]):
            best = (errors, leaves, len(candidates) - 1, collapse, critical)
    candidates[best[2]]["chosen"] = True
    collapse, critical = best[3], best[4]
    depth, trace = tree.depths(), []
    for node in _postorder(tree):
        if not internal[node]:
            continue
        leaf = _errors(est, _only_leaf(tree, node), members, y_val, node)
        sub = _errors(est, collapse, members, y_val, node)
        trace.append(_row(tree, depth, node, leaf, sub,
                          f"goodness {goodness[node]:.4g}, critical {critical:.4g}",
                          bool(collapse[node])))
    pruned = est._with_tree(tree.subtree(collapse), trace)
    pruned.critical_value_ = float(critical)
    pruned.critical_values_ = candidates
    return pruned


def _only_leaf(tree, node):
    """A collapse mask that turns just ``node`` into a leaf."""
    mask = np.zeros(tree.node_count, dtype=bool)
    mask[node] = True
    return mask
