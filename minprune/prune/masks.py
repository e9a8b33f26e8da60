"""Masks on a model: apply keep masks, read and set them, snapshot a model's whole state, bake
the masks in, and count what is pruned.

The masks are part of a pruned model's state, beside its weights and BatchNorm statistics.
``Module.load_state_dict`` loads weights and buffers exactly as given; masks travel with
``get_masks`` / ``set_masks``, and ``snapshot`` / ``restore`` carry all three together.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def get_masks(model):
    """{parameter name: a copy of its mask, or None} for every parameter of ``model``."""
    return {name: None if p.mask is None else p.mask.copy()
            for name, p in model.named_parameters()}


def set_masks(model, masks):
    """Give every parameter the mask ``masks[name]`` (None: unpruned) and zero what it prunes.

    ``masks`` maps every parameter name of ``model`` to a bool array of its shape or None.
    """
    params = dict(model.named_parameters())
    missing, unexpected = sorted(set(params) - set(masks)), sorted(set(masks) - set(params))
    if missing or unexpected:
        raise KeyError(f"set_masks: missing names {missing}, unexpected names {unexpected}")
    for name, p in params.items():
        mask = masks[name]
        if mask is not None and np.shape(mask) != p.shape:
            raise ValueError(f"set_masks: the mask of {name!r} has shape {np.shape(mask)}, "
                             f"the parameter {p.shape}")
    for name, p in params.items():
        p.mask = None if masks[name] is None else np.array(masks[name], dtype=bool)
        if p.mask is not None:
            p.data *= p.mask
    return model


@dataclass(frozen=True)
class Snapshot:
    """A model's whole state at one moment: weights and buffers (``state``) and masks."""
    state: dict
    masks: dict


def snapshot(model):
    """Copy ``model``'s weights, BatchNorm statistics and masks, to ``restore`` later."""
    return Snapshot(model.state_dict(), get_masks(model))


def restore(model, saved):
    """Put a ``snapshot`` back: weights, buffers and masks exactly as they were."""
    model.load_state_dict(saved.state)
    set_masks(model, {k: None if m is None else m.copy() for k, m in saved.masks.items()})
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
            if L.is_weighted(m)]


def weight_sparsity(model):
    """The fraction of Linear and Conv2d weights that are zero."""
    weights = [p.data for _, p in prunable_weights(model)]
    total = sum(w.size for w in weights)
    return sum(int(w.size - np.count_nonzero(w)) for w in weights) / total if total else 0.0
