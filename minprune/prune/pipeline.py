"""``prune()``: score, select and apply in one call, with a trace of every event."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..nn.train import evaluate
from . import oneshot
from .criteria import REGISTRY, scores
from .groups import prunable_layers
from .masks import apply, snapshot, weight_sparsity
from .method import Method
from .report import Trace
from .select import Selection, exponential_levels, select


@dataclass
class PruneResult:
    """What ``prune`` did: the selection it applied (None for a criterion that updates the
    kept weights, such as SparseGPT), the trace of events, and the model's weight sparsity
    afterwards."""
    selection: Selection
    trace: Trace
    sparsity: float

    def __str__(self):
        return str(self.trace)


def _layer_sparsity(layer):
    if hasattr(layer, "blocks"):                       # a stage of residual blocks
        return layer.sparsity()
    w = layer.weight.data
    return 1 - np.count_nonzero(w) / w.size


def _members(layer):
    """What a group of this layer spans, for the trace: the parameters of a coupled channel
    group (found from the graph), the blocks of a stage; None for a chain's layer."""
    if hasattr(layer, "blocks"):
        return [name for name, _ in layer.blocks]
    if layer.producers is not None:
        return [m.name for m in layer.members]
    return None


def prune(model, sparsity=0.5, criterion="magnitude", granularity="weight", scope="global",
          data=None, *, p=1, min_keep=1, rng=None, eval_data=None, trace=None, step=None,
          rounds=None, method=None):
    """Score, select and apply in one call; returns a ``PruneResult`` holding the trace.

    Parameters
    ----------
    model : a Sequential model (changed in place).
    sparsity : float in [0, 1), fraction of the scope pruned afterwards (earlier pruning counts).
    criterion, granularity, scope, p : what to prune and how, as in ``scores`` and ``select``;
        or all four at once as ``method=`` (a ``prune.Method``), which then wins.
    min_keep, rng : as in ``select`` and ``scores``.
    data : (X, y) calibration data for data-driven criteria; also used to report loss and
        accuracy before and after unless ``eval_data`` is given.
    trace : an existing ``Trace`` to append to (for schedules); a new one otherwise.
    rounds : score and prune this many times on the way to ``sparsity``, each round removing
        the same fraction of what remains (``select.exponential_levels``); by default the
        criterion's own (100 for synflow, as its authors prune; 1 for every other).
    """
    if method is None:
        method = Method(criterion, granularity, scope, p)
    criterion, granularity, scope, p = method.criterion, method.granularity, method.scope, method.p
    if REGISTRY[criterion].updates_weights:
        return _prune_posttrain(model, sparsity, method, data, eval_data, trace, step)
    rounds = REGISTRY[criterion].rounds if rounds is None else rounds
    levels = exponential_levels(sparsity, rounds or 1)
    check = eval_data if eval_data is not None else data
    before_eval = evaluate(model, *check) if check is not None else {}
    trace = Trace() if trace is None else trace
    step = step if step is not None else (max((r["step"] for r in trace), default=0) + 1)
    sequential = REGISTRY[criterion].sequential and scope != "global"
    for i, level in enumerate(levels):
        before = {layer.name: _layer_sparsity(layer)
                  for layer in prunable_layers(model, granularity)}
        dense = snapshot(model) if method.reconstruct else None
        if sequential:
            selection = _layer_by_layer(model, method, data, level, min_keep, rng)
        else:
            selection = select(scores(model, criterion, granularity, data, p=p, rng=rng),
                               level, scope, min_keep)
            apply(model, selection)
        refits = {r["layer"]: r for r in oneshot.refit(model, data, dense)} \
            if method.reconstruct else {}
        last = i == len(levels) - 1
        after_eval = evaluate(model, *check) if check is not None and last else {}
        for layer in selection.layers:
            trace.append({
                "step": step, "layer": layer.name, "criterion": criterion,
                "granularity": granularity, "threshold": selection.threshold[layer.name],
                "pruned": selection.newly_pruned[layer.name], "ties": selection.ties[layer.name],
                "sparsity_before": before[layer.name], "sparsity_after": _layer_sparsity(layer),
                "loss_before": before_eval.get("loss") if i == 0 else None,
                "loss_after": after_eval.get("loss"),
                "accuracy_before": before_eval.get("accuracy") if i == 0 else None,
                "accuracy_after": after_eval.get("accuracy"),
                **({"members": _members(layer)} if _members(layer) is not None else {}),
                **{k: refits[layer.name][k] for k in ("error_masked", "error_after", "samples",
                                                     "seconds") if layer.name in refits}})
        step += 1
    return PruneResult(selection, trace, weight_sparsity(model))


def _layer_by_layer(model, method, data, sparsity, min_keep, rng):
    """Select and apply one layer at a time, each scored on the model pruned so far (the
    sequential scheme of Wanda and SparseGPT; local and row scope only)."""
    parts = None
    for layer in prunable_layers(model, method.granularity):
        s = scores(model, method.criterion, method.granularity, data, p=method.p, rng=rng)
        step = select(s, sparsity, method.scope, min_keep)
        mine = next(x for x in step.layers if x.name == layer.name)
        apply(model, Selection(step.granularity, [mine], step.keep, step.threshold, step.ties,
                               step.newly_pruned))
        parts = parts or {k: {} for k in ("keep", "threshold", "ties", "newly_pruned")}
        for key in parts:
            parts[key][layer.name] = getattr(step, key)[layer.name]
    layers = prunable_layers(model, method.granularity)
    return Selection(method.granularity, layers, **parts)


def _prune_posttrain(model, sparsity, method, data, eval_data, trace, step):
    """``prune`` for a criterion that updates the kept weights (SparseGPT): every layer in
    order by ``oneshot.prune_posttrain``, traced like the others."""
    if data is None:
        raise ValueError(f"criterion {method.criterion!r} is data-driven: pass data=(X, y) "
                         f"(calibration inputs and targets)")
    check = eval_data if eval_data is not None else data
    before_eval = evaluate(model, *check)
    before = {name: 1 - np.count_nonzero(p.data) / p.data.size
              for name, p in model.named_parameters() if name.endswith("weight")}
    rows = oneshot.prune_posttrain(model, sparsity, method.criterion, data,
                                   granularity=method.granularity)
    after_eval = evaluate(model, *check)
    trace = Trace() if trace is None else trace
    step = step if step is not None else (max((r["step"] for r in trace), default=0) + 1)
    for row in rows:
        trace.append({"step": step, "layer": row["layer"], "criterion": method.criterion,
                      "granularity": method.granularity, "threshold": None,
                      "pruned": None, "ties": None,
                      "sparsity_before": before[f"{row['layer']}.weight"],
                      "sparsity_after": row["sparsity"],
                      "loss_before": before_eval["loss"], "loss_after": after_eval["loss"],
                      "accuracy_before": before_eval["accuracy"],
                      "accuracy_after": after_eval["accuracy"],
                      "error_masked": row["error_masked"], "error_after": row["error_after"],
                      "samples": row["samples"], "seconds": row["seconds"]})
    return PruneResult(None, trace, weight_sparsity(model))
