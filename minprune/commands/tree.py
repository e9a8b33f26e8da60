"""``minprune tree``: grow, pre-prune and post-prune a decision tree on a dataset or a CSV."""
from __future__ import annotations

import os
import time

import numpy as np

from . import trees
from .common import UsageError, prepare_out
from .report import Report

TREE_DATASETS = ("classification", "two-moons", "spirals", "blobs", "checkerboard", "regression")


def add_arguments(p):
    p.add_argument("--dataset", default="classification",
                   help=f"{', '.join(TREE_DATASETS)}, or PATH.csv with --target")
    p.add_argument("--target", default=None, help="the target column of a CSV file")
    p.add_argument("--criterion", default=None, help="gini, entropy or squared_error")
    p.add_argument("--max-depth", type=int, default=None,
                   help="pre-pruning depth limit (default: chosen on validation data)")
    p.add_argument("--min-samples-leaf", type=int, default=None,
                   help="pre-pruning leaf size (default: chosen on validation data)")
    p.add_argument("--post", default="all", help="ccp, rep, pep, ebp, mep, a list, or all")
    p.add_argument("--n-samples", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/tree")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")


def load_table(args):
    from .. import data
    if args.dataset.endswith(".csv"):
        if args.target is None:
            raise UsageError("a CSV dataset needs --target COLUMN")
        try:
            X, y, names, classes = data.load_csv(args.dataset, args.target)
        except (ValueError, FileNotFoundError) as exc:
            raise UsageError(str(exc)) from None
        return X, y, names
    n, seed = args.n_samples, args.seed
    makers = {"classification": lambda: data.make_classification(
                  n, 10, n_informative=4, n_redundant=2, flip_y=0.2, seed=seed),
              "two-moons": lambda: data.two_moons(n, noise=0.3, seed=seed),
              "spirals": lambda: data.spirals(n, noise=0.3, seed=seed),
              "blobs": lambda: data.blobs(n, spread=3.0, seed=seed),
              "checkerboard": lambda: data.checkerboard(n, noise=0.1, seed=seed),
              "regression": lambda: data.make_regression(n, 8, n_informative=4, noise=20.0,
                                                         seed=seed)[:2]}
    if args.dataset not in makers:
        raise UsageError(f"unknown dataset {args.dataset!r}; choose from "
                         f"{', '.join(TREE_DATASETS)} or give a PATH.csv")
    X, y = makers[args.dataset]()
    return X, y, None


def run(args, out=print):
    from .. import tree
    start = time.perf_counter()
    post = trees.parse_post(args.post)
    X, y, names = load_table(args)
    classify = y.dtype.kind in "iu"
    criterion = args.criterion or ("gini" if classify else "squared_error")
    allowed = ("gini", "entropy") if classify else ("squared_error",)
    if criterion not in allowed:
        raise UsageError(f"criterion {criterion!r} does not fit a "
                         f"{'class' if classify else 'continuous'} target; choose from "
                         f"{', '.join(allowed)}")
    for name, value in (("--max-depth", args.max_depth),
                        ("--min-samples-leaf", args.min_samples_leaf)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value}")
    if not classify and any(p in trees.CLASSIFICATION_ONLY for p in post):
        post = [p for p in post if p not in trees.CLASSIFICATION_ONLY] if args.post == "all" \
            else post
    prepare_out(args.out, args.force)
    out(f"{len(X):,} samples, {X.shape[1]} features; growing and pruning ({', '.join(post)})")
    split = trees.split_three(np.asarray(X), np.asarray(y), args.seed)
    rows, grown, alpha = trees.tree_study(split, criterion=criterion, max_depth=args.max_depth,
                                          min_samples_leaf=args.min_samples_leaf, post=post,
                                          seed=args.seed, log=out)
    report = Report(args.out, f"minprune tree: {os.path.basename(args.dataset)}")
    final = trees.figures(report, grown, alpha, names)
    text = tree.export_text(final, feature_names=names)
    report.add("Trees", trees.paragraph(rows), table=(rows, trees.COLUMNS),
               figures=[("ccp_path.png", "cost-complexity path"),
                        ("pruned_tree.png", "the pruned tree")],
               key="tree", data={"dataset": args.dataset, "criterion": criterion,
                                 "ccp_alpha": alpha, "rows": rows})
    report.add("The pruned tree as text", "```\n" + text + "```")
    report.results["seconds"] = time.perf_counter() - start
    path = report.write()
    out(text if len(text) < 4000 else text[:4000] + "...\n")
    out(f"report: {os.path.abspath(path)}")
    return 0
