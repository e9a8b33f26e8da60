"""Structural surgery: ``compact(model)`` deletes pruned units and filters for real, so the model
is smaller and faster, and computes exactly what the masked model computes.

A unit of a hidden Linear layer (a filter of a Conv2d) can go when the layer that consumes it
has only zeros for it: its weight column (input channel, or the block of columns the channel
becomes after a Flatten) is all zero. Then nothing the unit outputs reaches the rest of the
network, whatever its activation (Sigmoid(0) = 0.5) or BatchNorm makes of it. Structured
pruning in minprune always zeroes those columns (see ``groups.py``). The neighbours are
repaired by slicing: the producer loses the weight row and bias entry, a BatchNorm in between
loses the entry and its running statistics, the consumer loses the input columns.
"""
from __future__ import annotations

import copy

import numpy as np

from ..nn import layers as L
from ..nn.module import Sequential
from .blocks import drop_removed
from .groups import prunable_layers


def dead_groups(group_layer):
    """Bool array (n_groups,): True where every consumer's inputs from that unit or filter
    are all zero (``group_layer`` is a structured ``GroupLayer`` from ``prunable_layers``;
    the consumers are its weight members along axis 1: the next Linear / Conv2d, or every
    layer that reads a residual sum's channel)."""
    alive = np.zeros(group_layer.n_groups, dtype=bool)
    consumers = [m for m in group_layer.members if m.axis == 1]
    if not consumers:
        return alive
    for consumer in consumers:
        by_input = np.moveaxis(consumer.param.data, consumer.axis, 0)
        alive |= by_input.reshape(group_layer.n_groups, -1).any(axis=1)
    return ~alive


def compact(model):
    """A smaller copy of ``model`` without its dead units and filters (see the module notes).

    Parameters
    ----------
    model : a Sequential (residual blocks and grouped convolutions included), pruned at unit
        or filter granularity (or not at all). It is not changed.

    Returns
    -------
    A new Sequential with the same outputs (exactly, in eval mode; in training mode too, except
    that Dropout draws different random numbers for a differently sized input). A residual
    block pruned whole (granularity "block") is taken out, leaving its shortcut. Masks of what
    remains, e.g. weight pruning inside the kept units, are kept. A layer keeps at least one
    unit even when all are dead, so every shape stays valid.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"compact takes a Sequential model, got {type(model).__name__}")
    small = drop_removed(copy.deepcopy(model))         # removed residual blocks first
    small.train(model.training)
    cuts = []
    for granularity in ("unit", "filter"):
        try:
            layers = prunable_layers(small, granularity)
        except ValueError:                         # no hidden layer of this kind
            continue
        for layer in layers:
            keep = ~dead_groups(layer)
            if not keep.any():
                keep[0] = True
            if not keep.all():
                cuts.append((layer, np.flatnonzero(keep)))
    # All groups are read before any is cut: a layer is often the consumer of one group and
    # the producer of the next, cut along its input axis by one and its output axis by the other.
    for layer, keep in cuts:
        _cut(small, layer, keep)
    return small


def _cut(model, layer, keep):
    """Keep only the groups ``keep`` of ``layer`` in every parameter it spans."""
    modules = dict(model.named_modules())
    for member in layer.members:
        index = [slice(None)] * member.param.ndim
        index[member.axis] = (keep[:, None] * member.block + np.arange(member.block)).ravel()
        _slice(member.param, tuple(index))
        module = modules[member.name.rsplit(".", 1)[0]]
        if isinstance(module, (L.BatchNorm1d, L.BatchNorm2d)) and member.name.endswith("weight"):
            module.running_mean = module.running_mean[keep].copy()
            module.running_var = module.running_var[keep].copy()
            module.num_features = len(keep)
        elif isinstance(module, L.Linear):
            module.out_features, module.in_features = module.weight.shape
        elif isinstance(module, L.Conv2d) and module.groups != 1:     # depthwise
            module.out_channels = module.in_channels = module.groups = module.weight.shape[0]
        elif isinstance(module, L.Conv2d):
            module.out_channels, module.in_channels = module.weight.shape[:2]


def _slice(param, index):
    param.data = np.ascontiguousarray(param.data[index])
    param.grad = None
    if param.mask is not None:
        mask = param.mask[index]
        param.mask = None if mask.all() else np.ascontiguousarray(mask)
