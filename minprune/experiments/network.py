"""The network study: train (or load) a model, prune it to each sparsity with a schedule,
fine-tune, and measure accuracy, size and FLOPs - a pure function of a ``NetworkConfig``.

Every random draw comes from the config's seed. Data-driven criteria are calibrated on
``n_calibration`` training samples held out from training (``data.calibration_split``); the
test set only measures.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import load, models, prune
from ..data import calibration_split, load_dataset
from ..nn import evaluate, fit, optim
from ..nn.module import eval_mode
from ..nn.walk import depth
from .timing import panel

IMAGE_MODELS = tuple(models.IMAGE_MODELS)
MODELS = IMAGE_MODELS + ("mlp",)


@dataclass(frozen=True)
class NetworkConfig:
    """Everything a network study depends on."""
    model: str = "lenet_300_100"
    dataset: str = "glyph-digits"
    n_train: int = None
    n_test: int = None
    hidden: tuple = (300, 100)              # for model "mlp"
    load: str = None                        # a saved model to start from instead of training
    epochs: int = 3
    lr: float = 0.05
    batch_size: int = 64
    criterion: str = "magnitude"
    granularity: str = "weight"
    scope: str = "global"
    sparsities: tuple = (0.5, 0.8, 0.9)
    finetune_epochs: int = 1
    steps: int = 1                          # > 1: the iterative schedule
    n_calibration: int = 512                # held out of training (at most a tenth of it)
    held_out: int = None                    # hold this many out (>= n_calibration) and
                                            # calibrate on the first n_calibration of them
    reconstruct: bool = False               # refit the kept weights after pruning
    latency_batches: tuple = (1, 64)        # the speed panel: batch sizes timed
    latency_repeats: int = 20               # rounds timed in turns (0: no speed panel)
    seed: int = 0

    @property
    def method(self):
        """The ``prune.Method`` of this study: what it prunes and how."""
        return prune.Method(self.criterion, self.granularity, self.scope,
                            reconstruct=self.reconstruct)


@dataclass
class NetworkStudy:
    """What a study measured: the dense accuracy, the dense control's (the dense model
    fine-tuned exactly like the pruned ones; None without fine-tuning), one row per sparsity
    (``gap_to_control``: fine-tuned accuracy minus the control's), a snapshot of the pruned
    (and fine-tuned) model per sparsity, and the trained dense model."""
    config: NetworkConfig
    dense_accuracy: float
    control_accuracy: float
    rows: list
    snapshots: dict
    model: object
    data: tuple = field(repr=False, default=None)


def sgd(params, lr):
    return optim.SGD(params, lr=lr, momentum=0.9)


def build_model(name, X, n_classes, hidden, rng):
    """The model ``name`` for inputs like ``X``; ValueError for a model that cannot take them."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    images = X.ndim == 4 and X.shape[1:] == (1, 28, 28)
    if name in IMAGE_MODELS:
        if not images:
            raise ValueError(f"model {name} takes 1x28x28 images, but the dataset has samples "
                             f"of shape {X.shape[1:]}; use model mlp")
        if n_classes > 10:
            raise ValueError(f"model {name} has 10 outputs, the dataset has {n_classes} classes")
        return models.IMAGE_MODELS[name](rng=rng)
    n_in = int(np.prod(X.shape[1:]))
    return models.mlp([n_in, *hidden, max(n_classes, 2)], rng=rng)


def prepare(config):
    """The data (train, calibration, test) and the untrained or loaded model of ``config``."""
    (X, y), (Xt, yt) = load_dataset(config.dataset, n_train=config.n_train,
                                    n_test=config.n_test, rng=config.seed)
    tenth = max(1, len(X) // 10)                                     # at most a tenth
    n_calibration = min(config.n_calibration, tenth)
    held_out = min(max(config.held_out or 0, n_calibration), tenth)
    train, calibration = calibration_split(X, y, n_calibration, config.seed, held_out=held_out)
    if config.load:
        model = load(config.load)
        try:                                 # a model that cannot take this data: say so now
            with eval_mode(model):
                out = model(X[:1]).data
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{config.load} cannot take {config.dataset}'s inputs of shape "
                             f"{X.shape[1:]}: {exc}") from None
        if out.shape[-1] <= int(max(y.max(), yt.max())):
            raise ValueError(f"{config.load} has {out.shape[-1]} outputs, {config.dataset} "
                             f"has {int(max(y.max(), yt.max())) + 1} classes")
    else:
        n_classes = int(max(y.max(), yt.max())) + 1
        model = build_model(config.model, X, n_classes, config.hidden, config.seed)
    return model, (train, calibration, (Xt, yt))


def train_dense(config, model, data, log=print):
    """Train ``model`` on the training split; returns its test accuracy."""
    (X, y), _, test = data
    start = time.perf_counter()
    fit(model, X, y, epochs=config.epochs, optimizer=sgd(model.parameters(), config.lr),
        batch_size=config.batch_size, rng=np.random.default_rng(config.seed))
    acc = evaluate(model, *test)["accuracy"]
    log(f"  trained in {time.perf_counter() - start:.1f} s: test accuracy {acc:.4f}")
    return acc


def finetune_rng(config):
    """The fine-tuning shuffles, the same for every pruned model and the dense control."""
    return np.random.default_rng(config.seed + 1)


def dense_control(config, model, data):
    """Fine-tune the dense ``model`` in place exactly as ``prune_one`` fine-tunes a pruned one
    (``steps`` rounds of ``finetune_epochs``, a fresh optimizer each round, the same shuffles),
    without pruning; returns its test accuracy, or None when there is no fine-tuning."""
    if not config.finetune_epochs:
        return None
    (X, y), _, test = data
    rng = finetune_rng(config)
    for _ in range(config.steps):
        fit(model, X, y, epochs=config.finetune_epochs, batch_size=config.batch_size,
            optimizer=sgd(model.parameters(), config.lr / 5), rng=rng, progress=False)
    return evaluate(model, *test)["accuracy"]


def size_metrics(model, dense_params):
    """What pruning left of ``model``: sparsity, weights kept, compression against the dense
    model's ``dense_params``, dense and effective FLOPs and their ratio."""
    total = prune.summary(model)[-1]
    kept = total["nonzeros"]
    return {"achieved_sparsity": total["sparsity"], "weights_kept": kept,
            "compression": dense_params / max(kept, 1), "dense_flops": total["flops"],
            "effective_flops": total["effective_flops"],
            "theoretical_speedup": total["flops"] / max(total["effective_flops"], 1)}


def trained_accuracy(config, model, data, log=print):
    """Train the model (or, for a loaded one, only evaluate it); returns its test accuracy."""
    if not config.load:
        return train_dense(config, model, data, log)
    accuracy = evaluate(model, *data[2])["accuracy"]
    log(f"loaded {config.load}: test accuracy {accuracy:.4f}")
    return accuracy


def prune_one(config, model, data, sparsity):
    """Prune the (dense) ``model`` in place to ``sparsity`` with the config's schedule and
    fine-tune; returns its row (accuracy right after the last pruning and after fine-tuning)."""
    (X, y), calibration, test = data
    method = config.method
    dense_params = prune.summary(model)[-1]["params"]
    schedule = prune.schedules.iterative(
        model, X, y, sparsity, steps=config.steps, epochs_per_step=config.finetune_epochs,
        optimizer=lambda params: sgd(params, config.lr / 5), val=test, method=method,
        data=calibration if method.needs_data else None, batch_size=config.batch_size,
        rng=finetune_rng(config), progress=False)
    last = schedule.rounds[-1]
    row = {"sparsity": sparsity, "accuracy": last["pruned_accuracy"],
           "accuracy_finetuned": last["accuracy"] if config.finetune_epochs else None,
           **size_metrics(model, dense_params)}
    if config.granularity in ("unit", "filter", "block"):   # deleted for real
        small = prune.compact(model)
        row["compact_params"] = sum(p.size for p in small.parameters())
        if config.granularity == "block":
            row["depth"], row["dense_depth"] = depth(small), depth(model)
    return row


def speed_panel(config, model, trained, data):
    """Latency speed-ups of the pruned ``model`` (masked, CSR, compacted) over the dense one,
    through the inference plan, one thread, in this process."""
    import copy

    dense = prune.restore(copy.deepcopy(model), trained)
    return panel(dense, model, config.granularity, data[2][0], config.latency_batches,
                 config.latency_repeats)


def network_study(config, log=print, *, model=None, data=None, announce=None,
                  dense_accuracy=None):
    """Run the study of ``config``: train the model (or evaluate the loaded one), then prune it
    to every sparsity from the same trained state. ``model`` and ``data``: what ``prepare``
    returned, when the caller has them already; with ``dense_accuracy`` too, the model is
    already trained and is not trained again. Returns a ``NetworkStudy``; the model ends
    dense and trained.
    """
    if model is None:
        model, data = prepare(config)
        config.method.check(model)
    if dense_accuracy is None:
        dense_accuracy = trained_accuracy(config, model, data, log)
    if announce:
        log(announce)
    trained = prune.snapshot(model)
    control = dense_control(config, model, data)
    if control is not None:
        log(f"  dense control, fine-tuned like the pruned models: {control:.4f}")
    rows, snapshots = [], {}
    for s in config.sparsities:
        prune.restore(model, trained)
        row = prune_one(config, model, data, s)
        if control is not None:
            row["gap_to_control"] = row["accuracy_finetuned"] - control
        if config.latency_repeats:
            row.update(speed_panel(config, model, trained, data))
        rows.append(row)
        snapshots[s] = prune.snapshot(model)
        after = row["accuracy_finetuned"]
        log(f"  {s:.0%}: accuracy {row['accuracy']:.4f}"
            + (f", after fine-tuning {after:.4f}" if after is not None else ""))
    prune.restore(model, trained)
    return NetworkStudy(config, dense_accuracy, control, rows, snapshots, model, data)
