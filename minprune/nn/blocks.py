"""Blocks with a shortcut: ``Residual(body, shortcut)`` computes ``body(x) + shortcut(x)``.

The body and the shortcut are Sequentials (the shortcut None: the identity), so a residual
network is still a Sequential of layers and blocks; parameter names are dotted paths through
them (``"3.body.0.weight"``, ``"3.shortcut.0.weight"``), PyTorch's names for the same twin.
"""
from __future__ import annotations

from ..autograd import ops
from .layers import ReLU
from .module import Module, Sequential


class Residual(Module):
    """``body(x) + shortcut(x)``; ``shortcut=None`` adds ``x`` itself (the identity). The
    two branches must produce the same shape."""

    def __init__(self, body, shortcut=None):
        for name, branch in (("body", body), ("shortcut", shortcut)):
            if branch is not None and not isinstance(branch, Sequential):
                raise TypeError(f"Residual: {name} must be a Sequential, got "
                                f"{type(branch).__name__}")
        self.body = body
        if shortcut is not None:
            self.shortcut = shortcut

    @property
    def identity(self):
        """Whether the shortcut is the identity."""
        return "shortcut" not in vars(self)

    def branch(self, x):
        """The shortcut's output for ``x``."""
        return x if self.identity else self.shortcut(x)

    def forward(self, x, relu=False):
        out, skip = self.body(x), self.branch(x)
        if out.shape != skip.shape:
            raise ValueError(f"Residual: the body gives {out.shape} but the shortcut "
                             f"{skip.shape}; give the block a shortcut that matches")
        return ops.add_relu(out, skip) if relu else out + skip

    def fused(self, after):
        """A ReLU after the block runs in the join's pass (``Sequential``)."""
        return (lambda x: self.forward(x, relu=True)) if type(after) is ReLU else None
