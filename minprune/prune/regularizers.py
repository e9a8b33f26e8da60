"""Train-time sparsity: penalties added to the loss during training (``fit(..., penalty=)``)
that drive weights (L1) or whole units and filters (group lasso) towards zero, and L0 gates
(hard-concrete, Louizos et al. 2018) that learn which units to keep.

``bn_l1`` pushes BatchNorm scales to zero (network slimming). A penalty only makes weights
small; pruning still removes them. After L1, magnitude pruning
costs less accuracy; after group lasso, unit or filter pruning does; closed L0 gates are
folded into the next layer (``fold_gates``) and deleted by ``prune.compact``.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from ..nn import layers as L
from ..nn.gates import L0Gate
from ..nn.module import Sequential, masked
from .groups import _check_sequential, prunable_layers


def l1(model):
    """Sum of |w| over every Linear and Conv2d weight (pruned entries count as 0)."""
    terms = [masked(m.weight).abs().sum() for m in model.modules()
             if L.is_weighted(m)]
    return _total(terms)


def bn_l1(model):
    """Sum of |gamma| over every BatchNorm scale: network slimming's sparsity penalty (Liu et
    al. 2017), for ``fit(penalty=lambda m: 1e-4 * regularizers.bn_l1(m))``; then prune with
    criterion ``"bn_scale"``."""
    terms = [masked(m.weight).abs().sum() for m in model.modules()
             if isinstance(m, (L.BatchNorm1d, L.BatchNorm2d))]
    if not terms:
        raise ValueError("bn_l1 penalises BatchNorm scales, and the model has no BatchNorm "
                         "layer")
    return _total(terms)


def group_lasso(model, granularity="unit"):
    """Sum over units ("unit", hidden Linear layers) or filters ("filter", Conv2d) of
    sqrt(group size) · ||weights of the group||₂ (Yuan & Lin 2006; Wen et al. 2016). The norm
    is not differentiable at 0; a 1e-12 under the root makes its gradient 0 there."""
    terms = []
    for layer in prunable_layers(model, granularity):
        w = masked(layer.weight)
        rows = w.reshape(w.shape[0], -1)
        size = rows.shape[1]
        norms = ((rows * rows).sum(axis=1) + 1e-12).sqrt()
        terms.append(norms.sum() * math.sqrt(size))
    return _total(terms)


def _total(terms):
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def l0(model):
    """The expected number of open gates over every ``L0Gate`` of ``model``."""
    terms = [m.expected_l0() for m in model.modules() if isinstance(m, L0Gate)]
    if not terms:
        raise ValueError("the model has no L0Gate layers: insert L0Gate(n) after the layers "
                         "whose units should be gated")
    return _total(terms)


_LINEAR_IN_Z = (L.ReLU, L.MaxPool2d, L.AvgPool2d, L.Dropout)   # f(z·x) = z·f(x) for z >= 0


def fold_gates(model):
    """A copy of ``model`` without its L0Gate layers, each gate folded into the input columns
    of the next Linear or Conv2d (its deterministic value times those weights): exactly the
    evaluation-mode function. Columns of closed gates (value 0) are zero and masked, so
    ``prune.compact`` then deletes those units.

    Between a gate and that consumer only ReLU, pooling, Dropout and one Flatten may stand
    (layers that commute with scaling by z >= 0).
    """
    layers = _check_sequential(model)
    kept, pending = [], None                 # pending: (gate values, index of its layer)
    for i, layer in enumerate(layers):
        if isinstance(layer, L0Gate):
            if pending is not None:
                raise ValueError(f"L0Gate at layer {i} follows the gate at layer {pending[1]} "
                                 f"with no Linear or Conv2d between them")
            pending = (layer.deterministic_gates(), i)
            continue
        layer_copy = copy.deepcopy(layer)
        if pending is not None:
            if L.is_weighted(layer):
                _fold(layer_copy, *pending)
                pending = None
            elif not isinstance(layer, _LINEAR_IN_Z + (L.Flatten,)):
                raise ValueError(f"layer {i} ({type(layer).__name__}) stands between the "
                                 f"L0Gate at layer {pending[1]} and its consumer; only ReLU, "
                                 f"pooling, Dropout and Flatten may")
        kept.append(layer_copy)
    if pending is not None:
        raise ValueError(f"the L0Gate at layer {pending[1]} has no Linear or Conv2d after it")
    return Sequential(*kept)


def _fold(consumer, z, gate_index):
    w = consumer.weight
    n_in = w.shape[1]
    if n_in % len(z):
        raise ValueError(f"the layer after the L0Gate at layer {gate_index} has {n_in} inputs, "
                         f"not a multiple of the gate's {len(z)} units")
    block = n_in // len(z)                   # > 1 after a Flatten: each channel's block
    scale = np.repeat(z, block).astype(w.dtype)
    shape = (1, n_in) + (1,) * (w.ndim - 2)
    w.data = w.data * scale.reshape(shape)
    kept = np.broadcast_to((scale > 0).reshape(shape), w.shape)
    if not kept.all():
        w.mask = kept.copy() if w.mask is None else w.mask & kept
