"""Importance scores, higher = keep: one function per criterion, one array per layer.

Every criterion returns, for each prunable layer, an array with one score per group (the
weight's shape for ``"weight"`` granularity, ``(n_groups,)`` otherwise). Data-driven criteria
compute in evaluation mode (Dropout off, BatchNorm on running statistics) on the calibration
data ``(X, y)``, with the model's own loss (cross-entropy for integer labels, MSE otherwise).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.init import as_rng
from ..nn.train import loss_for
from .groups import prunable_layers

CRITERIA = ("magnitude", "random", "taylor", "snip", "obd", "sensitivity", "apoz")
DATA_CRITERIA = ("taylor", "snip", "obd", "sensitivity", "apoz")
MAX_SENSITIVITY_WEIGHTS = 20_000     # weight-level sensitivity does one evaluation per weight


@dataclass
class Scores:
    """Scores per layer (``values[name]``), with the layers they belong to."""
    criterion: str
    granularity: str
    layers: list
    values: dict


# --- helpers ---------------------------------------------------------------------------------

def _batches(data, batch_size):
    X, y = data
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]


def _in_eval(model):
    class _Mode:
        def __enter__(self):
            self.was = model.training
            model.eval()

        def __exit__(self, *exc):
            model.train(self.was)
    return _Mode()


def loss_on(model, data, batch_size=256):
    """Mean loss of ``model`` on ``data`` in evaluation mode, without a graph."""
    X, _ = data
    total = 0.0
    with _in_eval(model), no_grad():
        for xb, yb in _batches(data, batch_size):
            total += loss_for(model(Tensor(xb)), yb).item() * len(xb)
    return total / len(X)


def mean_gradients(model, data, batch_size=256, max_batches=None):
    """The gradient of the mean loss over ``data`` for every parameter (dict by name)."""
    X, _ = data
    params = dict(model.named_parameters())
    total = {n: np.zeros_like(p.data, dtype=np.float64) for n, p in params.items()}
    seen = 0
    with _in_eval(model):
        for b, (xb, yb) in enumerate(_batches(data, batch_size)):
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
    with _in_eval(model):
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

def magnitude(layers, p=1):
    """|w| per weight; for a group, the L``p`` norm of the producing layer's weight slice
    (as ``torch.nn.utils.prune.ln_structured`` along dim 0)."""
    out = {}
    for layer in layers:
        w = layer.weight.data.astype(np.float64)
        if layer.granularity == "weight":
            out[layer.name] = np.abs(w)
        else:
            out[layer.name] = np.linalg.norm(w.reshape(layer.n_groups, -1), ord=p, axis=1)
    return out


def random(layers, rng):
    rng = as_rng(rng)
    return {layer.name: rng.random(layer.weight.shape if layer.granularity == "weight"
                                   else layer.n_groups) for layer in layers}


def taylor(model, layers, data, batch_size=256):
    """|Σ_group w·∂L/∂w|: the first-order change of the loss when the group is zeroed, with the
    gradient of the mean loss accumulated over the calibration batches (Molchanov et al. 2017,
    2019)."""
    grads = mean_gradients(model, data, batch_size)
    params = dict(model.named_parameters())
    contrib = {n: params[n].data * g for n, g in grads.items()}
    return {layer.name: np.abs(_per_group(layer, contrib)) for layer in layers}


def snip(model, layers, data, batch_size=256):
    """Connection sensitivity Σ_group |w·∂L/∂w| on one batch, meant for use at initialisation
    (Lee et al. 2019, SNIP)."""
    grads = mean_gradients(model, data, batch_size, max_batches=1)
    params = dict(model.named_parameters())
    contrib = {n: np.abs(params[n].data * g) for n, g in grads.items()}
    return {layer.name: _per_group(layer, contrib) for layer in layers}


def obd(model, layers, data):
    """Optimal Brain Damage saliency Σ_group ½·F_ii·w_i², with F the diagonal empirical Fisher
    standing in for the Hessian diagonal of LeCun et al. (1990)."""
    fisher = fisher_diagonal(model, data)
    params = dict(model.named_parameters())
    saliency = {n: 0.5 * f * params[n].data.astype(np.float64) ** 2 for n, f in fisher.items()}
    return {layer.name: _per_group(layer, saliency) for layer in layers}


def sensitivity(model, layers, data, batch_size=256):
    """The measured increase of the loss on ``data`` when the group alone is zeroed."""
    for layer in layers:
        if layer.granularity == "weight" and layer.n_groups > MAX_SENSITIVITY_WEIGHTS:
            raise ValueError(f"criterion 'sensitivity' at weight granularity evaluates the loss "
                             f"once per weight; layer {layer.name} has {layer.n_groups:,} "
                             f"weights (limit {MAX_SENSITIVITY_WEIGHTS:,}); use 'taylor', its "
                             f"first-order estimate, or a structured granularity")
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


def apoz(model, layers, data, batch_size=256):
    """1 - APoZ: the fraction of calibration inputs (and positions, for filters) on which the
    unit's ReLU output is non-zero (Hu et al. 2016, Network Trimming)."""
    if layers[0].granularity == "weight":
        raise ValueError("criterion 'apoz' scores units and filters (activations), not single "
                         "weights; use granularity 'unit' or 'filter'")
    modules = list(model)
    relu_after = {}
    for layer in layers:
        i = int(layer.name)
        j = i + 1
        while j < len(modules) and isinstance(modules[j], (L.BatchNorm1d, L.BatchNorm2d)):
            j += 1
        if j >= len(modules) or not isinstance(modules[j], L.ReLU):
            raise ValueError(f"criterion 'apoz' needs a ReLU right after layer {layer.name} "
                             f"(BatchNorm may stand between); found "
                             f"{type(modules[j]).__name__ if j < len(modules) else 'nothing'}")
        relu_after[j] = layer.name
    nonzero = {name: 0.0 for name in relu_after.values()}
    count = {name: 0 for name in relu_after.values()}
    with _in_eval(model), no_grad():
        for xb, _ in _batches(data, batch_size):
            h = Tensor(xb)
            for j, module in enumerate(modules):
                h = module(h)
                if j in relu_after:
                    name = relu_after[j]
                    axes = (0,) + tuple(range(2, h.ndim))
                    nonzero[name] = nonzero[name] + (h.data > 0).sum(axis=axes)
                    count[name] += h.size // h.shape[1]
    return {name: nonzero[name] / count[name] for name in nonzero}


def scores(model, criterion="magnitude", granularity="weight", data=None, *, p=1, rng=None,
           batch_size=256):
    """Score every group of every prunable layer of ``model``.

    Parameters
    ----------
    criterion : one of ``CRITERIA``.
    granularity : "weight", "unit" or "filter".
    data : (X, y) calibration data, needed by taylor, snip, obd, sensitivity and apoz.
    p : 1 or 2, the norm of group magnitudes.
    rng : Generator or seed, for "random".

    Returns a ``Scores`` (``.values[layer name]`` is the score array of that layer).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 or 2, got {p!r}")
    layers = prunable_layers(model, granularity)
    if criterion in DATA_CRITERIA:
        if data is None:
            raise ValueError(f"criterion {criterion!r} is data-driven: pass data=(X, y) "
                             f"(calibration inputs and targets)")
        X, y = (np.asarray(a) for a in data)
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"data must be (X, y) with the same, non-zero number of samples; "
                             f"got {len(X)} and {len(y)}")
        data = (X, y)
    if criterion == "magnitude":
        values = magnitude(layers, p)
    elif criterion == "random":
        values = random(layers, rng)
    elif criterion == "taylor":
        values = taylor(model, layers, data, batch_size)
    elif criterion == "snip":
        values = snip(model, layers, data, batch_size)
    elif criterion == "obd":
        values = obd(model, layers, data)
    elif criterion == "sensitivity":
        values = sensitivity(model, layers, data, batch_size)
    else:
        values = apoz(model, layers, data, batch_size)
    return Scores(criterion, granularity, layers, values)
