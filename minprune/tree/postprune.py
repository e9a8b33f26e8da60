"""Post-pruning by error estimates: reduced-error, pessimistic, error-based (C4.5) and
minimum-error pruning. Each returns a *new* fitted estimator (the input is never modified) whose
``pruning_trace_`` has one row per visited internal node:

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
    """For every node, the indices of the rows of X whose path passes through it."""
    tree = est.tree_
    X = np.asarray(X, dtype=np.float32)
    members = [None] * tree.node_count
    members[0] = np.arange(len(X))
    for node in range(tree.node_count):             # parents come before children
        if tree.children_left[node] == LEAF:
            continue
        rows = members[node]
        go_left = X[rows, tree.feature[node]] <= tree.threshold[node]
        members[tree.children_left[node]] = rows[go_left]
        members[tree.children_right[node]] = rows[~go_left]
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
        n = tree.n_node_samples[node]
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


# --- error-based pruning (C4.5) ------------------------------------------------------------

def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((a + m2 - 1) * (a + m2)),
                    -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def _betainc(a, b, x):
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def binomial_upper(errors, n, confidence):
    """The upper confidence limit U of a binomial error rate: P(X <= errors | n, U) equals
    ``confidence`` (exact, by bisection on the binomial distribution function)."""
    if errors >= n:
        return 1.0
    if errors <= 0:
        return 1.0 - confidence ** (1.0 / n)
    lo, hi = errors / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        cdf = _betainc(n - errors, errors + 1, 1.0 - mid)   # P(X <= errors) at rate mid
        if cdf > confidence:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def c45_errors(n, errors, confidence):
    """C4.5's pessimistic error count for a leaf of ``n`` samples with ``errors`` training
    errors, computed as C4.5 release 8 and Weka's J48 compute it (``Stats.addErrs``): e plus

    - n·(1 - CF^(1/n)) when e = 0 (the exact binomial limit),
    - for 0 < e < 1, the straight line between that and the value at e = 1,
    - n - e when e + 0.5 >= n (the count can reach n),
    - otherwise the normal approximation with continuity correction: with f = (e + 0.5)/n and
      z the (1 - CF) quantile, n·(f + z²/2n + z·sqrt(f/n - f²/n + z²/4n²)) / (1 + z²/n) - e.

    A CF above 0.5 adds nothing (J48 warns and leaves the estimate at e). The exact binomial
    limit (``binomial_upper``) differs by up to about 0.2 errors at n = 200, e = 1.
    """
    if confidence > 0.5:
        return float(errors)
    return float(errors) + _add_errors(float(n), float(errors), confidence)


def _add_errors(n, e, cf):
    if e < 1:
        base = n * (1 - cf ** (1 / n))
        return base if e == 0 else base + e * (_add_errors(n, 1.0, cf) - base)
    if e + 0.5 >= n:
        return max(n - e, 0.0)
    from statistics import NormalDist
    z = NormalDist().inv_cdf(1 - cf)
    f = (e + 0.5) / n
    r = (f + z * z / (2 * n) + z * math.sqrt(f / n - f * f / n + z * z / (4 * n * n))) \
        / (1 + z * z / n)
    return r * n - e


ESTIMATES = {"c45": lambda n, e, cf: c45_errors(n, e, cf),
             "exact": lambda n, e, cf: n * binomial_upper(e, n, cf)}


def prune_error_based(est, confidence=0.25, X=None, y=None, subtree_raising=False,
                      estimate="c45"):
    """Error-based pruning as in C4.5 (Quinlan 1993).

    Each leaf's errors are estimated pessimistically at ``confidence`` (CF = 0.25 by
    default): with ``estimate="c45"`` (the default) by C4.5's own approximation
    (``c45_errors``, equal to C4.5 release 8 and Weka's J48); with ``estimate="exact"`` by
    n·U_CF(e, n), the exact upper limit of the binomial confidence interval that Quinlan's book
    describes (``binomial_upper``). Bottom-up, a subtree is replaced by a leaf
    when the leaf's estimate is at most the sum of its leaves' estimates (C4.5 adds 0.1 to the
    subtree's estimate as a tolerance; so do we).

    With ``subtree_raising=True`` (needs the training data ``X, y``), a node may also be
    replaced by its larger child's subtree when that subtree, re-evaluated on all of the node's
    training samples, has a lower estimate than both the node's subtree and a leaf.
    """
    tree = _classifier_tree(est, "error-based")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate must be one of {', '.join(ESTIMATES)}, got {estimate!r}")
    if subtree_raising and (X is None or y is None):
        raise ValueError("subtree_raising=True needs the training data: pass X and y")
    errors_of = ESTIMATES[estimate]
    errors = tree.value.sum(axis=1) - tree.value.max(axis=1)
    n = tree.n_node_samples
    leaf_estimate = lambda node: errors_of(n[node], errors[node], confidence)
    label = f"{estimate} errors (CF={confidence})"
    if not subtree_raising:
        return _bottom_up(est, leaf_estimate, "error-based", label,
                          lambda leaf, sub: leaf <= sub + 0.1)
    return _error_based_with_raising(est, confidence, np.asarray(X), np.asarray(y), errors_of,
                                     label)


def _error_based_with_raising(est, confidence, X, y, errors_of, label):
    """C4.5 with subtree raising: each internal node keeps its subtree, becomes a leaf, or is
    replaced by the subtree of its larger child, whichever has the lowest estimate."""
    tree = est.tree_.copy()
    depth = tree.depths()
    y_index = np.searchsorted(est.classes_, y)
    trace = []

    def estimate(node, rows):
        """Estimated errors of the subtree at ``node`` when it classifies ``rows``."""
        if tree.children_left[node] == LEAF:
            counts = np.bincount(y_index[rows], minlength=len(est.classes_))
            wrong = len(rows) - counts[np.argmax(tree.value[node])] if len(rows) else 0
            return errors_of(len(rows), wrong, confidence) if len(rows) else 0
        go = X[rows, tree.feature[node]].astype(np.float32) <= tree.threshold[node]
        return (estimate(tree.children_left[node], rows[go])
                + estimate(tree.children_right[node], rows[~go]))

    def visit(node, rows):
        if tree.children_left[node] == LEAF:
            return
        go = X[rows, tree.feature[node]].astype(np.float32) <= tree.threshold[node]
        visit(tree.children_left[node], rows[go])
        visit(tree.children_right[node], rows[~go])
        counts = np.bincount(y_index[rows], minlength=len(est.classes_))
        leaf = errors_of(len(rows), len(rows) - counts.max(), confidence)
        sub = estimate(node, rows)
        big = max((tree.children_left[node], tree.children_right[node]),
                  key=lambda c: tree.n_node_samples[c])
        raised = estimate(big, rows)
        if leaf <= sub + 0.1 and leaf <= raised + 0.1:
            decision = "prune"
            tree.children_left[node] = tree.children_right[node] = LEAF
            tree.value[node] = counts
        elif raised <= sub + 0.1:
            decision = "raise"
            _graft(tree, node, big)
        else:
            decision = "keep"
        trace.append(_row(tree, depth, node, leaf, sub, label,
                          False) | {"decision": decision, "raised_error": float(raised)})

    visit(0, np.arange(len(X)))
    keep = np.zeros(tree.node_count, dtype=bool)
    return est._with_tree(tree.subtree(keep), trace)


def _graft(tree, node, child):
    """Replace ``node``'s subtree by ``child``'s (in place; ``subtree`` renumbers later)."""
    for field in ("children_left", "children_right", "feature", "threshold"):
        getattr(tree, field)[node] = getattr(tree, field)[child]


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
