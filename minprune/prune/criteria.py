"""Importance scores, higher = keep: a registry of criteria, one score function each.

Every criterion is a ``Criterion`` record in ``REGISTRY``: its score function (one signature:
``score(model, layers, data, *, p, rng, batch_size)`` -> {layer name: array}), whether it
needs calibration data, the granularities it supports, and an optional model check. ``check``
is the one place that decides whether a (model, criterion, granularity, scope) combination
can be pruned: the library, the CLI and sweep specs all call it, so they refuse the same
things with the same message.

Every criterion returns, for each prunable layer, an array with one score per group (the
weight's shape for ``"weight"`` granularity, ``(n_groups,)`` otherwise). Data-driven criteria
compute in evaluation mode (Dropout off, BatchNorm on running statistics) on the calibration
data ``(X, y)``, with the cross-entropy loss (integer class labels).
Calibration data should be held out from the test set (``data.calibration_split``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..checks import one_of
from ..nn import layers as L
from ..nn.init import as_rng
from ..nn.module import eval_mode
from .calibration import batches
from ..nn.train import evaluate, loss_for
from . import blocks, field, oneshot, taylor
from . import patterns
from .groups import chain_only, check_granularity, prunable_layers, scored_as
from .select import SCOPES, Scores, check_row_scope

MAX_SENSITIVITY_WEIGHTS = 20_000     # weight-level sensitivity does one evaluation per weight


# --- helpers ---------------------------------------------------------------------------------


def loss_on(model, data, batch_size=256):
    """Mean loss of ``model`` on ``data`` in evaluation mode, without a graph."""
    return evaluate(model, *data, batch_size=batch_size)["loss"]


def mean_gradients(model, data, batch_size=256, max_batches=None):
    """The gradient of the mean loss over ``data`` for every parameter (dict by name)."""
    X, _ = data
    params = dict(model.named_parameters())
    total = {n: np.zeros_like(p.data, dtype=np.float64) for n, p in params.items()}
    seen = 0
    with eval_mode(model):
        for b, (xb, yb) in enumerate(batches(data, batch_size)):
            if max_batches is not None and b >= max_batches:
                break
            model.zero_grad()
            loss_for(model(Tensor(xb)), yb).backward()
            for n, p in params.items():
                if p.grad is not None:
                    total[n] += p.grad * len(xb)
            seen += len(xb)
    model.zero_grad()
    return {n: g / seen for n, g in total.items()}


def fisher_diagonal(model, data):
    """Diagonal of the empirical Fisher: the mean over examples of (∂ℓ_n/∂w)², per parameter.

    Per-example gradients are taken one example at a time: slow, and obviously right.
    """
    X, y = data
    params = dict(model.named_parameters())
    fisher = {n: np.zeros_like(p.data, dtype=np.float64) for n, p in params.items()}
    with eval_mode(model):
        for i in range(len(X)):
            model.zero_grad()
            loss_for(model(Tensor(X[i:i + 1])), y[i:i + 1]).backward()
            for n, p in params.items():
                if p.grad is not None:
                    fisher[n] += p.grad.astype(np.float64) ** 2
    model.zero_grad()
    return {n: f / len(X) for n, f in fisher.items()}


def _per_group(layer, entry_scores, reduce=np.sum):
    """Reduce per-entry scores (dict param name -> array) to one value per group of ``layer``."""
    if layer.granularity == "weight":
        return entry_scores[f"{layer.name}.weight"]
    total = np.zeros(layer.n_groups)
    for m in layer.members:
        s = np.moveaxis(entry_scores[m.name], m.axis, 0)
        total += reduce(s.reshape(layer.n_groups, -1), axis=1)
    return total


# --- criteria --------------------------------------------------------------------------------

def magnitude(model, layers, data=None, *, p=1, rng=None, batch_size=256):
    """|w| per weight; for a group, the L``p`` norm of the producing layer's weight slice
    (as ``torch.nn.utils.prune.ln_structured`` along dim 0) - of all the weight rows the
    group removes, for a coupled group (every producer of a residual sum, a depthwise
    filter)."""
    out = {}
    for layer in layers:
        if layer.granularity == "weight":
            out[layer.name] = np.abs(layer.weight.data.astype(np.float64))
        elif layer.granularity == "block":
            out[layer.name] = blocks.magnitude(layer, p)
        else:
            rows = np.hstack([m.param.data.astype(np.float64).reshape(layer.n_groups, -1)
                              for m in layer.row_members])
            out[layer.name] = np.linalg.norm(rows, ord=p, axis=1)
    return out


def random(model, layers, data=None, *, p=1, rng=None, batch_size=256):
    rng = as_rng(rng)
    return {layer.name: rng.random(layer.weight.shape if layer.granularity == "weight"
                                   else layer.n_groups) for layer in layers}


def snip(model, layers, data, *, p=1, rng=None, batch_size=256):
    """Connection sensitivity Σ_group |w·∂L/∂w| on one batch, meant for use at initialisation
    (Lee et al. 2019, SNIP)."""
    grads = mean_gradients(model, data, batch_size, max_batches=1)
    params = dict(model.named_parameters())
    contrib = {n: np.abs(params[n].data * g) for n, g in grads.items()}
    return {layer.name: _per_group(layer, contrib) for layer in layers}


def obd(model, layers, data, *, p=1, rng=None, batch_size=256):
    """Optimal Brain Damage saliency Σ_group ½·F_ii·w_i², with F the diagonal empirical Fisher
    standing in for the Hessian diagonal of LeCun et al. (1990)."""
    fisher = fisher_diagonal(model, data)
    params = dict(model.named_parameters())
    saliency = {n: 0.5 * f * params[n].data.astype(np.float64) ** 2 for n, f in fisher.items()}
    return {layer.name: _per_group(layer, saliency) for layer in layers}


def ablation(model, layers, data, *, p=1, rng=None, batch_size=256):
    """The measured increase of the loss on ``data`` when the group alone is zeroed (one group
    at a time: it ignores what removing several groups together does)."""
    if layers and layers[0].granularity == "block":
        return {layer.name: blocks.ablation(model, layer, data, loss_on, batch_size)
                for layer in layers}
    base = loss_on(model, data, batch_size)
    out = {}
    for layer in layers:
        members = ([(layer.weight, None)] if layer.granularity == "weight"
                   else [(m.param, m) for m in layer.members])
        scores = np.zeros(layer.n_groups)
        for k in range(layer.n_groups):
            saved = []
            for param, m in members:
                idx = np.unravel_index(k, param.shape) if m is None else m.index(k)
                saved.append((param, idx, param.data[idx].copy()))
                param.data[idx] = 0
            scores[k] = loss_on(model, data, batch_size) - base
            for param, idx, values in saved:
                param.data[idx] = values
        out[layer.name] = scores.reshape(layer.weight.shape) if layer.granularity == "weight" \
            else scores
    return out


def _relu_after(model, layers):
    """{layer name: index of the ReLU its outputs pass through (BatchNorm may stand between)}."""
    chain_only("apoz", layers)
    modules = list(model)
    found = {}
    for layer in layers:
        j = int(layer.name) + 1
        while j < len(modules) and isinstance(modules[j], (L.BatchNorm1d, L.BatchNorm2d)):
            j += 1
        if j >= len(modules) or not isinstance(modules[j], L.ReLU):
            raise ValueError(f"criterion 'apoz' needs a ReLU right after layer {layer.name} "
                             f"(BatchNorm may stand between); found "
                             f"{type(modules[j]).__name__ if j < len(modules) else 'nothing'}")
        found[layer.name] = j
    return found


def _weight_count_limit(model, layers):
    for layer in layers:
        if layer.granularity == "weight" and layer.n_groups > MAX_SENSITIVITY_WEIGHTS:
            raise ValueError(f"criterion 'sensitivity' at weight granularity evaluates the loss "
                             f"once per weight; layer {layer.name} has {layer.n_groups:,} "
                             f"weights (limit {MAX_SENSITIVITY_WEIGHTS:,}); use 'taylor', its "
                             f"first-order estimate, or a structured granularity")


def apoz(model, layers, data, *, p=1, rng=None, batch_size=256):
    """1 - APoZ: the fraction of calibration inputs (and positions, for filters) on which the
    unit's ReLU output is non-zero (Hu et al. 2016, Network Trimming)."""
    modules = list(model)
    relu_after = {j: name for name, j in _relu_after(model, layers).items()}
    nonzero = {name: 0.0 for name in relu_after.values()}
    count = {name: 0 for name in relu_after.values()}
    with eval_mode(model), no_grad():
        for xb, _ in batches(data, batch_size):
            h = Tensor(xb)
            for j, module in enumerate(modules):
                h = module(h)
                if j in relu_after:
                    name = relu_after[j]
                    axes = (0,) + tuple(range(2, h.ndim))
                    nonzero[name] = nonzero[name] + (h.data > 0).sum(axis=axes)
                    count[name] += h.size // h.shape[1]
    return {name: nonzero[name] / count[name] for name in nonzero}


CHANNELS = ("weight", "unit", "filter")   # what most criteria score


# --- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Criterion:
    """One criterion: how it scores, what it needs, where it applies.

    ``score(model, layers, data, *, p, rng, batch_size)`` returns {layer name: scores}: every
    criterion takes these same arguments (``data`` None for the data-free ones) and uses
    what it needs. ``check_model(model, layers)``, when given, raises
    ValueError for a model the criterion cannot score.
    """
    name: str
    score: Callable
    needs_data: bool
    granularities: tuple = CHANNELS
    check_model: Optional[Callable] = None
    summary: str = ""
    rounds: int = 1                 # prune() re-scores this many times on the way (SynFlow)
    updates_weights: bool = False   # prunes and changes the kept weights (prune.oneshot)
    sequential: bool = False        # local/row scope: each layer scored on the model pruned
                                    # so far (Wanda's and SparseGPT's scheme)


REGISTRY = {c.name: c for c in (
    Criterion("magnitude", magnitude, False, granularities=CHANNELS + ("block",),
              summary="|w|, or the Lp norm of a group (of a block's weights)"),
    Criterion("random", random, False, granularities=CHANNELS + ("block",),
              summary="uniform random scores (the control)"),
    Criterion("taylor", taylor.taylor, True,
              summary="sum over minibatches of (sum of w * dL/dw over the group)^2 "
                      "(Molchanov et al. 2019)"),
    Criterion("taylor_2017", taylor.taylor_2017, True, granularities=("unit", "filter"),
              summary="mean over examples of |mean of a * dC/da| over the feature map "
                      "(Molchanov et al. 2017)"),
    Criterion("snip", snip, True, summary="sum of |w * dL/dw| on one batch (at initialisation)"),
    Criterion("obd", obd, True, summary="1/2 F_ii w^2 with the diagonal Fisher"),
    Criterion("sensitivity", ablation, True, check_model=_weight_count_limit,
              granularities=CHANNELS + ("block",),
              summary="measured loss increase when the group (or block) alone is removed"),
    Criterion("block_influence", blocks.block_influence, True, granularities=("block",),
              summary="1 - cos(block input, block output) over calibration samples (Gromov "
                      "et al. 2024, Men et al. 2024)"),
    Criterion("apoz", apoz, True, granularities=("unit", "filter"), check_model=_relu_after,
              summary="fraction of non-zero activations after the ReLU"),
    Criterion("bn_scale", field.bn_scale, False, granularities=("unit", "filter"),
              check_model=field.check_batchnorm,
              summary="|gamma| of the BatchNorm after the unit or filter (network slimming)"),
    Criterion("lamp", field.lamp, False,
              summary="w^2 over the sum of the layer's w^2 at least as large (LAMP)"),
    Criterion("fpgm", field.fpgm, False, granularities=("unit", "filter"),
              summary="summed distance to the layer's other filters (geometric median)"),
    Criterion("synflow", field.synflow, False, granularities=("weight",), rounds=100,
              summary="|theta * dR/dtheta| of the all-|theta| network on ones (SynFlow)"),
    Criterion("wanda", oneshot.wanda, True, granularities=("weight",), sequential=True,
              summary="|w_ij| * ||x_j||_2 over the calibration inputs, layer by layer on "
                      "the model pruned so far in local and row scope (Wanda: scope 'row')"),
    Criterion("sparsegpt", oneshot.no_scores, True, granularities=("weight",),
              updates_weights=True,
              summary="OBS row by row with a shared Hessian, layer by layer, the kept weights "
                      "updated (SparseGPT; prune() runs prune.oneshot, scope unused)"),
)}
CRITERIA = tuple(REGISTRY)


def check(model, criterion, granularity="weight", scope="global"):
    """Refuse a combination that cannot be pruned, naming why; return the prunable layers.

    Raises ValueError for an unknown criterion, granularity or scope, a granularity the
    criterion does not score, or a model it cannot score; TypeError for a model that is not a
    flat Sequential.
    """
    one_of("criterion", criterion, CRITERIA)
    check_granularity(granularity)
    one_of("scope", scope, SCOPES)
    if scope == "row":
        check_row_scope(granularity)
    record = REGISTRY[criterion]
    if scored_as(granularity) not in record.granularities:
        raise ValueError(f"criterion {criterion!r} scores {' and '.join(record.granularities)} "
                         f"groups, not {granularity!r}; use granularity "
                         f"{' or '.join(repr(g) for g in record.granularities)}")
    layers = prunable_layers(model, granularity)
    pattern = patterns.parse(granularity)
    if record.updates_weights and pattern is not None and pattern.kind != "nm":
        raise ValueError(f"criterion {criterion!r} prunes weights or N:M patterns, not "
                         f"{granularity!r}")
    if record.check_model is not None:
        record.check_model(model, prunable_layers(model, scored_as(granularity)))
    return layers


def scores(model, criterion="magnitude", granularity="weight", data=None, *, p=1, rng=None,
           batch_size=256):
    """Score every group of every prunable layer of ``model``.

    Parameters
    ----------
    criterion : a name from ``CRITERIA`` (``REGISTRY`` says what each one needs).
    granularity : "weight", "unit", "filter", "N:M" (e.g. "2:4": every weight scored) or
        "block:RxC" (each block scored by the Lp norm of its weights' scores).
    data : (X, y) calibration data, needed by the data-driven criteria (taylor, taylor_2017,
        snip, obd, sensitivity, apoz).
    p : 1 or 2, the norm of group magnitudes.
    rng : Generator or seed, for "random".

    Returns a ``Scores`` (``.values[layer name]`` is the score array of that layer).
    """
    one_of("criterion", criterion, CRITERIA)
    one_of("p", p, (1, 2))
    layers = check(model, criterion, granularity)
    record = REGISTRY[criterion]
    if record.needs_data:
        if data is None:
            raise ValueError(f"criterion {criterion!r} is data-driven: pass data=(X, y) "
                             f"(calibration inputs and targets)")
        X, y = (np.asarray(a) for a in data)
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"data must be (X, y) with the same, non-zero number of samples; "
                             f"got {len(X)} and {len(y)}")
        data = (X, y)
    if record.updates_weights:
        raise ValueError(f"criterion {criterion!r} changes the kept weights as it prunes, so it "
                         f"has no scores to select from; prune with prune.prune(model, "
                         f"sparsity, {criterion!r}, data=...) or prune.oneshot.prune_posttrain")
    pattern = patterns.parse(granularity)
    scored = layers if pattern is None else prunable_layers(model, "weight")
    values = record.score(model, scored, data, p=p, rng=rng, batch_size=batch_size)
    if pattern is not None and pattern.kind == "block":
        values = {name: patterns.block_scores(v, pattern, p) for name, v in values.items()}
    return Scores(criterion, granularity, layers, values)
