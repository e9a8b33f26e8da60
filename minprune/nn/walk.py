"""Walking a model in forward order through its blocks: every leaf layer by its dotted name
(``"3.body.0"``), and a forward pass that shows each leaf the input it receives.

A chain is a Sequential of layers; a residual network nests Sequentials in ``Residual`` blocks.
Code that needs "each layer and what it sees" (post-training pruning, Wanda's input norms,
the speed panel's positions) walks with these instead of enumerating the top level.
"""
from __future__ import annotations

from .blocks import Residual
from .layers import is_weighted
from .module import Sequential


def named_leaves(model, prefix=""):
    """[(dotted name, layer)] of every layer that is not a container, in forward order (a
    Residual's body before its shortcut)."""
    if isinstance(model, Residual):
        out = named_leaves(model.body, f"{prefix}body.")
        return out + ([] if model.identity else named_leaves(model.shortcut,
                                                             f"{prefix}shortcut."))
    if isinstance(model, Sequential):
        return [leaf for i, m in enumerate(model) for leaf in named_leaves(m, f"{prefix}{i}.")]
    return [(prefix[:-1], model)]


def forward_visiting(model, x, visit=None, prefix="", run=None):
    """``model(x)`` computed leaf by leaf, calling ``visit(name, layer, x)`` with each leaf's
    input just before the leaf runs (the visit may change the layer: what follows sees the
    change). ``x`` is what the layers take (a Tensor); ``run(layer, x)`` applies a leaf
    (default ``layer(x)``; e.g. batch by batch over plain arrays)."""
    if isinstance(model, Residual):
        out = forward_visiting(model.body, x, visit, f"{prefix}body.", run)
        skip = x if model.identity else forward_visiting(model.shortcut, x, visit,
                                                         f"{prefix}shortcut.", run)
        return out + skip
    if isinstance(model, Sequential):
        for i, m in enumerate(model):
            x = forward_visiting(m, x, visit, f"{prefix}{i}.", run)
        return x
    if visit is not None:
        visit(prefix[:-1], model, x)
    return model(x) if run is None else run(model, x)


def has_blocks(model):
    """Whether ``model`` is more than a flat chain: it holds a Residual block or a nested
    Sequential."""
    return any(isinstance(m, (Residual, Sequential)) for m in model.modules()[1:])


def depth(model):
    """The number of Linear and Conv2d layers on the model's longest path, shortcuts left out
    (He et al.'s count: resnet20 is 20 deep)."""
    return sum(1 for name, m in named_leaves(model)
               if is_weighted(m) and ".shortcut." not in f".{name}.")
