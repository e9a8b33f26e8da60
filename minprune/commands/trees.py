"""The tree study shared by ``minprune demo`` and ``minprune tree``: a full tree, a pre-pruned
tree chosen on validation data, and each post-pruning method, side by side."""
from __future__ import annotations

import itertools

POST = {"ccp": "cost-complexity (CV, 1-SE)", "rep": "reduced-error", "pep": "pessimistic",
        "ebp": "error-based (C4.5)", "mep": "minimum-error (m=2)"}
CLASSIFICATION_ONLY = ("pep", "ebp", "mep")
COLUMNS = [("method", "tree", "str"), ("leaves", "leaves", "int"), ("depth", "depth", "int"),
           ("train", "train score", "acc"), ("test", "test score", "acc")]


def parse_post(text):
    from .common import UsageError
    names = list(POST) if text == "all" else [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in POST]
    if unknown or not names:
        raise UsageError(f"unknown post-pruning method {', '.join(unknown) or text!r}; choose "
                         f"from {', '.join(POST)} or all")
    return names


def choose_pre_pruning(make, X, y, X_val, y_val, max_depth, min_samples_leaf):
    """Depth and leaf-size limits: the given ones, or the best pair on the validation set."""
    depths = [max_depth] if max_depth is not None else [2, 3, 4, 6, 8, 10, 12, None]
    leaves = [min_samples_leaf] if min_samples_leaf is not None else [1, 5, 10, 20, 50]
    best = None
    for d, leaf in itertools.product(depths, leaves):
        est = make(max_depth=d, min_samples_leaf=leaf).fit(X, y)
        score = est.score(X_val, y_val)
        if best is None or score > best[0]:
            best = (score, d, leaf, est)
    return best[1], best[2], best[3]


def tree_study(split, *, criterion, max_depth, min_samples_leaf, post, seed, log):
    """Rows (one per tree), the estimators by name, and the chosen ccp alpha."""
    from .. import tree
    (X, y), (X_val, y_val), (X_test, y_test) = split
    classify = criterion != "squared_error"
    cls = tree.DecisionTreeClassifier if classify else tree.DecisionTreeRegressor
    make = lambda **kw: cls(criterion=criterion, **kw)
    if not classify:
        bad = [p for p in post if p in CLASSIFICATION_ONLY]
        if bad:
            from .common import UsageError
            raise UsageError(f"post-pruning {', '.join(bad)} counts misclassifications and "
                             f"needs class labels; for a continuous target use ccp or rep")
    trees = {"full tree": make().fit(X, y)}
    log(f"  full tree: {trees['full tree'].get_n_leaves()} leaves")
    d, leaf, pre = choose_pre_pruning(make, X, y, X_val, y_val, max_depth, min_samples_leaf)
    trees[f"pre-pruned (max_depth={d}, min_samples_leaf={leaf})"] = pre
    full = trees["full tree"]
    alpha = None
    for name in post:
        if name == "ccp":
            alpha, cv_table = tree.select_ccp_alpha(X, y, cv=5, rule="1se", seed=seed,
                                                    estimator=make())
            trees[POST[name]] = tree.prune_ccp(full, alpha)
        elif name == "rep":
            trees[POST[name]] = tree.prune_reduced_error(full, X_val, y_val)
        elif name == "pep":
            trees[POST[name]] = tree.prune_pessimistic(full)
        elif name == "ebp":
            trees[POST[name]] = tree.prune_error_based(full, confidence=0.25)
        else:
            trees[POST[name]] = tree.prune_minimum_error(full, m=2.0)
        log(f"  {POST[name]}: {trees[POST[name]].get_n_leaves()} leaves")
    rows = [{"method": name, "leaves": est.get_n_leaves(), "depth": est.get_depth(),
             "train": est.score(X, y), "test": est.score(X_test, y_test)}
            for name, est in trees.items()]
    return rows, trees, alpha


def figures(report, trees, alpha, feature_names=None):
    """The cost-complexity path with the chosen alpha, and the (cost-complexity) pruned tree."""
    from .. import tree, viz
    full = trees["full tree"]
    path = tree.cost_complexity_path(full)
    fig = viz.new_figure(6, 3.5)
    ax = fig.subplots()
    ax.step(path.ccp_alphas, path.impurities, where="post", label="R(T_alpha)")
    if alpha is not None:
        ax.axvline(alpha, color="red", linestyle="--", label=f"chosen alpha {alpha:.4g}")
    ax.set(xlabel="alpha", ylabel="total impurity of the subtree", xscale="symlog",
           title=f"cost-complexity path ({len(path.ccp_alphas)} subtrees)")
    ax.legend()
    viz.save_png(fig, report.path("ccp_path.png"))
    final = trees.get(POST["ccp"]) or min(trees.values(), key=lambda e: e.get_n_leaves())
    fig = viz.new_figure(11, 6)
    tree.plot_tree(final, ax=fig.subplots(), feature_names=feature_names, max_depth=5)
    viz.save_png(fig, report.path("pruned_tree.png"))
    return final


def paragraph(rows):
    full = rows[0]
    best = max(rows[1:], key=lambda r: (r["test"], -r["leaves"]))
    smallest = min(rows[1:], key=lambda r: r["leaves"])
    text = (f"The full tree fits the training data ({full['train']:.4f}) with "
            f"{full['leaves']} leaves but scores {full['test']:.4f} on test data: it has "
            f"memorised label noise. The {best['method']} tree does best on test data "
            f"({best['test']:.4f}, {best['leaves']} leaves)")
    if smallest is best:
        text += " and is also the smallest."
    else:
        text += (f"; the {smallest['method']} tree is the smallest ({smallest['leaves']} "
                 f"leaves, test {smallest['test']:.4f}).")
    return text + (" Methods that keep many more leaves than the best tree under-prune; a "
                   "tree much smaller than it has over-pruned.")


def split_three(X, y, seed):
    """Train / validation / test = 50 / 25 / 25%."""
    from ..data import train_test_split
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, seed=seed,
                                                      stratify=y.dtype.kind in "iu")
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=1 / 3,
                                                      seed=seed, stratify=y.dtype.kind in "iu")
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


__all__ = ["tree_study", "figures", "paragraph", "split_three", "parse_post"]
