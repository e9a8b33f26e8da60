"""Growing a tree as R's rpart grows it, with surrogate splits for missing values (Breiman et
al. 1984, ch. 5; rpart's ``partition.c``, ``bsplit.c``, ``surrogate.c``, ``nodesplit.c``).

At each node every feature is searched on the rows where it is present (``rpart_scan``), the
improvement computed on those rows alone, and the best feature kept (the first on a tie; a
split must improve on 1e-10 of the largest improvement seen anywhere so far). Then, for the rows
the primary split sends one way or the other, every other feature's best *surrogate* split is
the one that agrees with the primary on the most rows; up to ``max_surrogate`` are kept, ranked
by that agreement, each only if it beats sending every row the majority way (adjusted
agreement > 0). A row missing the primary feature goes by the first surrogate it has, and one
missing them all goes with the majority (rpart's ``usesurrogate = 2``); when the primary sent
equal weights each way there is no majority and such a row stays in the node. With
``max_surrogate=0`` rpart skips the surrogate search, which is also where it finds the
majority: every training row missing the split's feature stays in the node (at predict such a
row still goes to the child with more training rows, as every other).

Nodes are created in rpart's order (its left son - the side ``x < split`` goes to under the
split's direction - first); in the ``Tree`` the left child is always ``x <= threshold``.
"""
from __future__ import annotations

import numpy as np

from .criteria import class_impurity, squared_error
from .rpart_scan import LEFT, RIGHT, anova_scan, gini_scan, surrogate_scan
from .structure import LEAF, UNDEFINED, Tree


def class_priors(y, w, n_classes):
    """rpart's altered priors for the default prior (the class frequencies) and 0/1 loss, as
    ``giniinit`` computes them from R's ``counts / sum(counts)`` (1 up to rounding)."""
    counts = np.array([w[y == k].sum() for k in range(n_classes)])
    prior = counts / counts.sum()
    freq = np.zeros(n_classes)
    total = 0.0
    for k, wk in zip(y, w):
        freq[k] += wk
        total += wk
    freq = freq / total
    aprior = np.zeros(n_classes)
    temp = 0.0
    for i in range(n_classes):
        for j in range(n_classes):
            loss = 0.0 if i == j else 1.0
            temp += loss * prior[i]
            aprior[i] += loss * prior[i]
    for i in range(n_classes):
        if freq[i] > 0:
            aprior[i] /= temp * freq[i]
    return aprior


def insert_split(items, new, limit):
    """rpart's ``insert_split`` on a list ranked by agreement (entry 3), best first, ties
    behind: the list after offering ``new`` with room for ``limit``. Its linked-list steps are
    kept - among them that a full list of two given a new best keeps only the new one."""
    if not items:
        return [new]
    if limit < 2:
        return [new] if new[3] > items[0][3] else items
    k = next((i for i, e in enumerate(items) if new[3] > e[3]), len(items))   # s2 = items[k]
    if len(items) < limit:
        return items[:k] + [new] + items[k:]
    if k == len(items):
        return items                                     # not good enough
    s1 = k - 1 if k > 0 else 0                           # s1: the one before s2 (or the head)
    s3 = len(items) - 2                                  # next to last; the last is reused
    if s1 == s3:                                         # the new one ends the list
        return [new] if k == 0 else items[:s1 + 1] + [new]
    return items[:k] + [new] + items[k:-1]


class _Grower:
    """The state of one growth: the data, the rules and the nodes made so far."""

    def __init__(self, X, y, classify, n_classes, criterion, rules, max_surrogate):
        self.X, self.y, self.classify, self.n_classes = X, y, classify, n_classes
        self.w = np.ones(len(y))
        self.information = criterion in ("entropy", "log_loss")
        self.min_split = max(rules.min_samples_split, 1)
        self.edge = rules.min_samples_leaf
        self.max_depth = rules.depth_limit
        self.max_surrogate = max_surrogate
        self.aprior = class_priors(y, self.w, n_classes) if classify else None
        self.iscale = 0.0
        n, d = X.shape
        self.order = []                      # each feature's present rows, sorted by value
        for f in range(d):
            present = np.flatnonzero(~np.isnan(X[:, f]))
            self.order.append(present[np.argsort(X[present, f], kind="stable")])
        self.side = np.zeros(n, dtype=np.int64)      # each row's side at the current split
        self.nodes = []
        self.table = []

    # --- one node -----------------------------------------------------------------------

    def stats(self, rows):
        """(value row, impurity, risk): class counts and Gini/entropy, or mean and variance."""
        w, y = self.w[rows], self.y[rows]
        if self.classify:
            counts = np.bincount(y, weights=w, minlength=self.n_classes).astype(np.float64)
            code = 1 if self.information else 0
            return counts, class_impurity(counts, counts.sum(), code), None
        mean = (y * w).sum() / w.sum()
        risk = float(((y - mean) ** 2 * w).sum())
        return np.array([mean]), squared_error((y * w).sum(), (y * y * w).sum(), w.sum()), risk

    def primary(self, orders, risk):
        """The best split of the node whose present rows, sorted by each feature, are
        ``orders``: (feature, split, direction, improve, count) or None."""
        best = None
        for f, rows in enumerate(orders):
            rows = rows[self.w[rows] > 0]
            k = len(rows)
            x = self.X[rows, f]
            if k == 0 or x[0] == x[k - 1]:
                continue
            xs = np.append(x, x[-1])           # the scans read x[i + 1] past their last cut
            if self.classify:
                improve, where, direction = gini_scan(self.y[rows], xs, self.w[rows],
                                                      self.aprior, self.n_classes, self.edge,
                                                      self.information)
            else:
                improve, where, direction = anova_scan(self.y[rows], xs, self.w[rows],
                                                       self.edge, risk)
            self.iscale = max(self.iscale, improve)
            if improve > self.iscale * 1e-10 and (best is None or improve > best[3]):
                split = (x[where] + x[where + 1]) / 2
                best = (f, split, direction, improve, k)
        return best

    def surrogates(self, orders, rows, f, split, direction):
        """The primary's side of each row (``self.side``; 0: missing), the weights it sends
        each way, and the surrogate splits: [(feature, split, direction, agreement, adj)],
        best first."""
        side = self.side
        side[rows] = 0
        present = orders[f]
        side[present] = np.where(self.X[present, f] < split, direction, -direction)
        left_wt = self.w[rows][side[rows] == LEFT].sum()
        right_wt = self.w[rows][side[rows] == RIGHT].sum()
        found = []
        for g, r in enumerate(orders):
            if g == f or self.max_surrogate == 0:
                continue
            ok, agree, s, d = surrogate_scan(side[r], self.X[r, g], self.w[r])
            if not ok:
                continue
            total = left_wt + right_wt
            majority = max(left_wt, right_wt) / total
            agreement = agree / total
            adj = (agreement - majority) / (1.0 - majority)
            if adj <= 1e-10:
                continue
            found = insert_split(found, (g, s, d, agreement, adj), self.max_surrogate)
        return left_wt, right_wt, found

    def assign(self, rows, found, left_wt, right_wt):
        """Send the rows the primary could not (``self.side`` 0) by the surrogates, then the
        majority; returns how many rows each surrogate sent."""
        side = self.side
        counts = []
        todo = rows[side[rows] == 0]
        for g, s, d, _, _ in found:
            v = self.X[todo, g]
            here = ~np.isnan(v)
            side[todo[here]] = np.where(v[here] < s, d, -d)
            counts.append(int(here.sum()))
            todo = todo[~here]
        majority = RIGHT if left_wt < right_wt else LEFT if left_wt > right_wt else 0
        if self.max_surrogate == 0:       # no surrogate search, no majority: they stay here
            majority = 0
        side[todo] = majority                        # 0: no majority, the rows stay here
        return counts

    # --- the recursion ------------------------------------------------------------------

    def grow(self, orders, rows, depth, parent=-1, is_left=False):
        """Create the node of ``rows`` (its present rows sorted by each feature: ``orders``)
        and, depth first in rpart's order, its descendants."""
        node = len(self.nodes)
        value, impurity, risk = self.stats(rows)
        record = {"rows": len(rows), "weight": float(self.w[rows].sum()), "value": value,
                  "impurity": impurity, "parent": parent, "is_left": is_left,
                  "split": None}
        self.nodes.append(record)
        stop = len(rows) < self.min_split or depth >= self.max_depth
        best = None if stop else self.primary(orders, risk)
        if best is None:
            return node
        f, split, direction, improve, count = best
        left_wt, right_wt, found = self.surrogates(orders, rows, f, split, direction)
        sent = self.assign(rows, found, left_wt, right_wt)
        record["split"] = (f, split, direction)
        record["surrogates"] = found
        self.table.append({"node": node, "feature": int(f), "threshold": float(split),
                           "direction": int(direction), "improve": float(improve),
                           "count": int(count),
                           "surrogates": [{"feature": int(g), "threshold": float(s),
                                           "direction": int(d), "agree": float(a),
                                           "adj": float(j), "count": int(c)}
                                          for (g, s, d, a, j), c in zip(found, sent)]})
        sides = self.side[rows]
        children = [(rows[sides == son], [o[self.side[o] == son] for o in orders])
                    for son in (LEFT, RIGHT)]
        for son, (child_rows, child_orders) in zip((LEFT, RIGHT), children):
            self.grow(child_orders, child_rows, depth + 1, node, son == direction)
        return node

    def tree(self):
        """The ``Tree``: children as x <= threshold (left) and above; surrogates flattened."""
        n = len(self.nodes)
        left = np.full(n, LEAF, dtype=np.int64)
        right = np.full(n, LEAF, dtype=np.int64)
        for i, rec in enumerate(self.nodes):
            if rec["parent"] >= 0:
                (left if rec["is_left"] else right)[rec["parent"]] = i
        feature = np.full(n, UNDEFINED, dtype=np.int64)
        threshold = np.full(n, float(UNDEFINED))
        missing_left = np.zeros(n, dtype=np.int8)
        start = np.zeros(n + 1, dtype=np.int64)
        s_feature, s_threshold, s_below_left = [], [], []
        for i, rec in enumerate(self.nodes):
            start[i + 1] = start[i]
            if rec["split"] is None:
                continue
            f, split, direction = rec["split"]
            feature[i], threshold[i] = f, np.nextafter(split, -np.inf)    # x < split
            for g, s, d, _, _ in rec["surrogates"]:
                s_feature.append(g)
                s_threshold.append(np.nextafter(s, -np.inf))
                s_below_left.append(int(d == direction))
            start[i + 1] += len(rec["surrogates"])
        # At predict, a row missing every surrogate goes to the child with more training rows,
        # and stays here when they have as many (rpart's pred_rpart); the majority at fit is
        # by the primary's own weights (nodesplit) - usually, not always, the same side.
        n_rows = np.array([rec["rows"] for rec in self.nodes])
        split = left != LEAF
        bigger = np.sign(n_rows[left[split]] - n_rows[right[split]])
        missing_left[split] = np.select([bigger > 0, bigger < 0], [1, 0], -1)
        value = np.array([rec["value"] for rec in self.nodes])
        return Tree(left, right, feature, threshold, value,
                    np.array([rec["impurity"] for rec in self.nodes]),
                    np.array([rec["rows"] for rec in self.nodes], dtype=np.int64),
                    np.array([rec["weight"] for rec in self.nodes]), None, missing_left,
                    start, np.array(s_feature, dtype=np.int64),
                    np.array(s_threshold, dtype=np.float64),
                    np.array(s_below_left, dtype=np.int8), 64)


def grow_rpart(X, y, classify, n_classes, criterion, rules, max_surrogate=5):
    """Grow as rpart does (see the module docstring) on float64 X with NaN for missing values;
    ``rules``: ``grow.StoppingRules`` (min_samples_split = rpart's minsplit, min_samples_leaf =
    minbucket, max_depth = maxdepth; the tree grows fully, as rpart with cp < 0). Returns
    (Tree, split table: one record per split with its improvement, count and surrogates)."""
    g = _Grower(np.asarray(X, dtype=np.float64), y, classify, n_classes, criterion, rules,
                max_surrogate)
    g.grow(g.order, np.arange(len(y)), 0)
    return g.tree(), g.table


UNSUPPORTED = (("max_features", None), ("max_leaf_nodes", None),
               ("min_impurity_decrease", 0.0), ("min_weight_fraction_leaf", 0.0),
               ("class_weight", None))


def grow_surrogate(est, X, y, sample_weight, rules):
    """``est.fit``'s growth with ``missing="surrogate"``: the parameters rpart has, checked,
    then ``grow_rpart`` on X as float64, without the rows missing every feature (as rpart's
    ``na.rpart`` drops them)."""
    for name, default in UNSUPPORTED:
        if getattr(est, name, default) != default:
            raise ValueError(f"{name}={getattr(est, name)!r} has no counterpart in rpart's "
                             f"growth; missing='surrogate' takes max_depth, "
                             f"min_samples_split, min_samples_leaf, max_surrogate and ccp_alpha")
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with missing='surrogate'")
    if est.criterion == "absolute_error":
        raise ValueError("criterion='absolute_error' has no rpart method; missing='surrogate' "
                         "takes gini, entropy or squared_error")
    m = est.max_surrogate
    if not isinstance(m, (int, np.integer)) or isinstance(m, bool) or m < 0:
        raise ValueError(f"max_surrogate must be an integer >= 0, got {m!r}")
    classify = hasattr(est, "classes_")
    X = np.asarray(X, dtype=np.float64)
    known = ~np.isnan(X).all(axis=1)          # rpart's na.rpart drops rows missing everything
    X, y = X[known], y[known]
    return grow_rpart(X, y, classify, len(est.classes_) if classify else 1, est.criterion,
                      rules, int(m))
