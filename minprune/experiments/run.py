"""One sweep run as a pure function of its config: the same config gives the same numbers on a
laptop, in a process pool or on a Dask worker (latencies aside). ``train_dense`` trains the
dense model a run starts from; ``run`` prunes, fine-tunes and measures."""
from __future__ import annotations

import os
import socket
import time

from .. import prune
from ..nn import evaluate, fit
from ..prune.schedules import GradualPruning, lottery_ticket
from . import network
from .network import NetworkConfig, finetune_rng, prepare, sgd, trained_accuracy


def network_config(c):
    """The ``NetworkConfig`` of a run config."""
    return NetworkConfig(
        model=c["model"], hidden=tuple(c["hidden"]), load=c["load"], dataset=c["dataset"],
        n_train=c["n_train"], n_test=c["n_test"], epochs=c["epochs"], lr=c["lr"],
        batch_size=c["batch_size"], criterion=c.get("criterion") or "magnitude",
        granularity=c.get("granularity") or "weight", scope=c.get("scope") or "global",
        sparsities=(c.get("sparsity", 0.0),), finetune_epochs=c.get("finetune_epochs", 0),
        steps=c.get("steps", 1), seed=c["seed"], held_out=c.get("held_out"),
        n_calibration=c.get("n_calibration") or 512, reconstruct=c.get("reconstruct", False),
        **({"latency_batches": tuple(c["latency"]["batches"]),
            "latency_repeats": c["latency"]["repeats"]} if "latency" in c else {}))


def build(c, probe=False):
    """The untrained (or loaded) model of a config; ``probe``: from a few samples only."""
    if probe:
        c = {**c, "n_train": 20, "n_test": 10}
    model, _ = prepare(network_config(c))
    return model


def train_dense(c):
    """Train the dense model of ``c``; returns {"state", "accuracy", "seconds"}."""
    start = time.perf_counter()
    config = network_config(c)
    model, data = prepare(config)
    accuracy = trained_accuracy(config, model, data, log=lambda *a: None)
    return {"state": model.state_dict(), "accuracy": accuracy,
            "seconds": time.perf_counter() - start}


def run(c, dense_state):
    """Prune (or, for the control, only fine-tune) the dense model of ``c`` and measure it."""
    start = time.perf_counter()
    config = network_config(c)
    model, data = network.prepare(config)
    fresh = model.state_dict()                         # the initial weights (lottery tickets)
    model.load_state_dict(dense_state)
    dense_accuracy = evaluate(model, *data[2])["accuracy"]
    dense = prune.snapshot(model)
    dense_params = prune.summary(model)[-1]["params"]
    if c["kind"] == "control":
        accuracy = None
        finetuned = network.dense_control(config, model, data)
    elif c["schedule"] in ("one-shot", "iterative"):
        row = network.prune_one(config, model, data, c["sparsity"])
        accuracy, finetuned = row["accuracy"], row["accuracy_finetuned"]
    elif c["schedule"] == "gradual":
        accuracy, finetuned = None, _gradual(config, model, data, c["sparsity"])
    else:
        model.load_state_dict(fresh)
        accuracy, finetuned = _lottery(config, model, data, c["sparsity"])
    result = {"dense_accuracy": dense_accuracy, "accuracy": accuracy,
              "accuracy_finetuned": finetuned}
    sizes = network.size_metrics(model, dense_params)
    result.update((k, sizes[k]) for k in ("achieved_sparsity", "compression",
                                          "theoretical_speedup"))
    result.update(network.speed_panel(config, model, dense, data))
    result.update(seconds=time.perf_counter() - start, host=socket.gethostname(),
                  pid=os.getpid())
    return result


def _gradual(config, model, data, sparsity):
    """Zhu & Gupta's gradual pruning during the fine-tuning epochs; returns test accuracy."""
    import math

    (X, y), calibration, test = data
    epochs = max(config.finetune_epochs, 1)
    total = epochs * math.ceil(len(X) / config.batch_size)
    end = max(int(0.75 * total), 1)
    schedule = GradualPruning(sparsity, begin=0, end=end, every=max(end // 20, 1),
                              method=config.method, data=calibration)
    fit(model, X, y, epochs=epochs, batch_size=config.batch_size, callbacks=[schedule],
        optimizer=sgd(model.parameters(), config.lr / 5), rng=finetune_rng(config),
        progress=False)
    return evaluate(model, *test)["accuracy"]


def _lottery(config, model, data, sparsity):
    """A lottery ticket from the untrained ``model``: train, prune, rewind, retrain."""
    (X, y), calibration, test = data
    result = lottery_ticket(model, X, y, sparsity, rounds=1, epochs=config.epochs,
                            optimizer=lambda params: sgd(params, config.lr),
                            method=config.method, data=calibration, val=test,
                            batch_size=config.batch_size, rng=finetune_rng(config),
                            progress=False)
    last = result.rounds[-1]
    return last["pruned_accuracy"], last["accuracy"]
