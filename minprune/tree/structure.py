"""The flat tree: parallel arrays indexed by node id (scikit-learn's layout), and traversal."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jit import njit

LEAF = -1          # children_left / children_right of a leaf
UNDEFINED = -2     # feature and threshold of a leaf
PRUNED = 8         # the stop reason of a node that post-pruning turned into a leaf


@dataclass
class Tree:
    """A binary tree as arrays; node 0 is the root, a leaf has children -1.

    value : (n_nodes, n_classes) class counts (weighted, with sample weights) for
        classification, (n_nodes, 1) means (medians for absolute_error) for regression.
    n_node_samples : training samples per node (those of positive weight, as scikit-learn);
    weighted_n_node_samples : their total weight (= n_node_samples without weights).
    stop_reason : why each node is a leaf, a code of ``grow.STOP_REASONS`` (0 for a split node;
        -1 when not recorded); ``stopping_trace`` reads it.
    missing_go_to_left : 1 where a split sends a missing value (NaN) left, as scikit-learn's
        (where the split's feature had no missing values at fit: the side with more samples;
        trees saved before missing values were learned get that rule); with surrogates, where
        a row missing every surrogate goes (-1: nowhere, it stays in the node, rpart's rule
        when the primary split sent equal weights each way).
    surrogate_start, surrogate_feature, surrogate_threshold, surrogate_below_left : surrogate
        splits (trees grown with ``missing="surrogate"``): node i's are entries
        surrogate_start[i]:surrogate_start[i + 1], best first; a row missing the split's
        feature goes by the first whose feature it has, left when (value <= threshold) equals
        ``surrogate_below_left``. None: no surrogates.
    split_precision : 32 (scikit-learn's trees: values compared as float32) or 64 (rpart's:
        as float64, each threshold the largest double below rpart's split point, so that
        ``x <= threshold`` is rpart's ``x < split``).
    """
    children_left: np.ndarray
    children_right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    impurity: np.ndarray
    n_node_samples: np.ndarray
    weighted_n_node_samples: np.ndarray = None
    stop_reason: np.ndarray = None
    missing_go_to_left: np.ndarray = None
    surrogate_start: np.ndarray = None
    surrogate_feature: np.ndarray = None
    surrogate_threshold: np.ndarray = None
    surrogate_below_left: np.ndarray = None
    split_precision: np.ndarray = None

    def __post_init__(self):
        if self.weighted_n_node_samples is None:
            self.weighted_n_node_samples = self.n_node_samples.astype(np.float64)
        if self.stop_reason is None:                # unknown: 0 for split nodes, -1 for leaves
            self.stop_reason = np.where(self.children_left == LEAF, -1, 0).astype(np.int8)
        if self.missing_go_to_left is None:          # the bigger side, scikit-learn's default
            split = self.children_left != LEAF
            bigger = np.zeros(self.node_count, dtype=bool)
            bigger[split] = (self.n_node_samples[self.children_left[split]]
                             > self.n_node_samples[self.children_right[split]])
            self.missing_go_to_left = bigger.astype(np.int8)
        if self.surrogate_start is None:
            self.surrogate_start = np.zeros(self.node_count + 1, dtype=np.int64)
            self.surrogate_feature = np.zeros(0, dtype=np.int64)
            self.surrogate_threshold = np.zeros(0)
            self.surrogate_below_left = np.zeros(0, dtype=np.int8)
        self.split_precision = np.asarray(32 if self.split_precision is None
                                          else self.split_precision, dtype=np.int64)

    @property
    def split_dtype(self):
        """The dtype values are compared in: float32 or float64."""
        return np.float64 if int(self.split_precision) == 64 else np.float32

    def surrogates(self, node):
        """Node ``node``'s surrogate splits: [(feature, threshold, below_left)], best first."""
        a, b = self.surrogate_start[node], self.surrogate_start[node + 1]
        return list(zip(self.surrogate_feature[a:b].tolist(),
                        self.surrogate_threshold[a:b].tolist(),
                        self.surrogate_below_left[a:b].tolist()))

    @property
    def node_count(self):
        return len(self.feature)

    @property
    def is_leaf(self):
        return self.children_left == LEAF

    @property
    def n_leaves(self):
        return int(self.is_leaf.sum())

    @property
    def max_depth(self):
        return int(self.depths().max())

    def depths(self):
        depth = np.zeros(self.node_count, dtype=np.int64)
        for node in range(self.node_count):           # parents come before children
            for child in (self.children_left[node], self.children_right[node]):
                if child != LEAF:
                    depth[child] = depth[node] + 1
        return depth

    def parents(self):
        parent = np.full(self.node_count, -1, dtype=np.int64)
        internal = np.flatnonzero(~self.is_leaf)
        parent[self.children_left[internal]] = internal
        parent[self.children_right[internal]] = internal
        return parent

    def apply(self, X):
        """The leaf id reached by each row of X (x <= threshold goes left; NaN goes where
        ``missing_go_to_left`` says)."""
        X = np.ascontiguousarray(X, dtype=self.split_dtype)
        small = [a.astype(np.int32) for a in (self.children_left, self.children_right,
                                               self.feature)]   # half the memory traffic
        return _apply(X, *small, self.threshold, self.missing_go_to_left.astype(np.int8),
                      self.surrogate_start, self.surrogate_feature, self.surrogate_threshold,
                      self.surrogate_below_left)

    def route(self, node, X):
        """Where split ``node`` sends each row of X (n, n_features): 1 left, 0 right, -1 stays
        (predict's rule: the split, then the surrogates, then ``missing_go_to_left``)."""
        X = np.asarray(X, dtype=self.split_dtype)
        v = X[:, self.feature[node]]
        side = np.where(v <= self.threshold[node], 1, 0).astype(np.int8)
        todo = np.isnan(v)
        for f, t, below_left in self.surrogates(node):
            if not todo.any():
                break
            u = X[:, f]
            here = todo & ~np.isnan(u)
            side[here] = np.where((u[here] <= t) == bool(below_left), 1, 0)
            todo &= ~here
        side[todo] = self.missing_go_to_left[node]
        return side

    def subtree(self, keep_as_leaf):
        """A new Tree with the nodes in ``keep_as_leaf`` turned into leaves and their
        descendants dropped; nodes are renumbered in depth-first preorder, left first."""
        keep_as_leaf = np.asarray(keep_as_leaf, dtype=bool)
        old_ids, stack = [], [0]
        while stack:
            node = stack.pop()
            old_ids.append(node)
            if self.children_left[node] != LEAF and not keep_as_leaf[node]:
                stack.append(self.children_right[node])
                stack.append(self.children_left[node])
        old_ids = np.array(old_ids, dtype=np.int64)
        new_id = np.full(self.node_count, LEAF, dtype=np.int64)
        new_id[old_ids] = np.arange(len(old_ids))
        leaf = (self.children_left[old_ids] == LEAF) | keep_as_leaf[old_ids]
        left = np.where(leaf, LEAF, new_id[self.children_left[old_ids]])
        right = np.where(leaf, LEAF, new_id[self.children_right[old_ids]])
        return Tree(left, right, np.where(leaf, UNDEFINED, self.feature[old_ids]),
                    np.where(leaf, float(UNDEFINED), self.threshold[old_ids]),
                    self.value[old_ids].copy(), self.impurity[old_ids].copy(),
                    self.n_node_samples[old_ids].copy(),
                    self.weighted_n_node_samples[old_ids].copy(),
                    np.where(keep_as_leaf[old_ids] & (self.children_left[old_ids] != LEAF),
                             PRUNED, self.stop_reason[old_ids]).astype(np.int8),
                    np.where(leaf, 0, self.missing_go_to_left[old_ids]).astype(np.int8),
                    *self._surrogates_of(old_ids, leaf), self.split_precision)

    def _surrogates_of(self, old_ids, leaf):
        """The surrogate arrays for the nodes ``old_ids`` (in this order), none for leaves."""
        keep = [np.arange(self.surrogate_start[i], self.surrogate_start[i + 1])
                for i, is_leaf in zip(old_ids, leaf) if not is_leaf]
        counts = [0 if is_leaf else self.surrogate_start[i + 1] - self.surrogate_start[i]
                  for i, is_leaf in zip(old_ids, leaf)]
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        idx = np.concatenate(keep).astype(np.int64) if keep else np.zeros(0, dtype=np.int64)
        return (start, self.surrogate_feature[idx], self.surrogate_threshold[idx],
                self.surrogate_below_left[idx])

    def copy(self):
        return Tree(*(np.array(a, copy=True) for a in self.arrays()))

    def arrays(self):
        return (self.children_left, self.children_right, self.feature, self.threshold,
                self.value, self.impurity, self.n_node_samples, self.weighted_n_node_samples,
                self.stop_reason, self.missing_go_to_left, self.surrogate_start,
                self.surrogate_feature, self.surrogate_threshold, self.surrogate_below_left,
                self.split_precision)

    FIELDS = ("children_left", "children_right", "feature", "threshold", "value", "impurity",
              "n_node_samples", "weighted_n_node_samples", "stop_reason", "missing_go_to_left",
              "surrogate_start", "surrogate_feature", "surrogate_threshold",
              "surrogate_below_left", "split_precision")


@njit(cache=True)
def _apply(X, left, right, feature, threshold, missing_left, s_start, s_feature, s_threshold,
           s_below_left):
    """Walk every row from the root to its leaf (or to the node where it stays); float32
    values against float64 thresholds, as scikit-learn compares them; a missing value by the
    node's surrogates, then where ``missing_left`` says."""
    out = np.empty(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        node = 0
        while left[node] != -1:
            v = X[i, feature[node]]
            if np.isnan(v):
                go = missing_left[node]
                for k in range(s_start[node], s_start[node + 1]):
                    u = X[i, s_feature[k]]
                    if not np.isnan(u):
                        go = 1 if (u <= s_threshold[k]) == (s_below_left[k] == 1) else 0
                        break
                if go < 0:                              # no majority: it stays here
                    break
            else:
                go = 1 if v <= threshold[node] else 0
            node = left[node] if go == 1 else right[node]
        out[i] = node
    return out
