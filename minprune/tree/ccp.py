"""Cost-complexity (weakest-link) pruning, Breiman et al. (1984): the path of alphas and the
subtree for one alpha (its cross-validated choice is ``ccp_cv``).

R_α(T) = R(T) + α·|leaves(T)|. For an internal node t, pruning its branch T_t into a leaf
changes R by R(t) - R(T_t) and removes |leaves(T_t)| - 1 leaves, so the branch goes once α
reaches g(t) = (R(t) - R(T_t)) / (|leaves(T_t)| - 1). Weakest-link pruning repeatedly collapses
the branch with the smallest g(t) (ties: the lowest node id), one per step, exactly as
scikit-learn does, so the path of alphas and impurities is identical to
``cost_complexity_pruning_path``; the arithmetic follows scikit-learn's order too.

scikit-learn rescans every node after each step (quadratic in the number of nodes). Here the
g(t) live in an indexed heap; a step changes g only for the ancestors of the collapsed node,
whose keys are updated in place: O(n·depth·log n) for the whole path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jit import njit
from .heap import pop, sift, sift_down


@njit(cache=True)
def weakest_link_sequence(left, right, parent, r_node, stop_alpha):
    """Collapse weakest links until none is left (or the next α exceeds ``stop_alpha`` >= 0).

    Returns (alphas, impurities, n_leaves, collapsed): the path, starting with (0, R(T),
    leaves(T)), and the node collapsed at each step (-1 for the first row).
    """
    n = len(left)
    is_leaf = left == -1
    r_branch = np.zeros(n)
    n_leaves = np.zeros(n, dtype=np.int64)
    for leaf in range(n):                          # bubble each leaf's R up, in id order
        if not is_leaf[leaf]:
            continue
        r_branch[leaf] = r_node[leaf]
        current = r_node[leaf]
        i = leaf
        while i != 0:
            p = parent[i]
            r_branch[p] += current
            n_leaves[p] += 1
            i = p
    candidate = ~is_leaf
    key = np.full(n, np.inf)                       # g(t) of every candidate, in an indexed heap
    heap = np.flatnonzero(candidate)
    size = len(heap)
    pos = np.full(n, -1, dtype=np.int64)
    for j in range(size):
        node = heap[j]
        key[node] = (r_node[node] - r_branch[node]) / (n_leaves[node] - 1)
        pos[node] = j
    for j in range(size // 2, -1, -1):               # heapify
        sift_down(heap, pos, key, j, size)
    steps = size + 1
    alphas, impurities = np.zeros(steps), np.zeros(steps)
    leaves, collapsed = np.ones(steps, dtype=np.int64), np.full(steps, -1, dtype=np.int64)
    impurities[0], leaves[0] = r_branch[0], max(n_leaves[0], 1)
    k = 1
    stack = np.empty(n, dtype=np.int64)
    while candidate[0]:
        i = pop(heap, pos, key, size)              # the weakest link
        size -= 1
        if not candidate[i]:                       # inside a branch collapsed earlier
            continue
        alpha = key[i]
        if stop_alpha >= 0.0 and stop_alpha < alpha:
            break
        top = 1                                    # the branch below i leaves the tree
        stack[0] = i
        while top:
            top -= 1
            node = stack[top]
            if not candidate[node]:
                continue
            candidate[node] = False
            if left[node] != -1:
                stack[top] = left[node]
                stack[top + 1] = right[node]
                top += 2
        n_pruned = n_leaves[i] - 1
        n_leaves[i] = 0
        r_diff = r_node[i] - r_branch[i]
        r_branch[i] = r_node[i]
        node = parent[i]
        while node != -1:                          # only the ancestors' g(t) change
            n_leaves[node] -= n_pruned
            r_branch[node] += r_diff
            key[node] = (r_node[node] - r_branch[node]) / (n_leaves[node] - 1)
            sift(heap, pos, key, pos[node], size)
            node = parent[node]
        alphas[k], impurities[k], leaves[k], collapsed[k] = (alpha, r_branch[0],
                                                             max(n_leaves[0], 1), i)
        k += 1
    return alphas[:k], impurities[:k], leaves[:k], collapsed[:k]


@dataclass
class CCPPath:
    """The pruning path: ``ccp_alphas[i]`` is where the i-th subtree starts; ``impurities[i]``
    its total R; ``n_leaves[i]`` its leaves; ``collapsed[i]`` the node collapsed to reach it."""
    ccp_alphas: np.ndarray
    impurities: np.ndarray
    n_leaves: np.ndarray
    collapsed: np.ndarray


def _risk(est, risk):
    """(risk of every node, the unit it is counted in): impurity risks are rates (as
    scikit-learn's arithmetic has them); misclassification risks are (weighted) counts, so
    that a split that gains nothing gains exactly 0 (R's rpart drops such splits at cp = 0).
    With sample weights every count is a sum of weights, as in scikit-learn."""
    tree = est.tree_
    n = tree.weighted_n_node_samples
    if risk == "impurity":
        return n * tree.impurity / n[0], 1.0
    if risk == "error":
        if not hasattr(est, "classes_"):
            raise ValueError("risk='error' (misclassification) needs a classifier")
        return tree.value.sum(axis=1) - tree.value.max(axis=1), n[0]
    raise ValueError(f"risk must be 'impurity' or 'error', got {risk!r}")


def _sequence(est, risk, stop_alpha):
    """The weakest-link sequence with alphas and risks in rate units."""
    est._check_fitted()
    tree = est.tree_
    risks, unit = _risk(est, risk)
    # a stop alpha given in rates, in the risks' unit: a hair of slack so that an alpha read
    # off the path itself (a count divided by n) still reaches its own weakest link
    stop = stop_alpha * unit * (1 + 1e-12) if stop_alpha >= 0 else -1.0
    alphas, impurities, leaves, collapsed = weakest_link_sequence(
        tree.children_left, tree.children_right, tree.parents(), risks, float(stop))
    return alphas / unit, impurities / unit, leaves, collapsed


def cost_complexity_path(est, risk="impurity"):
    """The weakest-link path of a fitted tree (scikit-learn's ``cost_complexity_pruning_path``
    for ``risk="impurity"``; ``risk="error"`` uses the misclassification rate, as Breiman and
    rpart do). Returns a ``CCPPath``."""
    return CCPPath(*_sequence(est, risk, -1.0))


def prune_ccp(est, alpha, risk="impurity"):
    """The subtree minimising R_α: collapse weakest links while g(t) <= ``alpha``.

    Equals scikit-learn's tree grown with ``ccp_alpha=alpha``. Returns a new fitted estimator
    whose ``pruning_trace_`` has one row per collapsed node.
    """
    if not alpha >= 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    alphas, impurities, leaves, collapsed = _sequence(est, risk, alpha)
    tree = est.tree_
    depth = tree.depths()
    risks, unit = _risk(est, risk)
    risk_node = risks / unit
    keep_as_leaf = np.zeros(tree.node_count, dtype=bool)
    keep_as_leaf[collapsed[1:]] = True
    trace = [{"node": int(i), "depth": int(depth[i]), "samples": int(tree.n_node_samples[i]),
              "leaf_risk": float(risk_node[i]), "alpha": float(a), "risk_after": float(r),
              "leaves_after": int(n), "decision": "collapse"}
             for i, a, r, n in zip(collapsed[1:], alphas[1:], impurities[1:], leaves[1:])]
    return est._with_tree(tree.subtree(keep_as_leaf), trace)
