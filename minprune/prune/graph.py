"""Coupled channels, derived from a model's structure: which outputs of which layers must be
removed together so that the network still computes.

Each tensor flowing through the model carries a *channel space*: the set of channels its
dimension 1 indexes. A Linear or a Conv2d reads its input's space (its weight's columns,
axis 1) and opens a new space for its outputs (weight rows, bias); a BatchNorm lies in the
space it normalises; activations, pooling and dropout pass it through; a depthwise
convolution keeps it (input channel k makes output channel k: filter k lies in the space);
a Flatten maps channel k to the block of H·W columns it becomes, a global pooling to one
column; a residual addition makes the spaces of its two branches one. Spaces joined this way
are merged (union-find); each merged space whose channels are neither the model's input nor
its output is one *group*: removing channel k removes slice k from every member.

This is the dependency graph of Torch-Pruning (Fang et al. 2023, DepGraph), derived from the
module structure instead of a traced execution; ``tests/test_prune_graph.py`` checks that it
finds the same groups on the torch twins.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.blocks import Residual
from ..nn.module import Sequential, eval_mode

_PASS_THROUGH = (L.ReLU, L.Tanh, L.Sigmoid, L.Dropout, L.MaxPool2d, L.AvgPool2d,
                 L.GlobalAvgPool2d)


@dataclass
class Member:
    """Where group k lies in one parameter: ``param`` sliced along ``axis`` at
    [k·block, (k+1)·block)."""
    name: str
    param: object
    axis: int
    block: int = 1

    def index(self, k):
        sl = [slice(None)] * self.param.ndim
        sl[self.axis] = slice(k * self.block, (k + 1) * self.block)
        return tuple(sl)


@dataclass
class Coupled:
    """One group of coupled channels: its members (``Member``: parameter, axis, block)
    and the layers that produce its channels (Linear / Conv2d names, in forward order)."""
    size: int
    producers: list = field(default_factory=list)   # [(name, module)]
    members: list = field(default_factory=list)
    fixed: bool = False                             # the model's input or output channels


class _Spaces:
    """Union-find over channel spaces."""

    def __init__(self):
        self.parent, self.spaces = [], []

    def new(self, size, fixed=False):
        self.parent.append(len(self.parent))
        self.spaces.append(Coupled(size, fixed=fixed))
        return len(self.parent) - 1

    def find(self, i):
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a, b):
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        keep, gone = (a, b) if a < b else (b, a)
        self.parent[gone] = keep
        kept, merged = self.spaces[keep], self.spaces[gone]
        kept.producers += merged.producers
        kept.members += merged.members
        kept.fixed |= merged.fixed
        return keep

    def get(self, i):
        return self.spaces[self.find(i)]


def coupled_groups(model, input_shape=(1, 1, 28, 28)):
    """The groups of coupled channels of ``model`` that can be pruned, in the order their
    first producer runs. Raises TypeError naming a layer the tracer does not know."""
    spaces = _Spaces()
    order = []

    def member(space, name, param, axis, block=1):
        spaces.get(space).members.append(Member(name, param, axis, block))

    def produce(space, name, module):
        spaces.get(space).producers.append((name, module))
        order.append(space)

    def trace(module, x, flow, prefix):
        space, block = flow
        if isinstance(module, Residual):
            out, body = trace(module.body, x, flow, f"{prefix}body.")
            short, skip = (x, flow) if module.identity else trace(module.shortcut, x, flow,
                                                                  f"{prefix}shortcut.")
            if out.shape != short.shape:
                raise ValueError(f"layer {prefix[:-1]} (Residual): its body gives "
                                 f"{out.shape[1:]} but its shortcut {short.shape[1:]}; the "
                                 f"two branches must match to be added")
            return out + short, (spaces.union(body[0], skip[0]), body[1])
        if isinstance(module, Sequential):
            for i, m in enumerate(module):
                x, flow = trace(m, x, flow, f"{prefix}{i}.")
            return x, flow
        name = prefix[:-1]
        out = module(x)
        if isinstance(module, L.Conv2d) and module.groups != 1:
            if module.groups == module.in_channels == module.out_channels:  # depthwise
                member(space, f"{name}.weight", module.weight, 0)
                if module.bias is not None:
                    member(space, f"{name}.bias", module.bias, 0)
                return out, flow
            spaces.get(space).fixed = True            # other grouped convolutions: not cut
            return out, (spaces.new(module.out_channels, fixed=True), 1)
        if L.is_weighted(module):
            member(space, f"{name}.weight", module.weight, 1, block)
            new = spaces.new(module.weight.shape[0])
            member(new, f"{name}.weight", module.weight, 0)
            if module.bias is not None:
                member(new, f"{name}.bias", module.bias, 0)
            produce(new, name, module)
            return out, (new, 1)
        if isinstance(module, (L.BatchNorm1d, L.BatchNorm2d)):
            member(space, f"{name}.weight", module.weight, 0)
            member(space, f"{name}.bias", module.bias, 0)
            return out, flow
        if isinstance(module, L.Flatten):
            return out, (space, block * int(np.prod(x.shape[2:])) if x.ndim > 2 else block)
        if isinstance(module, _PASS_THROUGH):
            return out, flow
        raise TypeError(f"layer {name} ({type(module).__name__}): minprune cannot tell which "
                        f"channels it couples; structured pruning supports Linear, Conv2d "
                        f"(grouped and depthwise), BatchNorm, activations, pooling, Dropout, "
                        f"Flatten and Residual blocks")

    with eval_mode(model), no_grad():
        x = Tensor(np.zeros(input_shape, dtype=np.float32))
        start = spaces.new(input_shape[1], fixed=True)
        _, (end, _) = trace(model, x, (start, 1), "")
    spaces.get(end).fixed = True
    groups, seen = [], set()
    for space in order:
        root = spaces.find(space)
        if root not in seen:
            seen.add(root)
            if not spaces.get(root).fixed:
                groups.append(spaces.get(root))
    return groups
