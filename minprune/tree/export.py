"""Showing a tree: ``export_text`` (as scikit-learn prints it) and ``plot_tree`` (matplotlib)."""
from __future__ import annotations

import numpy as np

from ..figure import new_figure
from .structure import LEAF


def _leaf_text(est, node, decimals):
    value = est.tree_.value[node]
    if hasattr(est, "classes_"):
        return f"class: {est.classes_[int(np.argmax(value))]}"
    return f"value: [{value[0]:.{decimals}f}]"


def export_text(est, feature_names=None, decimals=2, max_depth=None, show_missing=False):
    """The tree as indented rules, one line per branch and leaf::

        |--- feature_1 <= 0.50
        |   |--- class: 0
        |--- feature_1 >  0.50
        |   |--- class: 1

    ``show_missing``: mark the branch a missing value (NaN) takes with ", or missing" (off:
    scikit-learn's text, which does not say). A tree grown with ``missing="surrogate"`` lists
    each split's surrogates after it, best first, as rules for the rows the split sends left.
    """
    est._check_fitted()
    tree = est.tree_
    n_features = est.n_features_in_
    if feature_names is None:
        feature_names = [f"feature_{i}" for i in range(n_features)]
    elif len(feature_names) != n_features:
        raise ValueError(f"feature_names has {len(feature_names)} names, the tree has "
                         f"{n_features} features")
    lines = []
    stack = [(0, 1)]
    while stack:
        node, depth = stack.pop()
        indent = "|   " * (depth - 1) + "|--- "
        if isinstance(node, tuple):                  # the "> threshold" half of a split
            lines.append(indent + node[1])
            continue
        if tree.children_left[node] == LEAF:
            lines.append(indent + _leaf_text(est, node, decimals))
            continue
        if max_depth is not None and depth > max_depth:
            lines.append(indent + "truncated branch")
            continue
        name = feature_names[tree.feature[node]]
        t = tree.threshold[node]
        left_missing = bool(tree.missing_go_to_left[node])
        mark = (", or missing" if left_missing else "", "" if left_missing else ", or missing")
        if not show_missing:
            mark = ("", "")
        stack.append((tree.children_right[node], depth + 1))
        stack.append(((None, f"{name} >  {t:.{decimals}f}{mark[1]}"), depth))
        stack.append((tree.children_left[node], depth + 1))
        rules = [f"{feature_names[f]} {'<=' if below else '> '} {s:.{decimals}f}"
                 for f, s, below in tree.surrogates(node)]
        also = f"  (surrogates: {', '.join(rules)})" if rules else ""
        lines.append(indent + f"{name} <= {t:.{decimals}f}{mark[0]}{also}")
    return "\n".join(lines) + "\n"


def plot_tree(est, ax=None, feature_names=None, class_names=None, max_depth=None, fontsize=8):
    """Draw the tree: boxes with the split, the samples, the class counts and the majority
    class (or the mean); leaves coloured by their majority class. Below ``max_depth`` a
    subtree is drawn as one dashed box that says how many leaves it hides, so a cut tree
    never looks like a smaller one. Returns the matplotlib Axes."""
    from matplotlib.colors import to_rgb          # matplotlib loads with a figure
    est._check_fitted()
    tree = est.tree_
    if ax is None:
        ax = new_figure(10, 6).subplots()
    names = feature_names or [f"x{i}" for i in range(est.n_features_in_)]
    depth = tree.depths()
    shown = depth <= (max_depth if max_depth is not None else depth.max())
    # x position: leaves (or cut-off nodes) left to right, parents centred over children
    x = np.zeros(tree.node_count)
    counter = [0]

    def place(node):
        children = (tree.children_left[node], tree.children_right[node])
        if children[0] == LEAF or not shown[children[0]]:
            x[node] = counter[0]
            counter[0] += 1
            return
        for c in children:
            place(c)
        x[node] = (x[children[0]] + x[children[1]]) / 2
    place(0)
    hidden = _leaves_below(tree)
    width, height = max(counter[0], 1), max(depth[shown].max(), 1)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for node in np.flatnonzero(shown):
        px, py = x[node] / width, 1 - depth[node] / (height + 0.5)
        for c in (tree.children_left[node], tree.children_right[node]):
            if c != LEAF and shown[c]:
                ax.plot([px, x[c] / width], [py, 1 - depth[c] / (height + 0.5)], "k-", lw=0.6,
                        zorder=1)
        value = tree.value[node]
        if hasattr(est, "classes_"):
            k = int(np.argmax(value))
            label = class_names[k] if class_names else est.classes_[k]
            counts = ", ".join(f"{v:g}" for v in value)
            body = f"n={tree.n_node_samples[node]}\n[{counts}]\n{label}"
            face = colors[k % len(colors)]
        else:
            body = f"n={tree.n_node_samples[node]}\nmean={value[0]:.3g}"
            face = "tab:gray"
        cut = tree.children_left[node] != LEAF and not shown[tree.children_left[node]]
        if cut:                                  # a subtree below the drawn depth
            body = f"{hidden[node]} leaves below\n" + body
            face = "white"
        elif tree.children_left[node] != LEAF:
            body = f"{names[tree.feature[node]]} <= {tree.threshold[node]:.3g}\n" + body
            face = "white"
        light = tuple(0.65 + 0.35 * c for c in to_rgb(face)) if face != "white" else "white"
        ax.text(px, py, body, ha="center", va="center", fontsize=fontsize, zorder=3,
                bbox=dict(boxstyle="round", fc=light, ls="--" if cut else "-"))
    ax.set_axis_off()
    return ax


def _leaves_below(tree):
    """Leaves of the subtree under each node (a leaf counts itself)."""
    leaves = np.zeros(tree.node_count, dtype=np.int64)
    for node in range(tree.node_count - 1, -1, -1):        # children come after parents
        left, right = tree.children_left[node], tree.children_right[node]
        leaves[node] = 1 if left == LEAF else leaves[left] + leaves[right]
    return leaves
