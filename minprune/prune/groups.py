"""Granularity: how each prunable layer's parameters split into groups that are pruned together.

``"weight"``: every entry of a Linear or Conv2d weight is its own group.
``"unit"``: output neuron k of a Linear layer: weight row k, bias k, entry k of a following
BatchNorm1d, and column k of the next Linear layer (the consumer).
``"filter"``: output channel k of a Conv2d: filter k, bias k, entry k of a following BatchNorm2d,
and input channel k of the next Conv2d, or the block of columns channel k becomes after a
Flatten in the next Linear.

In a network with residual blocks or grouped convolutions the groups come from ``graph``:
channel k of a residual sum is one group spanning every layer that produces or reads it, a
depthwise convolution's filter k lies in its input channel's group.

``"block"``: a residual block, removed whole (its shortcut stays; ``blocks.py``).

``"N:M"`` and ``"block:RxC"``: the hardware patterns of ``patterns.py``, on every Linear and
Conv2d weight.

Masking the consumer's inputs makes a masked model compute exactly what the physically smaller
model computes, even when the activation of zero is not zero (Sigmoid(0) = 0.5) or a BatchNorm
shifts it. The layer producing the model's output never loses units.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..nn import layers as L
from ..nn.module import Sequential
from ..nn.walk import has_blocks, named_leaves
from .blocks import stages
from .graph import Member, coupled_groups
from . import patterns

GRANULARITIES = ("weight", "unit", "filter", "block")
PATTERNS = "N:M (e.g. '2:4') or block:RxC (e.g. 'block:1x4')"
# "block" alone is a whole residual block; "block:RxC" a pattern of weights


def check_granularity(granularity):
    """Refuse anything but weight, unit, filter, block, N:M and block:RxC, naming what is
    allowed."""
    if granularity in GRANULARITIES or patterns.parse(granularity) is not None:
        return granularity
    raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}, {PATTERNS}, got "
                     f"{granularity!r}")


def scored_as(granularity):
    """The granularity criteria score for it: a pattern is scored weight by weight."""
    return "weight" if patterns.parse(granularity) is not None else granularity
_PASS_THROUGH = (L.ReLU, L.Tanh, L.Sigmoid, L.Dropout, L.MaxPool2d, L.AvgPool2d,
                 L.GlobalAvgPool2d)


@dataclass
class GroupLayer:
    """One prunable layer: its groups, and the parameters each group spans."""
    name: str                      # the module's dotted name, e.g. "3"
    module: object
    granularity: str
    members: list = field(default_factory=list)   # structured only; members[0] is the weight
    producers: list = None         # coupled groups: every layer whose outputs the group spans

    @property
    def row_members(self):
        """The Linear / Conv2d weights whose rows (output channels) the groups are."""
        return [m for m in self.members if m.axis == 0 and m.param.ndim > 1]

    @property
    def coupled(self):
        """Whether the group spans the outputs of more than one layer (a residual sum)."""
        return self.producers is not None and len(self.producers) > 1

    @property
    def weight(self):
        return self.module.weight

    @property
    def pattern(self):
        return patterns.parse(self.granularity)

    @property
    def per_weight(self):
        """Whether the groups are single weights (weight and N:M granularity)."""
        return self.granularity == "weight" or getattr(self.pattern, "kind", None) == "nm"

    @property
    def n_groups(self):
        if self.per_weight:
            return self.weight.size
        if self.pattern is not None:
            rows, cols = patterns.block_grid(self.weight.shape, self.pattern)
            return rows * cols
        return self.weight.shape[0]

    def pruned_groups(self):
        """Bool array (group shape) of groups that are already fully masked."""
        mask = self.weight.mask
        if self.pattern is not None and not self.per_weight:
            return patterns.blocks_pruned(mask, self.weight.shape, self.pattern)
        if mask is None:
            return np.zeros(self.weight.shape if self.per_weight else self.n_groups, dtype=bool)
        if self.per_weight:
            return ~mask
        return ~mask.reshape(self.n_groups, -1).any(axis=1)

    def expand(self, keep):
        """{param name: bool mask} for the parameters touched by a keep array of this layer."""
        if self.per_weight:
            return {f"{self.name}.weight": np.asarray(keep, dtype=bool).reshape(self.weight.shape)}
        if self.pattern is not None:
            return {f"{self.name}.weight": patterns.expand_blocks(keep, self.weight.shape,
                                                                   self.pattern)}
        masks = {}
        for m in self.members:
            full = np.ones(m.param.shape, dtype=bool)
            for k in np.flatnonzero(~np.asarray(keep, dtype=bool)):
                full[m.index(k)] = False
            masks[m.name] = masks.get(m.name, np.ones(m.param.shape, bool)) & full
        return masks


def _check_sequential(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"pruning works on Sequential models (chains of layers); got "
                        f"{type(model).__name__}")
    layers = list(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, Sequential):
            raise TypeError(f"pruning needs a flat Sequential; layer {i} is a nested Sequential")
    return layers


def prunable_layers(model, granularity):
    """The GroupLayers of ``model`` for ``granularity``, in forward order.

    Raises ValueError for an unknown granularity or one that matches no layer, and TypeError
    for a model that is not a flat Sequential chain.
    """
    check_granularity(granularity)
    if not isinstance(model, Sequential):
        raise TypeError(f"pruning works on Sequential models; got {type(model).__name__}")
    found = []
    if granularity == "block":
        return stages(model)
    if scored_as(granularity) == "weight":
        for name, layer in named_leaves(model):
            if L.is_weighted(layer):
                found.append(GroupLayer(name, layer, granularity))
    elif has_blocks(model) or any(getattr(m, "groups", 1) != 1 for m in model.modules()):
        kind = L.Linear if granularity == "unit" else L.Conv2d
        for coupled in coupled_groups(model):
            name, producer = coupled.producers[0]
            if type(producer) is kind:
                rows = [m for m in coupled.members if m.axis == 0 and m.param.ndim > 1]
                found.append(GroupLayer(name, producer, granularity,
                                        rows + [m for m in coupled.members if m not in rows],
                                        [n for n, _ in coupled.producers]))
    else:
        layers = _check_sequential(model)
        kind = L.Linear if granularity == "unit" else L.Conv2d
        for i, layer in enumerate(layers):
            if type(layer) is not kind:
                continue
            group = _structured(layers, i, granularity)
            if group is not None:
                found.append(group)
    if not found:
        what = {"weight": "Linear or Conv2d", "unit": "hidden Linear",
                "filter": "Conv2d"}.get(granularity, "Linear or Conv2d")
        raise ValueError(f"granularity {granularity!r} matches no layer of this model: it needs "
                         f"a {what} layer whose outputs feed another layer")
    return found


def _structured(layers, i, granularity):
    """The group layout of layer i's outputs, or None when it produces the model's output."""
    layer = layers[i]
    name = str(i)
    members = [Member(f"{name}.weight", layer.weight, 0)]
    if layer.bias is not None:
        members.append(Member(f"{name}.bias", layer.bias, 0))
    channels = layer.weight.shape[0]
    flatten = False
    for j in range(i + 1, len(layers)):
        nxt = layers[j]
        if isinstance(nxt, (L.BatchNorm1d, L.BatchNorm2d)):
            members += [Member(f"{j}.weight", nxt.weight, 0), Member(f"{j}.bias", nxt.bias, 0)]
        elif isinstance(nxt, _PASS_THROUGH):
            continue
        elif isinstance(nxt, L.Flatten):
            flatten = True
        elif L.is_weighted(nxt):
            if isinstance(nxt, L.Linear) and (flatten or granularity == "filter"):
                block = nxt.in_features // channels
                if block * channels != nxt.in_features:
                    raise ValueError(f"layer {j} has {nxt.in_features} inputs, not a multiple of "
                                     f"the {channels} channels of layer {i}")
            else:
                block = 1
            members.append(Member(f"{j}.weight", nxt.weight, 1, block))
            return GroupLayer(name, layer, granularity, members)
        else:
            raise TypeError(f"layer {j} ({type(nxt).__name__}) between layer {i} and its "
                            f"consumer is not supported for structured pruning")
    return None                                     # no consumer: the output layer


def chain_only(criterion, layers):
    """Refuse a criterion that reads activations by position in a chain on a network with
    blocks (its groups come from the graph)."""
    if any(layer.producers is not None for layer in layers):
        raise ValueError(f"criterion {criterion!r} reads each group's activation by its place "
                         f"in a chain of layers; on a network with residual blocks or grouped "
                         f"convolutions use magnitude, taylor, snip, obd, lamp, fpgm, bn_scale, "
                         f"sensitivity or random")
