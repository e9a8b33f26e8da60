"""``minprune demo``: what pruning does to a network and to a decision tree, in one command."""
from __future__ import annotations

import dataclasses
import os
import time

from ..kernel_cache import first_run_note
from .common import prepare_out

SPARSITIES = (0.5, 0.8, 0.9, 0.95)
UNIT_SPARSITIES = (0.5, 0.75)             # the structured pass: units deleted for real


def add_arguments(p):
    p.add_argument("--out", default="minprune-demo", help="output folder (minprune-demo)")
    p.add_argument("--quick", action="store_true", help="small data, seconds not minutes")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, the initial weights and the tree's splits (0)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")


def _kernels():
    """Kernels the demo compiles on its first run (the plan's batch call, the trees' split
    search): where they are cached, the rest is too."""
    from ..infer.batch_chain import chain_whole  # lazy: at run time, not for --help
    from ..tree.splitter import best_split_classes  # lazy: at run time, not for --help
    return chain_whole, best_split_classes


def run(args, out=print):
    from ..reports import network, trees  # lazy: at run time, not for --help
    from ..reports.writer import Report  # lazy: at run time, not for --help
    from ..data import make_classification  # lazy: at run time, not for --help
    from ..experiments import (  # lazy: at run time, not for --help
        NetworkConfig, TreeConfig, network_study, tree_study)
    start = time.perf_counter()
    prepare_out(args.out, args.force)
    report = Report(args.out, "minprune demo: pruning a network and a decision tree")
    n_train, n_test, epochs = (6000, 2000, 5) if args.quick else (60000, 10000, 8)
    config = NetworkConfig(model="lenet_300_100", dataset="glyph-digits", n_train=n_train,
                           n_test=n_test, epochs=epochs, lr=0.05, criterion="magnitude",
                           granularity="weight", scope="global", sparsities=SPARSITIES,
                           finetune_epochs=1, seed=args.seed)

    note = first_run_note(_kernels())
    if note:
        out(note)
    out(f"[1/4] glyph digits: {n_train:,} training and {n_test:,} test images")
    out(f"[2/4] training LeNet-300-100 for {epochs} epochs")
    study = network_study(config, out, announce=(
        f"[3/4] global magnitude pruning to {', '.join(f'{s:.0%}' for s in SPARSITIES)}, "
        f"each with and without {config.finetune_epochs} epoch of fine-tuning"))
    shown = network.figures(report, study, "global magnitude", True)
    report.add("Pruning LeNet-300-100",
               network.paragraph(study, "global magnitude"),
               table=network.table(study.rows, True),
               figures=[("accuracy_vs_sparsity.png", "accuracy vs sparsity"),
                        ("layer_sparsity.png", f"per-layer sparsity at {shown:.0%}"),
                        ("weight_histograms.png", "weights before and after pruning"),
                        ("mask.png", "mask of the first layer")],
               key="network", data={"model": "lenet_300_100", "dataset": "glyph-digits",
                                    "n_train": n_train, "n_test": n_test, "epochs": epochs,
                                    "finetune_epochs": config.finetune_epochs,
                                    "dense_accuracy": study.dense_accuracy,
                                    "control_accuracy": study.control_accuracy,
                                    "rows": study.rows})

    report.add("Speed", network.speed_sentence(study.rows),
               table=network.speed_table(study.rows))
    units = dataclasses.replace(config, granularity="unit", sparsities=UNIT_SPARSITIES)
    out(f"      and units: {', '.join(f'{s:.0%}' for s in UNIT_SPARSITIES)} of the hidden "
        f"units, compacted")
    structured = network_study(units, lambda *a: None, model=study.model, data=study.data,
                               dense_accuracy=study.dense_accuracy)
    report.add("Pruning whole units, deleted for real",
               network.paragraph(structured, "global unit magnitude") + " "
               + network.speed_sentence(structured.rows),
               table=network.table(structured.rows, True),
               key="structured", data={"granularity": "unit",
                                       "control_accuracy": structured.control_accuracy,
                                       "rows": structured.rows})
    report.add("Speed of the compacted models", table=network.speed_table(structured.rows))

    out("[4/4] decision trees on a noisy classification set")
    X, y = make_classification(2000 if args.quick else 6000, 10, n_informative=4, n_redundant=2,
                               flip_y=0.2, random_state=args.seed)
    grown = tree_study(TreeConfig(criterion="gini", seed=args.seed), X, y, out)
    trees.figures(report, grown)
    report.add("Pruning a decision tree", trees.paragraph(grown.rows)
               + f" The cost-complexity alpha chosen by 5-fold cross-validation with the 1-SE "
                 f"rule is {grown.alpha:.4g}.",
               table=(grown.rows, trees.COLUMNS),
               figures=[("ccp_path.png", "choosing the cost-complexity alpha"),
                        ("pruned_tree.png", "the cost-complexity pruned tree")],
               key="tree", data={"n_samples": len(X), "flip_y": 0.2, "ccp_alpha": grown.alpha,
                                 "rows": grown.rows})
    seconds = time.perf_counter() - start
    report.results["seconds"] = seconds
    report.results["quick"] = bool(args.quick)
    path = report.write()
    out(f"done in {seconds:.0f} s; report: {os.path.abspath(path)}")
    return 0
