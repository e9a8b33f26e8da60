"""``minprune train``: train a model on a dataset; write the model, metrics and a curve."""
from __future__ import annotations

import os
import time

from ..files import write_json_atomic as write_json
from .common import UsageError, check_out, parse_ints, prepare_out, usage


def add_arguments(p):
    p.add_argument("--model", default="lenet_300_100",
                   help="lenet_300_100, lenet5, small_vgg, resnet8, resnet20, mobilenet or mlp "
                        "(default lenet_300_100)")
    p.add_argument("--dataset", default="glyph-digits",
                   help="glyph-digits, mnist:PATH, fashion:PATH, two-moons, spirals, blobs, "
                        "checkerboard, classification (default glyph-digits)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set (5)")
    p.add_argument("--batch-size", type=int, default=64, help="samples per step (64)")
    p.add_argument("--lr", type=float, default=0.05, help="learning rate (0.05)")
    p.add_argument("--optimizer", default="sgd", help="sgd (momentum 0.9) or adam")
    p.add_argument("--hidden", default="300,100", help="hidden sizes for --model mlp (300,100)")
    p.add_argument("--n-train", type=int, default=None, help="use only this many training samples")
    p.add_argument("--n-test", type=int, default=None, help="use only this many test samples")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, the initial weights and the batches' order (0)")
    p.add_argument("--out", default="runs/train", help="output folder (runs/train)")
    p.add_argument("--force", action="store_true", help="overwrite a non-empty --out")


OPTIMIZERS = ("sgd", "adam")


def make_optimizer(name, params, lr):
    from ..nn import optim  # lazy: at run time, not for --help
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9)
    return optim.Adam(params, lr=lr)


def load_data(args):
    from ..data import load_dataset  # lazy: at run time, not for --help
    return usage(load_dataset, args.dataset, n_train=args.n_train, n_test=args.n_test,
                 rng=args.seed)


class EpochTable:
    """Prints one row per epoch as training goes."""

    def __init__(self, history, val, out=print):
        self.history, self.out, self.start = history, out, time.perf_counter()
        out(f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'test loss':>9}  "
            f"{'test acc':>8}  {'time':>6}")

    def on_epoch_end(self, state):
        h = state.history
        acc = h["accuracy"][-1]
        vacc = h.get("val_accuracy", [None])[-1]
        self.out(f"{state.epoch + 1:>5}  {h['loss'][-1]:>10.4f}  "
                 f"{'-' if acc is None else f'{acc:.4f}':>9}  {h['val_loss'][-1]:>9.4f}  "
                 f"{'-' if vacc is None else f'{vacc:.4f}':>8}  "
                 f"{time.perf_counter() - self.start:>5.1f}s")


def run(args, out=print):
    import numpy as np

    from .. import save  # lazy: at run time, not for --help
    from ..nn import fit  # lazy: at run time, not for --help
    from ..viz import learning_curves  # lazy: at run time, not for --help
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UsageError(f"{option} must be a positive integer, got {value}")
    if not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    hidden = parse_ints(args.hidden, "--hidden")
    from ..experiments.network import MODELS  # lazy: at run time, not for --help
    if args.model not in MODELS:                 # before the data is loaded or generated
        raise UsageError(f"unknown model {args.model!r}; choose from {', '.join(MODELS)}")
    check_out(args.out, args.force)
    if args.optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {args.optimizer!r}; choose from "
                         f"{', '.join(OPTIMIZERS)}")
    (X, y), (Xt, yt) = load_data(args)
    if y.dtype.kind not in "iu":
        raise UsageError(f"dataset {args.dataset} has a continuous target; train needs classes")
    n_classes = int(max(y.max(), yt.max())) + 1
    from ..experiments.network import build_model  # lazy: at run time, not for --help
    model = usage(build_model, args.model, X, n_classes, hidden, args.seed)
    prepare_out(args.out, args.force)
    out(f"training {args.model} on {args.dataset}: {len(X)} training and {len(Xt)} test "
        f"samples, {sum(p.size for p in model.parameters()):,} parameters")
    history = {}
    table = EpochTable(history, (Xt, yt), out)
    start = time.perf_counter()
    history.update(fit(model, X, y, epochs=args.epochs, batch_size=args.batch_size,
                       optimizer=make_optimizer(args.optimizer, model.parameters(), args.lr),
                       val=(Xt, yt), rng=np.random.default_rng(args.seed),
                       callbacks=[table]))
    seconds = time.perf_counter() - start
    save(model, os.path.join(args.out, "model.npz"),
         meta={"model": args.model, "dataset": args.dataset, "hidden": list(hidden),
               "seed": args.seed})
    write_json(os.path.join(args.out, "metrics.json"), {
        "model": args.model, "dataset": args.dataset, "epochs": args.epochs,
        "batch_size": args.batch_size, "lr": args.lr, "optimizer": args.optimizer,
        "seed": args.seed, "n_train": len(X), "n_test": len(Xt), "seconds": seconds,
        "history": history})
    learning_curves(history, os.path.join(args.out, "learning_curve.png"))
    out(f"wrote model.npz, metrics.json and learning_curve.png to {args.out}")
    return 0
