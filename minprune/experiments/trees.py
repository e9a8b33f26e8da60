"""The tree study: a full tree, a pre-pruned tree chosen on validation data, and each
post-pruning method, side by side - a pure function of a ``TreeConfig``."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import tree
from ..checks import integer, one_of
from ..data import train_test_split
from ..tree.criteria import CLASSIFICATION, REGRESSION
from ..tree.methods import POST_PRUNERS

TASKS = ("auto", "classification", "regression")
MAX_CLASSES = 20        # "auto": integer targets with at most this many values are classes
MIN_SAMPLES = 20        # the study splits 50/25/25: fewer cannot leave every part a tree
DEPTHS = (2, 3, 4, 6, 8, 10, 12, None)
LEAF_SIZES = (1, 5, 10, 20, 50)


@dataclass(frozen=True)
class TreeConfig:
    """Everything a tree study depends on. ``criterion`` None: gini for class labels,
    squared_error for a continuous target. ``max_depth`` / ``min_samples_leaf`` None: chosen
    on the validation split."""
    criterion: str = None
    max_depth: int = None
    min_samples_leaf: int = None
    post: tuple = ("ccp", "rep", "pep", "ebp", "mep", "cvp")
    seed: int = 0
    missing: str = "side"


@dataclass
class TreeStudy:
    """One row per tree, the estimators by row name, the chosen cost-complexity alpha and
    its cross-validation table (None without ccp), and the optimally pruned tree on the test
    data (the yardstick of each row's ``over`` / ``under``-pruning)."""
    rows: list
    trees: dict
    alpha: float
    cv_table: list
    optimal: object = None


def is_classification(y):
    return np.asarray(y).dtype.kind in "iubUS"


def task_of(y, task="auto"):
    """``(task, y as the estimators take it, why)`` for a target column.

    ``task`` "auto" reads text labels, and integer values with at most ``MAX_CLASSES``
    distinct values (0/1, 1-5 ratings, class ids in a CSV), as classes; anything else as a
    continuous target. "classification" or "regression" say it outright (ValueError where
    the target cannot be that: text labels are no numbers, fractions are no classes).
    """
    one_of("task", task, TASKS)
    y = np.asarray(y)
    text = y.dtype.kind in "US"
    values = np.unique(y)
    integral = (not text and np.all(np.isfinite(values.astype(float)))
                and np.all(values == np.round(values.astype(float))))
    labels = y if text else y.astype(np.int64) if integral else None
    if task == "regression":
        if text:
            raise ValueError(f"task 'regression' needs numbers; the target holds text labels "
                             f"such as {str(values[0])!r}")
        return "regression", y.astype(np.float64), "a continuous target (as asked)"
    if task == "classification":
        if labels is None:
            odd = values[values != np.round(values)][0]
            raise ValueError(f"task 'classification' needs class labels; the target holds "
                             f"non-integer values such as {float(odd)!r}")
        return "classification", labels, f"{len(values)} classes (as asked)"
    if text:
        return "classification", labels, f"{len(values)} text labels: classification"
    if integral and len(values) <= MAX_CLASSES:
        return ("classification", labels, f"{len(values)} distinct integer values: "
                f"classification (--task regression to treat them as numbers)")
    why = "non-integer values" if not integral else f"{len(values)} distinct integer values"
    return ("regression", y.astype(np.float64), f"{why}: a continuous target "
            f"(--task classification to treat them as classes)")


def applicable(post, y):
    """``(the post-pruners of post that fit the target, {skipped one: why})``."""
    if is_classification(y):
        return list(post), {}
    skipped = {p: "it counts misclassifications, and the target is continuous"
               for p in post if POST_PRUNERS[p].classification_only}
    return [p for p in post if p not in skipped], skipped


def check(config, y):
    """Refuse a config that does not fit the target ``y``, naming why (ValueError)."""
    classify = is_classification(y)
    if len(y) < MIN_SAMPLES:
        raise ValueError(f"the tree study splits the data 50/25/25 (train, validation, test) "
                         f"and needs at least {MIN_SAMPLES} samples, got {len(y)}")
    if classify:
        classes, counts = np.unique(y, return_counts=True)
        if counts.min() < 4:
            raise ValueError(f"class {classes[np.argmin(counts)]!r} has {counts.min()} "
                             f"sample(s); the stratified 50/25/25 split needs at least 4 of "
                             f"each class")
    allowed = CLASSIFICATION if classify else REGRESSION
    if config.criterion is not None and config.criterion not in allowed:
        raise ValueError(f"criterion {config.criterion!r} does not fit a "
                         f"{'class' if classify else 'continuous'} target; choose from "
                         f"{', '.join(allowed)}")
    for name in ("max_depth", "min_samples_leaf"):
        if getattr(config, name) is not None:
            integer(name, getattr(config, name), 1)
    for name in config.post:
        one_of("post-pruning method", name, tuple(POST_PRUNERS))
    bad = [p for p in config.post if POST_PRUNERS[p].classification_only]
    if bad and not classify:
        raise ValueError(f"post-pruning {', '.join(bad)} counts misclassifications and needs "
                         f"class labels; for a continuous target use ccp or rep")
    return config.criterion or allowed[0]


def split_three(X, y, rng):
    """Train / validation / test = 50 / 25 / 25%."""
    stratify = is_classification(y)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=rng,
                                                      stratify=stratify)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=1 / 3,
                                                      random_state=rng, stratify=stratify)
    return (X_train, y_train), (X_val, y_val), (X_test, y_test)


def choose_pre_pruning(make, train, val, max_depth, min_samples_leaf):
    """Depth and leaf-size limits: the given ones, or the best pair on the validation set."""
    depths = [max_depth] if max_depth is not None else DEPTHS
    leaves = [min_samples_leaf] if min_samples_leaf is not None else LEAF_SIZES
    best = None
    for d, leaf in itertools.product(depths, leaves):
        est = make(max_depth=d, min_samples_leaf=leaf).fit(*train)
        score = est.score(*val)
        if best is None or score > best[0]:
            best = (score, d, leaf, est)
    return best[1], best[2], best[3]


def tree_study(config, X, y, log=print):
    """Split ``(X, y)`` 50/25/25, grow, pre-prune and post-prune; returns a ``TreeStudy``."""
    criterion = check(config, y)
    train, val, test = split_three(np.asarray(X), np.asarray(y), config.seed)
    cls = tree.DecisionTreeClassifier if is_classification(y) else tree.DecisionTreeRegressor
    make = lambda **kw: cls(criterion=criterion, random_state=config.seed,
                            missing=config.missing, **kw)
    full = make().fit(*train)
    trees = {"full tree": full}
    log(f"  full tree: {full.get_n_leaves()} leaves")
    d, leaf, pre = choose_pre_pruning(make, train, val, config.max_depth,
                                      config.min_samples_leaf)
    trees[f"pre-pruned (max_depth={d}, min_samples_leaf={leaf})"] = pre
    alpha = cv_table = None
    for name in config.post:
        method = POST_PRUNERS[name]
        trees[method.label], info = method.run(full, train, val, config.seed)
        alpha, cv_table = info.get("alpha", alpha), info.get("cv_table", cv_table)
        log(f"  {method.label}: {trees[method.label].get_n_leaves()} leaves")
    optimal = tree.optimal_pruning(full, *test)
    log(f"  optimally pruned (on the test data): {optimal.get_n_leaves()} leaves")
    rows = [{"method": name, "leaves": est.get_n_leaves(), "depth": est.get_depth(),
             "train": est.score(*train), "test": est.score(*test), **deviation(full, est, optimal)}
            for name, est in trees.items()]
    return TreeStudy(rows, trees, alpha, cv_table, optimal)


def deviation(full, est, optimal):
    """{"over": .., "under": ..} splits against the optimally pruned tree, or "-" for both
    where ``est`` is not a pruning of ``full`` (a pre-pruned tree grown with other limits)."""
    try:
        return tree.pruning_deviation(full, est, optimal)
    except ValueError:
        return {"over": "-", "under": "-"}
