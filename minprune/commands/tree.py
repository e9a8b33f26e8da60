"""``minprune tree``: grow, pre-prune and post-prune a decision tree on a dataset or a CSV."""
from __future__ import annotations

import os
import time

from .common import UsageError, check_out, check_readable, prepare_out, usage


def add_arguments(p):
    from ..data import TABLES  # lazy: at run time, not for --help
    p.add_argument("--dataset", default="classification",
                   help=f"{', '.join(TABLES)}, or PATH.csv with --target")
    p.add_argument("--target", default=None, help="the target column of a CSV file")
    p.add_argument("--task", default="auto",
                   help="auto (text labels and integers with few values are classes), "
                        "classification or regression")
    p.add_argument("--criterion", default=None, help="gini, entropy or squared_error")
    p.add_argument("--max-depth", type=int, default=None,
                   help="pre-pruning depth limit (default: chosen on validation data)")
    p.add_argument("--min-samples-leaf", type=int, default=None,
                   help="pre-pruning leaf size (default: chosen on validation data)")
    p.add_argument("--missing", default="side", choices=("side", "surrogate"),
                   help="how splits treat missing values: side (scikit-learn's: each split "
                        "learns where they go) or surrogate (R's rpart: surrogate splits)")
    p.add_argument("--post", default="all",
                   help="post-pruning: ccp (cost-complexity (CV, 1-SE)), rep (reduced-error), "
                        "pep (pessimistic), ebp (error-based (C4.5)), mep (minimum-error "
                        "(m=2)), cvp (critical value), a comma-separated list, or all (all); "
                        "pep, ebp and mep prune classifiers only")
    p.add_argument("--n-samples", type=int, default=3000,
                   help="samples of a generated dataset (3000; a CSV file gives its own)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, its split and the tree's splits (0)")
    p.add_argument("--out", default="runs/tree", help="output folder (runs/tree)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")


def load_table(args):
    """``(X, y, feature names or None)`` of a CSV file (text labels kept as text) or a tabular
    set from the registry."""
    import numpy as np

    from .. import data  # lazy: at run time, not for --help
    if args.dataset.endswith(".csv"):
        if args.target is None:
            raise UsageError("a CSV dataset needs --target COLUMN")
        check_readable(args.dataset, "--dataset")
        X, y, names, classes = usage(data.load_csv, args.dataset, args.target)
        return X, (y if classes is None else np.array(classes)[y]), names
    if args.dataset not in data.TABLES:
        raise UsageError(f"unknown dataset {args.dataset!r}; choose from "
                         f"{', '.join(data.TABLES)} or give a PATH.csv")
    X, y = usage(data.make_table, args.dataset, args.n_samples, args.seed)
    return X, y, None


def run(args, out=print):
    from ..reports import trees  # lazy: at run time, not for --help
    from ..reports.writer import Report  # lazy: at run time, not for --help
    from .. import tree  # lazy: at run time, not for --help
    from ..experiments import TreeConfig, tree_study  # lazy: at run time, not for --help
    from ..experiments.trees import applicable, check, task_of  # lazy: at run time, not for --help
    start = time.perf_counter()
    post = parse_post(args.post)
    check_out(args.out, args.force)
    if args.n_samples < 1:
        raise UsageError(f"--n-samples must be a positive integer, got {args.n_samples}")
    X, y, names = load_table(args)
    task, y, why = usage(task_of, y, args.task)
    post, skipped = applicable(post, y)
    why_skipped = f"{', '.join(skipped)}: {next(iter(skipped.values()))}" if skipped else ""
    if skipped and args.post != "all":                  # asked for by name: refuse
        raise UsageError(f"post-pruning {why_skipped}; it cannot run, for a continuous target "
                         f"use ccp or rep")
    config = TreeConfig(criterion=args.criterion, max_depth=args.max_depth,
                        min_samples_leaf=args.min_samples_leaf, post=tuple(post), seed=args.seed,
                        missing=args.missing)
    criterion = usage(check, config, y)
    prepare_out(args.out, args.force)
    out(f"target: {why}")
    if skipped:
        out(f"skipped {why_skipped}")
    out(f"{len(X):,} samples, {X.shape[1]} features; growing and pruning ({', '.join(post)})")
    holes = missing_values_line(X, names)
    if holes:
        out(holes)
    study = tree_study(config, X, y, out)
    report = Report(args.out, f"minprune tree: {os.path.basename(args.dataset)}")
    final = trees.figures(report, study, names)
    text = tree.export_text(final, feature_names=names, show_missing=bool(holes))
    said = f"The target: {why}." + (f" Skipped {why_skipped}." if skipped else "")
    report.add("Trees", said + " " + trees.paragraph(study.rows),
               table=(study.rows, trees.COLUMNS),
               figures=[("ccp_path.png", "choosing the cost-complexity alpha"),
                        ("pruned_tree.png", "the pruned tree")],
               key="tree", data={"dataset": args.dataset, "criterion": criterion,
                                 "task": task, "skipped": skipped,
                                 "ccp_alpha": study.alpha, "rows": study.rows})
    report.add("The pruned tree as text", "```\n" + text + "```")
    report.results["seconds"] = time.perf_counter() - start
    path = report.write()
    out(text if len(text) < 4000 else text[:4000] + "...\n")
    out(f"report: {os.path.abspath(path)}")
    return 0


def missing_values_line(X, names):
    """"missing values: a 3 (1.5%), b 7 (3.5%)" for the columns with any, or ""."""
    from ..data import missing_counts  # lazy: at run time, not for --help
    names = names or [f"feature_{i}" for i in range(X.shape[1])]
    counts = missing_counts(X, names)
    return ("missing values: " + ", ".join(f"{name} {c} ({c / len(X):.1%})"
                                           for name, c in counts.items())) if counts else ""


def parse_post(text):
    """``all`` or a comma-separated list of post-pruning method names."""
    from ..tree.methods import POST_PRUNERS  # lazy: at run time, not for --help
    names = list(POST_PRUNERS) if text == "all" else [t.strip() for t in text.split(",")
                                                      if t.strip()]
    unknown = [n for n in names if n not in POST_PRUNERS]
    if unknown or not names:
        raise UsageError(f"unknown post-pruning method {', '.join(unknown) or text!r}; choose "
                         f"from {', '.join(POST_PRUNERS)} or all")
    return names
