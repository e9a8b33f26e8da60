"""Growing a tree: depth-first, or best-first when max_leaf_nodes is set. StoppingRules are
pre-pruning: they decide, before a split is made, that a node stays a leaf.

The rules and the order of nodes follow scikit-learn's tree builders, so that the same data and
parameters give the same tree.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .criteria import CODES, SQUARED_ERROR, class_impurity, squared_error
from .splitter import best_split_classes, best_split_values, partition, presort
from .structure import LEAF, UNDEFINED, Tree

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


class _Grower:
    """Holds the presorted data and appends nodes to growing arrays."""

    def __init__(self, X, y, criterion, n_classes, rules):
        self.XT = np.ascontiguousarray(X.T, dtype=np.float32)
        self.order = presort(self.XT)
        self.y = y
        self.code = CODES[criterion]
        self.n_classes = n_classes
        self.rules = rules
        self.n_total = len(y)
        self.goes_left = np.zeros(len(y), dtype=np.bool_)
        self.buffer = np.empty(len(y), dtype=np.int64)
        self.nodes = {k: [] for k in Tree.FIELDS}
        self.tied_splits = 0           # splits chosen among equally good features

    def samples(self, start, end):
        return self.order[0, start:end]

    def node_stats(self, start, end):
        """(value, impurity) of the node [start, end) computed from scratch (the root)."""
        ys = self.y[self.samples(start, end)]
        n = end - start
        if self.code == SQUARED_ERROR:
            return np.array([ys.sum() / n]), squared_error(ys.sum(), (ys * ys).sum(), float(n))
        counts = np.bincount(ys, minlength=self.n_classes).astype(np.float64)
        return counts, class_impurity(counts, float(n), self.code)

    def value(self, start, end):
        ys = self.y[self.samples(start, end)]
        if self.code == SQUARED_ERROR:
            return np.array([ys.sum() / (end - start)])
        return np.bincount(ys, minlength=self.n_classes).astype(np.float64)

    def find_split(self, start, end, impurity):
        """The best split of a node and its children's impurities and weighted improvement."""
        if self.code == SQUARED_ERROR:
            f, pos, t, found, ties = best_split_values(self.XT, self.order, start, end, self.y,
                                                       self.rules.min_samples_leaf)
        else:
            f, pos, t, found, ties = best_split_classes(self.XT, self.order, start, end, self.y,
                                                        self.n_classes,
                                                        self.rules.min_samples_leaf, self.code)
        if not found:
            return None
        self.tied_splits += ties > 0
        row = self.order[f]
        n, n_left = end - start, pos - start
        n_right = n - n_left
        if self.code == SQUARED_ERROR:
            yl, ys = self.y[row[start:pos]], self.y[row[start:end]]
            sq_total, sq_left = (ys * ys).sum(), (yl * yl).sum()
            s_total, s_left = ys.sum(), yl.sum()
            imp_l = sq_left / n_left - (s_left / n_left) ** 2.0
            imp_r = (sq_total - sq_left) / n_right - ((s_total - s_left) / n_right) ** 2.0
        else:
            left = np.bincount(self.y[row[start:pos]], minlength=self.n_classes)
            right = np.bincount(self.y[row[pos:end]], minlength=self.n_classes)
            imp_l = class_impurity(left.astype(np.float64), float(n_left), self.code)
            imp_r = class_impurity(right.astype(np.float64), float(n_right), self.code)
        improvement = (n / self.n_total) * (impurity - (n_right / n * imp_r)
                                            - (n_left / n * imp_l))
        return f, pos, t, imp_l, imp_r, improvement

    def is_leaf_before_split(self, n, depth, impurity):
        r = self.rules
        return (depth >= r.depth_limit or n < r.split_limit or impurity <= EPSILON)

    def add_node(self, start, end, impurity, split):
        nodes = self.nodes
        node_id = len(nodes["feature"])
        nodes["children_left"].append(LEAF)
        nodes["children_right"].append(LEAF)
        nodes["feature"].append(split[0] if split else UNDEFINED)
        nodes["threshold"].append(split[2] if split else float(UNDEFINED))
        nodes["value"].append(self.value(start, end))
        nodes["impurity"].append(impurity)
        nodes["n_node_samples"].append(end - start)
        return node_id

    def make_leaf(self, node_id):
        self.nodes["feature"][node_id] = UNDEFINED
        self.nodes["threshold"][node_id] = float(UNDEFINED)

    def link(self, parent, child, is_left):
        if parent >= 0:
            self.nodes["children_left" if is_left else "children_right"][parent] = child

    def split_node(self, start, end, depth, impurity):
        """The split this node will use, or None when a stopping rule makes it a leaf."""
        if self.is_leaf_before_split(end - start, depth, impurity):
            return None
        split = self.find_split(start, end, impurity)
        if split is None or split[5] + EPSILON < self.rules.min_impurity_decrease:
            return None
        partition(self.order, start, end, split[0], split[1], self.goes_left, self.buffer)
        return split

    def tree(self):
        n = self.nodes
        return Tree(np.array(n["children_left"], dtype=np.int64),
                    np.array(n["children_right"], dtype=np.int64),
                    np.array(n["feature"], dtype=np.int64),
                    np.array(n["threshold"], dtype=np.float64),
                    np.array(n["value"], dtype=np.float64),
                    np.array(n["impurity"], dtype=np.float64),
                    np.array(n["n_node_samples"], dtype=np.int64))


def grow(X, y, criterion, n_classes, rules):
    """Grow a tree on X (n, d) and y (int classes or float values).

    Returns ``(tree, tied_splits)``: the ``Tree`` and how many of its splits were chosen among
    several equally good features (by the lowest index).
    """
    g = _Grower(X, y, criterion, n_classes, rules)
    _, root_impurity = g.node_stats(0, len(y))
    if rules.max_leaf_nodes is None:
        _depth_first(g, root_impurity)
    else:
        _best_first(g, root_impurity)
    return g.tree(), g.tied_splits


def _depth_first(g, root_impurity):
    # Preorder with the left child first: push right, then left (scikit-learn's stack order).
    stack = [(0, g.n_total, 0, -1, False, root_impurity)]
    while stack:
        start, end, depth, parent, is_left, impurity = stack.pop()
        split = g.split_node(start, end, depth, impurity)
        node = g.add_node(start, end, impurity, split)
        g.link(parent, node, is_left)
        if split is not None:
            f, pos, t, imp_l, imp_r, _ = split
            stack.append((pos, end, depth + 1, node, False, imp_r))
            stack.append((start, pos, depth + 1, node, True, imp_l))


def _best_first(g, root_impurity):
    """Expand the frontier node with the largest improvement until max_leaf_nodes leaves.

    A node's split is found when the node is created; nodes are numbered in creation order.
    """
    budget = g.rules.max_leaf_nodes - 1            # splits still allowed
    frontier, tick = [], 0

    def add(start, end, depth, parent, is_left, impurity):
        nonlocal tick
        split = g.split_node(start, end, depth, impurity)
        node = g.add_node(start, end, impurity, split)
        g.link(parent, node, is_left)
        improvement = 0.0 if split is None else split[5]
        heapq.heappush(frontier, (-improvement, tick, node, start, end, depth, split))
        tick += 1

    add(0, g.n_total, 0, -1, False, root_impurity)
    while frontier:
        _, _, node, start, end, depth, split = heapq.heappop(frontier)
        if split is None or budget <= 0:
            g.make_leaf(node)
            continue
        budget -= 1
        f, pos, t, imp_l, imp_r, _ = split
        add(start, pos, depth + 1, node, True, imp_l)
        add(pos, end, depth + 1, node, False, imp_r)
