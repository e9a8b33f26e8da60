"""Masks on a model: apply keep masks, bake them in, and count what is pruned."""
from __future__ import annotations

import numpy as np

from ..nn import layers as L


def apply(model, selection):
    """Prune: AND each touched parameter's mask with the selection and zero the pruned entries.

    ``selection`` is a ``Selection`` from ``prune.select``. Masks only ever lose entries: what
    was pruned stays pruned.
    """
    params = dict(model.named_parameters())
    for layer in selection.layers:
        for name, keep in layer.expand(selection.keep[layer.name]).items():
            p = params[name]
            p.mask = keep if p.mask is None else p.mask & keep
            p.data *= p.mask
    return model


def remove(model):
    """Drop every mask, keeping the zeros in the data (the pruning becomes permanent)."""
    for p in model.parameters():
        if p.mask is not None:
            p.data *= p.mask
            p.mask = None
    return model


def prunable_weights(model):
    """(name, Parameter) of every Linear and Conv2d weight: what sparsity is measured over."""
    return [(f"{name}.weight", m.weight) for name, m in model.named_modules()
            if isinstance(m, (L.Linear, L.Conv2d))]


def sparsity(model):
    """The fraction of Linear and Conv2d weights that are zero."""
    weights = [p.data for _, p in prunable_weights(model)]
    total = sum(w.size for w in weights)
    return sum(int(w.size - np.count_nonzero(w)) for w in weights) / total if total else 0.0
