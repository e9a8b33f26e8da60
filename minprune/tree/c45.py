"""Error-based pruning as C4.5 does it (Quinlan 1993; release 8 and Weka's J48): C4.5's
pessimistic error estimate, the exact binomial limit beside it, and subtree raising.
"""
from __future__ import annotations

import math

import numpy as np

from .criteria import CODES, class_impurity
from .checks import check_sample_weight, check_X
from .postprune import _bottom_up, _classifier_tree, _row
from .structure import LEAF, PRUNED

SMALL = 1e-6                       # Weka's Utils.SMALL: a <= b means a - b < SMALL
TOLERANCE = 0.1                    # C4.5 keeps a subtree unless a leaf is 0.1 errors worse


def _at_most(a, b):
    """Weka's ``Utils.smOrEq``."""
    return a - b < SMALL


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
                      estimate="c45", sample_weight=None):
    """Error-based pruning as in C4.5 (Quinlan 1993), decision for decision as Weka's J48.

    Each leaf's errors are estimated pessimistically at ``confidence`` (CF = 0.25 by
    default): with ``estimate="c45"`` (the default) by C4.5's own approximation
    (``c45_errors``, equal to C4.5 release 8 and J48); with ``estimate="exact"`` by n·U_CF(e, n),
    the exact upper limit of the binomial confidence interval that Quinlan's book describes
    (``binomial_upper``). Counts are weighted counts when the tree was grown with weights.

    Bottom-up, each internal node (its children pruned first) compares three estimates: E_leaf
    (the node as a leaf), E_tree (the sum over its leaves) and, with ``subtree_raising=True``,
    E_branch (its largest child's subtree classifying *all* the node's training samples, every
    leaf relabelled by the majority of what reaches it). The node becomes a leaf if E_leaf <=
    E_tree + 0.1 and E_leaf <= E_branch + 0.1; else the largest branch replaces it if E_branch <=
    E_tree + 0.1 - and then the raised subtree receives the node's training data (counts and
    leaf labels recomputed) and is pruned again. (C4.5's "largest" is the child with the most
    training weight, the right one on a tie; "<=" is Weka's, with a 1e-6 slack.) Subtree
    raising needs the training data ``X, y`` (and ``sample_weight`` if the tree was grown with
    it). A leaf that receives no sample after raising predicts its parent's class shares, as
    J48's empty leaves do.
    """
    tree = _classifier_tree(est, "error-based")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if estimate not in ESTIMATES:
        raise ValueError(f"estimate must be one of {', '.join(ESTIMATES)}, got {estimate!r}")
    errors_of = ESTIMATES[estimate]
    label = f"{estimate} errors (CF={confidence})"
    if not subtree_raising:
        errors = tree.value.sum(axis=1) - tree.value.max(axis=1)
        n = tree.weighted_n_node_samples
        return _bottom_up(est, lambda node: errors_of(n[node], errors[node], confidence),
                          "error-based", label,
                          lambda leaf, sub: _at_most(leaf, sub + TOLERANCE))
    if X is None or y is None:
        raise ValueError("subtree_raising=True needs the training data: pass X and y")
    if len(tree.surrogate_feature):
        raise ValueError("subtree_raising=True moves splits, and this tree's splits carry "
                         "surrogates that would not follow; prune it without raising")
    return _Raising(est, confidence, X, y, sample_weight, errors_of, label).run()


class _Raising:
    """J48's ``C45PruneableClassifierTree.prune`` with subtree raising, on a copy of the tree.
    Which training rows reach a node always follows from routing the root's rows, which is what
    J48's ``newDistribution`` recomputes after a raise."""

    def __init__(self, est, confidence, X, y, sample_weight, errors_of, label):
        self.est, self.confidence, self.errors_of, self.label = est, confidence, errors_of, label
        self.X = check_X(X, est.n_features_in_, dtype=est.tree_.split_dtype)
        y = np.asarray(y)
        if len(y) != len(self.X):
            raise ValueError(f"y has {len(y)} samples but X has {len(self.X)}")
        known = np.isin(y, est.classes_)
        if not known.all():
            raise ValueError(f"y holds labels the tree was not fitted on: "
                             f"{np.unique(y[~known]).tolist()}")
        self.y = np.searchsorted(est.classes_, y)
        w = check_sample_weight(sample_weight, len(y))
        self.w = np.ones(len(y)) if w is None else w
        self.tree = est.tree_.copy()
        self.depth = est.tree_.depths()
        self.trace = []

    def counts(self, rows):
        return np.bincount(self.y[rows], weights=self.w[rows], minlength=len(self.est.classes_))

    def leaf_errors(self, rows):
        """E of a leaf labelled by the majority of ``rows`` (0 for no weight, as J48)."""
        c = self.counts(rows)
        total = c.sum()
        return 0.0 if total == 0 else self.errors_of(total, total - c.max(), self.confidence)

    def route(self, node, rows):
        side = self.tree.route(node, self.X[rows])
        return rows[side == 1], rows[side == 0]

    def branch_errors(self, node, rows):
        """E of the subtree at ``node`` classifying ``rows``, its leaves relabelled."""
        if self.tree.children_left[node] == LEAF:
            return self.leaf_errors(rows)
        left, right = self.route(node, rows)
        return (self.branch_errors(self.tree.children_left[node], left)
                + self.branch_errors(self.tree.children_right[node], right))

    def relabelled(self, node, old_rows, new_rows):
        """How many leaves below ``node`` change their majority class when the rows reaching
        it are ``new_rows`` instead of ``old_rows``."""
        if self.tree.children_left[node] == LEAF:
            old, new = self.counts(old_rows), self.counts(new_rows)
            return int(old.sum() > 0 and new.sum() > 0 and np.argmax(old) != np.argmax(new))
        (old_l, old_r), (new_l, new_r) = self.route(node, old_rows), self.route(node, new_rows)
        return (self.relabelled(self.tree.children_left[node], old_l, new_l)
                + self.relabelled(self.tree.children_right[node], old_r, new_r))

    def prune(self, node, rows):
        t = self.tree
        if t.children_left[node] == LEAF:
            return
        left, right = self.route(node, rows)
        self.prune(t.children_left[node], left)
        self.prune(t.children_right[node], right)
        bigger_left = self.w[left].sum() - self.w[right].sum() >= SMALL   # maxBag: last wins
        largest = t.children_left[node] if bigger_left else t.children_right[node]
        raised = self.branch_errors(largest, rows)
        as_leaf = self.leaf_errors(rows)
        whole = self.branch_errors(node, rows)
        if _at_most(as_leaf, whole + TOLERANCE) and _at_most(as_leaf, raised + TOLERANCE):
            decision = "prune"
            t.children_left[node] = t.children_right[node] = LEAF
            t.stop_reason[node] = PRUNED
        elif _at_most(raised, whole + TOLERANCE):
            decision = "raise"
            relabelled = self.relabelled(largest, left if largest == t.children_left[node]
                                         else right, rows)
            for field in ("children_left", "children_right", "feature", "threshold",
                          "stop_reason", "missing_go_to_left"):
                getattr(t, field)[node] = getattr(t, field)[largest]
        else:
            decision = "keep"
        self.trace.append(_row(self.est.tree_, self.depth, node, as_leaf, whole, self.label,
                               False) | {"decision": decision, "raised_error": float(raised),
                                         "relabelled": relabelled if decision == "raise" else 0})
        if decision == "raise":
            self.prune(node, rows)              # the raised subtree, on its new data

    def run(self):
        rows = np.arange(len(self.X))
        self.prune(0, rows)
        pruned = self.tree.subtree(np.zeros(self.tree.node_count, dtype=bool))
        self._redistribute(pruned, rows)
        return self.est._with_tree(pruned, self.trace)

    def _redistribute(self, t, rows):
        """Counts, sizes and impurities of the final tree from the training data."""
        code = CODES[self.est.criterion]
        members, parents = {0: rows}, t.parents()
        for node in range(t.node_count):                 # parents come before children
            r = members[node]
            c = self.counts(r)
            t.n_node_samples[node] = len(r)
            t.weighted_n_node_samples[node] = c.sum()
            if c.sum() > 0:
                t.value[node] = c
                t.impurity[node] = class_impurity(c, c.sum(), code)
            else:                                         # empty: the parent's shares
                t.value[node] = t.value[parents[node]]
                t.impurity[node] = 0.0
            if t.children_left[node] != LEAF:
                side = t.route(node, self.X[r])
                members[t.children_left[node]] = r[side == 1]
                members[t.children_right[node]] = r[side == 0]
