"""``minprune prune``: the demo's network study for any model, dataset and pruning method."""
from __future__ import annotations

import os
import time

from . import network
from .common import UsageError, build_model, parse_floats, parse_ints, prepare_out
from .report import Report
from .train import load_data


def add_arguments(p):
    p.add_argument("--model", default="lenet_300_100",
                   help="lenet_300_100, lenet5, small_vgg or mlp (default lenet_300_100)")
    p.add_argument("--load", default=None, help="start from a model saved by minprune train")
    p.add_argument("--dataset", default="glyph-digits")
    p.add_argument("--criterion", default="magnitude")
    p.add_argument("--granularity", default="weight")
    p.add_argument("--scope", default="global")
    p.add_argument("--sparsity", default="0.5,0.8,0.9", help="comma-separated levels")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (without --load)")
    p.add_argument("--finetune-epochs", type=int, default=1)
    p.add_argument("--steps", type=int, default=1,
                   help="reach each sparsity in this many prune-and-fine-tune rounds, each "
                        "pruning the same fraction of what remains (default 1: one-shot)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--hidden", default="300,100", help="hidden sizes for --model mlp")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/prune")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")


def check_combination(model, args):
    """Refuse what the library cannot do, before any training."""
    from .. import prune
    for value, allowed, what in ((args.criterion, prune.CRITERIA, "criterion"),
                                 (args.granularity, prune.GRANULARITIES, "granularity"),
                                 (args.scope, prune.SCOPES, "scope")):
        if value not in allowed:
            raise UsageError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
    try:
        prune.prunable_layers(model, args.granularity)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot prune {args.model} with granularity {args.granularity!r}: "
                         f"{exc}") from None
    if args.criterion == "apoz" and args.granularity == "weight":
        raise UsageError("criterion 'apoz' scores units and filters; use --granularity unit "
                         "or filter")
    if args.criterion == "sensitivity" and args.granularity == "weight":
        raise UsageError("criterion 'sensitivity' at weight granularity evaluates the loss once "
                         "per weight; use 'taylor' or a structured granularity")


def run(args, out=print):
    from .. import load
    from ..nn import evaluate
    start = time.perf_counter()
    sparsities = parse_floats(args.sparsity, "--sparsity")
    if not sparsities or any(not 0 <= s < 1 for s in sparsities):
        raise UsageError(f"--sparsity values must lie in [0, 1), got {args.sparsity!r}")
    if args.finetune_epochs < 0 or args.epochs < 0:
        raise UsageError("--epochs and --finetune-epochs must be >= 0")
    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.steps > 1 and args.finetune_epochs == 0:
        raise UsageError("--steps > 1 fine-tunes after every round: give --finetune-epochs >= 1")
    data = load_data(args)
    (X, y), (Xt, yt) = data
    n_classes = int(max(y.max(), yt.max())) + 1
    if args.load:
        try:
            model = load(args.load)
        except (ValueError, FileNotFoundError) as exc:
            raise UsageError(str(exc)) from None
    else:
        model = build_model(args.model, X, n_classes, parse_ints(args.hidden, "--hidden"),
                            args.seed)
    check_combination(model, args)
    prepare_out(args.out, args.force)
    report = Report(args.out, f"minprune prune: {args.model} on {args.dataset}")
    if args.load:
        dense = evaluate(model, Xt, yt)["accuracy"]
        out(f"loaded {args.load}: test accuracy {dense:.4f}")
    else:
        out(f"training {args.model} for {args.epochs} epochs")
        dense = network.train_model(model, data, args.epochs, args.lr, args.seed, out)
    label = f"{args.scope} {args.criterion} ({args.granularity})"
    if args.steps > 1:
        label += f", {args.steps} rounds"
    out(f"pruning: {label}")
    rows, pruned = network.prune_study(model, data, sparsities=sparsities,
                                       criterion=args.criterion, granularity=args.granularity,
                                       scope=args.scope, finetune_epochs=args.finetune_epochs,
                                       lr=args.lr, seed=args.seed, log=out,
                                       steps=args.steps)
    network.figures(report, model, rows, pruned, dense, label, args.finetune_epochs > 0)
    report.add("Results", network.paragraph(rows, dense, label, args.steps),
               table=network.table(rows, args.finetune_epochs > 0),
               figures=[("accuracy_vs_sparsity.png", "accuracy vs sparsity"),
                        ("layer_sparsity.png", "per-layer sparsity"),
                        ("weight_histograms.png", "weights before and after"),
                        ("mask.png", "a mask")],
               key="network", data={"model": args.model, "dataset": args.dataset,
                                    "criterion": args.criterion,
                                    "granularity": args.granularity, "scope": args.scope,
                                    "steps": args.steps,
                                    "dense_accuracy": dense, "rows": rows})
    report.results["seconds"] = time.perf_counter() - start
    path = report.write()
    out(f"report: {os.path.abspath(path)}")
    return 0
