"""``minprune prune``: the demo's network study for any model, dataset and pruning method."""
from __future__ import annotations

import os
import time

from .common import (UsageError, check_out, check_readable, parse_floats, parse_ints,
                     prepare_out, usage)


def add_arguments(p):
    p.add_argument("--model", default=None,
                   help="lenet_300_100, lenet5, small_vgg, resnet8, resnet20, mobilenet or mlp "
                        "(default lenet_300_100; with --load, the file's)")
    p.add_argument("--load", default=None,
                   help="start from a model saved by minprune train, or an ONNX file")
    p.add_argument("--dataset", default=None,
                   help="default glyph-digits; with --load, the one the file was trained on")
    p.add_argument("--criterion", default="magnitude",
                   help="what ranks the weights, units, filters or blocks (magnitude); "
                        "--criteria lists them all")
    p.add_argument("--criteria", action="store_true",
                   help="list the criteria - what each scores, whether it needs data, the "
                        "granularities it scores - and exit")
    p.add_argument("--granularity", default="weight",
                   help="weight, unit, filter (coupled channels found from the graph in "
                        "networks with blocks), block (whole residual blocks), N:M (2:4) or "
                        "block:RxC (weight)")
    p.add_argument("--scope", default="global",
                   help="global, local, or row (the same fraction of every output row: Wanda) "
                        "(global)")
    p.add_argument("--reconstruct", action="store_true",
                   help="after pruning, refit each layer's kept weights by least squares to "
                        "its outputs before pruning, on the calibration samples")
    p.add_argument("--sparsity", default="0.5,0.8,0.9", help="comma-separated levels (0.5,0.8,0.9)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs without --load (3)")
    p.add_argument("--finetune-epochs", type=int, default=1,
                   help="fine-tuning epochs after pruning to each sparsity (1; 0: none)")
    p.add_argument("--steps", type=int, default=1,
                   help="reach each sparsity in this many prune-and-fine-tune rounds, each "
                        "pruning the same fraction of what remains (default 1: one-shot)")
    p.add_argument("--calibration", type=int, default=512,
                   help="training samples held out to calibrate data-driven criteria (at most "
                        "a tenth of the training set; 512)")
    p.add_argument("--lr", type=float, default=0.05,
                   help="SGD learning rate of training (0.05); fine-tuning takes a fifth")
    p.add_argument("--hidden", default="300,100", help="hidden sizes for --model mlp (300,100)")
    p.add_argument("--n-train", type=int, default=None,
                   help="use only this many training samples (all)")
    p.add_argument("--n-test", type=int, default=None,
                   help="use only this many test samples (all)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, the initial weights and the criteria's draws (0)")
    p.add_argument("--out", default="runs/prune", help="output folder (runs/prune)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    p.add_argument("--export-onnx", action="store_true",
                   help="also write each pruned model as ONNX beside the report "
                        "(compacted for unit, filter and block pruning)")


def export_onnx(study, args):
    """Write each sparsity's pruned model to --out as ONNX; returns the table rows."""
    from .. import io, prune  # lazy: at run time, not for --help
    rows = []
    structured = args.granularity in ("unit", "filter", "block")
    for sparsity, saved in study.snapshots.items():
        prune.restore(study.model, saved)
        name = f"pruned_{sparsity:.4g}.onnx"
        try:
            info = io.to_onnx(study.model.eval(), os.path.join(args.out, name),
                              compact=structured, force=True)
        except ImportError as exc:
            raise UsageError(str(exc)) from None
        rows.append({"sparsity": sparsity, "file": name, "bytes": info["bytes"],
                     "nonzeros": info["nonzeros"], "compacted": structured})
    return rows


def resolve_names(args):
    """``args.model`` and ``args.dataset`` as the study uses them: with ``--load`` the
    file's own (its metadata, or the metrics.json ``minprune train`` wrote beside it), which a
    different ``--model`` or ``--dataset`` contradicts; without, the defaults."""
    import json

    from ..io import read_meta  # lazy: at run time, not for --help
    if not args.load:
        args.model = args.model or "lenet_300_100"
        args.dataset = args.dataset or "glyph-digits"
        return
    check_readable(args.load, "--load")
    meta = usage(read_meta, args.load)
    beside = os.path.join(os.path.dirname(args.load), "metrics.json")
    if not meta and os.path.exists(beside):
        with open(beside, encoding="utf-8") as f:
            meta = json.load(f)
    for option, key in (("--model", "model"), ("--dataset", "dataset")):
        given, recorded = getattr(args, key), meta.get(key)
        if given is not None and recorded is not None and given != recorded:
            raise UsageError(f"{option} {given} contradicts {args.load}, which holds a "
                             f"{recorded if key == 'model' else 'model trained on ' + recorded}"
                             f"; drop {option}")
        setattr(args, key, given or recorded)
    if args.dataset is None:
        raise UsageError(f"{args.load} does not say which dataset it was trained on (no "
                         f"metadata, no metrics.json beside it): give --dataset")
    args.model = args.model or "loaded model"


def config_from(args):
    """The study's config from the command line, checked before any work."""
    from ..experiments import NetworkConfig  # lazy: at run time, not for --help
    sparsities = parse_floats(args.sparsity, "--sparsity")
    if not sparsities or any(not 0 <= s < 1 for s in sparsities):
        raise UsageError(f"--sparsity values must lie in [0, 1), got {args.sparsity!r}")
    for option, value in (("--epochs", args.epochs), ("--finetune-epochs", args.finetune_epochs)):
        if value < 0:
            raise UsageError(f"{option} must be >= 0, got {value}")
    for option, value in (("--n-train", args.n_train), ("--n-test", args.n_test)):
        if value is not None and value < 1:
            raise UsageError(f"{option} must be a positive integer (or left out for all), "
                             f"got {value}")
    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.calibration < 1:
        raise UsageError(f"--calibration must be a positive integer, got {args.calibration}")
    if args.steps > 1 and args.finetune_epochs == 0:
        raise UsageError("--steps > 1 fine-tunes after every round: give --finetune-epochs >= 1")
    return NetworkConfig(
        model=args.model, dataset=args.dataset, n_train=args.n_train, n_test=args.n_test,
        hidden=tuple(parse_ints(args.hidden, "--hidden")), load=args.load, epochs=args.epochs,
        lr=args.lr, criterion=args.criterion, granularity=args.granularity, scope=args.scope,
        sparsities=tuple(sparsities), finetune_epochs=args.finetune_epochs, steps=args.steps,
        n_calibration=args.calibration, reconstruct=args.reconstruct, seed=args.seed)


def criteria_text(width=88):
    """The criteria, one paragraph each: name, whether it needs calibration data, the
    granularities it scores, and what it scores (``prune.criteria.REGISTRY``)."""
    import textwrap

    from ..prune.criteria import REGISTRY  # lazy: at run time, not for --help
    lines = textwrap.wrap("criteria for --criterion; 'data': scored on calibration samples "
                          "(--calibration); then the granularities it scores (--granularity; "
                          "'weight' scores the N:M and block:RxC patterns too)", width) + [""]
    for c in REGISTRY.values():
        lines.append(f"{c.name:<16} {'data' if c.needs_data else 'no data':<8} "
                     f"{', '.join(c.granularities)}")
        lines += textwrap.wrap(c.summary, width, initial_indent=" " * 4,
                               subsequent_indent=" " * 4)
    return "\n".join(lines)


def run(args, out=print):
    if args.criteria:
        out(criteria_text())
        return 0
    from ..reports import network  # lazy: at run time, not for --help
    from ..reports.writer import Report  # lazy: at run time, not for --help
    from ..experiments import network_study  # lazy: at run time, not for --help
    from ..experiments.network import prepare  # lazy: at run time, not for --help
    start = time.perf_counter()
    resolve_names(args)
    config = config_from(args)
    check_out(args.out, args.force)
    model, data = usage(prepare, config)
    try:
        config.method.check(model)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot prune {args.model} with granularity {config.granularity!r} "
                         f"and criterion {config.criterion!r}: {exc}") from None
    prepare_out(args.out, args.force)
    report = Report(args.out, f"minprune prune: {args.model} on {args.dataset}")
    if not config.load:
        out(f"training {args.model} for {args.epochs} epochs")
    label = f"{args.scope} {args.criterion} ({args.granularity})"
    if args.reconstruct:
        label += ", kept weights refitted"
    if args.steps > 1:
        label += f", {args.steps} rounds"
    study = network_study(config, out, model=model, data=data, announce=f"pruning: {label}")
    calibration = len(study.data[1][0]) if config.method.needs_data else None
    network.figures(report, study, label, args.finetune_epochs > 0)
    report.add("Results", network.paragraph(study, label, args.steps, calibration),
               table=network.table(study.rows, args.finetune_epochs > 0),
               figures=[("accuracy_vs_sparsity.png", "accuracy vs sparsity"),
                        ("layer_sparsity.png", "per-layer sparsity"),
                        ("weight_histograms.png", "weights before and after"),
                        ("mask.png", "a mask")],
               key="network", data={"model": args.model, "dataset": args.dataset,
                                    "criterion": args.criterion,
                                    "granularity": args.granularity, "scope": args.scope,
                                    "steps": args.steps, "calibration_samples": calibration,
                                    "reconstruct": args.reconstruct,
                                    "dense_accuracy": study.dense_accuracy,
                                    "control_accuracy": study.control_accuracy,
                                    "rows": study.rows})
    coupled = network.coupled_table(study.model, args.granularity, study.snapshots)
    if coupled is not None:
        report.add("Coupled channels", "Channels that must go together so the network still "
                   "computes, found from its structure (`prune.graph`): a residual sum's "
                   "channel spans every layer that produces or reads it, a depthwise filter "
                   "its input channel. Each group below is pruned as one.", table=coupled)
    report.add("Speed", network.speed_sentence(study.rows),
               table=network.speed_table(study.rows))
    if args.export_onnx:
        files = export_onnx(study, args)
        report.add("ONNX", "Each pruned model as ONNX (`io.to_onnx`: masks baked, BatchNorm "
                   "folded" + (", pruned units, filters and blocks deleted first" if any(
                       f["compacted"] for f in files) else "") + "); ONNX Runtime and other "
                   "runtimes load them.", table=(files, [
                       ("sparsity", "sparsity", "{:.1%}"), ("file", "file", "{}"),
                       ("bytes", "bytes", "{:,}"), ("nonzeros", "nonzero weights", "{:,}")]))
    report.results["seconds"] = time.perf_counter() - start
    path = report.write()
    out(f"report: {os.path.abspath(path)}")
    return 0
