"""Criteria the field compares against: network slimming's BatchNorm scale (Liu et al. 2017),
LAMP (Lee et al. 2021), FPGM (He et al. 2019) and SynFlow (Tanaka et al. 2020).

Each returns {layer name: scores}, higher = keep, like every criterion in ``criteria``.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..nn import layers as L
from ..nn.module import eval_mode
from .calibration import gradient


def batchnorm_member(layer):
    """The (first) BatchNorm scale (gamma) member of a unit or filter group, or None."""
    found = batchnorm_members(layer)
    return found[0] if found else None


def batchnorm_members(layer):
    """Every BatchNorm scale (gamma) member of a unit or filter group."""
    return [m for m in layer.members if m.param.ndim == 1 and m.axis == 0
            and m.name.endswith(".weight")]


def check_batchnorm(model, layers):
    """bn_scale needs a BatchNorm right after every scored layer."""
    for layer in layers:
        if layer.granularity == "weight" or batchnorm_member(layer) is None:
            raise ValueError(f"criterion 'bn_scale' ranks units and filters by the scale of "
                             f"the BatchNorm after them; layer {layer.name} "
                             f"({type(layer.module).__name__}) has no BatchNorm after it")


def bn_scale(model, layers, data=None, *, p=1, rng=None, batch_size=256):
    """|gamma| of the BatchNorm after each unit or filter (network slimming); for a coupled
    group, the mean |gamma| over its BatchNorms (Torch-Pruning's ``BNScaleImportance``)."""
    return {layer.name: np.mean([np.abs(m.param.data.astype(np.float64))
                                 for m in batchnorm_members(layer)], axis=0)
            for layer in layers}


def lamp(model, layers, data=None, *, p=1, rng=None, batch_size=256):
    """LAMP: for a weight u, w_u² / Σ_{v: |w_v| >= |w_u|} w_v² over the weights v of its layer.

    Ties count each other (every v with |w_v| equal to |w_u| is in the sum), so equal weights
    get equal scores. For units and filters the same normalisation runs over group scores:
    the mean over the group's weight tensors (the layer's rows, the BatchNorm scale, the next
    layer's input columns; biases left out) of the group's sum of squares, which is what
    Torch-Pruning's ``LAMPImportance`` computes.
    """
    out = {}
    for layer in layers:
        if layer.granularity == "weight":
            energy = layer.weight.data.astype(np.float64) ** 2
        else:
            weights = [m for m in layer.members if m.name.endswith(".weight")]
            energy = sum(np.moveaxis(m.param.data.astype(np.float64) ** 2, m.axis, 0)
                         .reshape(layer.n_groups, -1).sum(axis=1) for m in weights)
            energy = energy / len(weights)
        out[layer.name] = lamp_normalise(energy)
    return out


def lamp_normalise(energy):
    """Each entry divided by the sum of the entries at least as large as it."""
    flat = energy.ravel()
    order = np.argsort(flat, kind="stable")
    ascending = flat[order]
    # sum of the entries >= each value: total minus the sum of those strictly below it
    below = np.concatenate(([0.0], np.cumsum(ascending)[:-1]))
    first = np.searchsorted(ascending, ascending, side="left")   # ties share one sum
    at_least = ascending.sum() - below[first]
    scores = np.empty_like(flat)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores[order] = np.where(at_least > 0, ascending / at_least, 0.0)
    return scores.reshape(energy.shape)


def fpgm(model, layers, data=None, *, p=1, rng=None, batch_size=256):
    """FPGM: for each filter (or unit), the sum of the Euclidean distances from its weights
    to every other filter's of the same layer. The filters closest to the geometric median
    of their layer have the smallest sum: their job is done by the others, whatever their
    norm (the paper's distance on the raw weights; Torch-Pruning's ``FPGMImportance`` takes
    the distance between |w|^p instead, which agrees only where the weights are >= 0). A
    coupled group sums the distance sums of each weight whose rows it removes (theirs with
    ``group_reduction="sum"``)."""
    out = {}
    for layer in layers:
        if layer.granularity == "weight":
            raise ValueError("criterion 'fpgm' compares whole filters or units; use "
                             "granularity 'unit' or 'filter'")
        out[layer.name] = sum(_distance_sums(m.param.data.astype(np.float64)
                                             .reshape(layer.n_groups, -1))
                              for m in layer.row_members)
    return out


def _distance_sums(w):
    """For each row of ``w``, the sum of its Euclidean distances to the other rows."""
    squared = (w * w).sum(axis=1)
    d2 = np.maximum(squared[:, None] + squared[None, :] - 2 * w @ w.T, 0.0)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2).sum(axis=1)


def synflow(model, layers, data=None, *, p=1, rng=None, batch_size=256,
            dtype=np.float64):
    """One round of SynFlow: |θ · ∂R/∂θ| with R the sum of the outputs of the network whose
    every parameter (biases included) and BatchNorm statistic is replaced by its absolute
    value, on an all-ones input, in evaluation mode and in float64, as the authors' code does.
    ``prune.prune`` with it runs their iterative schedule (``synflow_rounds`` rounds, the
    remaining fraction shrinking exponentially)."""
    shape = _input_shape(model)
    params = dict(model.named_parameters())
    saved = {name: param.data for name, param in params.items()}
    try:
        for param in params.values():
            param.data = np.abs(param.data).astype(dtype)
        buffers = _abs_batchnorm(model, dtype)
        with eval_mode(model):
            model.zero_grad()
            model(Tensor(np.ones(shape, dtype=dtype))).sum().backward()
        values = {layer.name: np.abs(params[f"{layer.name}.weight"].data
                                     * gradient(params[f"{layer.name}.weight"]))
                  for layer in layers}
    finally:
        for name, param in params.items():
            param.data = saved[name]
        for module, (mean, var) in buffers.items():
            module.running_mean, module.running_var = mean, var
        model.zero_grad()
    return values



def _abs_batchnorm(model, dtype):
    """BatchNorm running statistics replaced by their absolute values in ``dtype``, as the
    authors' code takes the absolute value of the whole state dict; returns the originals."""
    saved = {}
    for m in model.modules():
        if isinstance(m, (L.BatchNorm1d, L.BatchNorm2d)):
            saved[m] = (m.running_mean, m.running_var)
            m.running_mean = np.abs(m.running_mean).astype(dtype)
            m.running_var = np.abs(m.running_var).astype(dtype)
    return saved


def _input_shape(model):
    """(1, ...) input of ones: images for models that start with a Conv2d, else features."""
    for m in model:
        if isinstance(m, L.Conv2d):
            return (1, m.in_channels, 28, 28)
        if isinstance(m, L.Linear):
            return (1, m.in_features)
    raise ValueError("synflow needs a model with a Linear or Conv2d layer")
