"""Module, Parameter (with its pruning mask) and Sequential: the containers of a network."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ..autograd.tensor import Tensor


FUSE = True          # whether Sequential runs fused pairs of layers as one (``fused``)


class Parameter(Tensor):
    """A trainable Tensor. ``mask`` is None or a bool array of its shape: False = pruned."""

    def __init__(self, data, *, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)
        self.mask = None

    def __repr__(self):
        pruned = "" if self.mask is None else f", {int((~self.mask).sum())} pruned"
        return f"Parameter(shape={self.shape}, dtype={self.dtype}{pruned})"


def masked(p):
    """``p`` with its mask acting: pruned entries are zero and pass no gradient."""
    if p is None or p.mask is None:
        return p
    return p * p.mask


@contextmanager
def eval_mode(model):
    """Run the block with ``model`` in evaluation mode, then put its mode back."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


class Module:
    """Base class. Parameters, buffers and sub-modules are found by walking attributes in the
    order they were assigned, so names are dotted paths like PyTorch's (``"0.weight"``)."""

    training = True

    def forward(self, *args):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args):
        return self.forward(*args)

    def fused(self, after):
        """A function computing ``after(self(x))`` in fewer passes over the data, or None
        (``Sequential`` asks each layer about the one after it)."""
        return None

    # --- walking the tree ------------------------------------------------------------------
    def named_modules(self, prefix=""):
        yield prefix, self
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield from value.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self):
        for path, module in self.named_modules():
            for name, value in vars(module).items():
                if isinstance(value, Parameter):
                    yield (f"{path}.{name}" if path else name), value

    def parameters(self):
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name, array):
        """A non-trained array that belongs to the state (e.g. BatchNorm running statistics)."""
        buffers = vars(self).setdefault("_buffers", [])
        if name not in buffers:
            buffers.append(name)
        setattr(self, name, array)

    def named_buffers(self):
        for path, module in self.named_modules():
            for name in vars(module).get("_buffers", ()):
                yield (f"{path}.{name}" if path else name), getattr(module, name)

    # --- modes and gradients ---------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # --- state -----------------------------------------------------------------------------
    def state_dict(self):
        """Parameters and buffers by dotted name, PyTorch's names and layouts (copies)."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update((name, np.array(b, copy=True)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state):
        """Copy arrays into this model exactly as given; every key must be present with the
        right shape. Masks are not touched: they travel with ``prune.get_masks`` /
        ``prune.set_masks`` (``prune.snapshot`` / ``prune.restore`` carry both)."""
        own = dict(self.named_parameters())
        own_buffers = dict(self.named_buffers())
        expected = set(own) | set(own_buffers)
        missing = sorted(expected - set(state))
        unexpected = sorted(set(state) - expected)
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        for name in expected:
            value = np.asarray(state[name])
            target = own[name].data if name in own else own_buffers[name]
            if value.shape != target.shape:
                raise ValueError(f"load_state_dict: {name!r} has shape {value.shape}, the model "
                                 f"expects {target.shape}")
        for name, p in own.items():
            p.data = np.array(state[name], dtype=p.dtype)
        for name, buf in own_buffers.items():
            buf[...] = state[name]

    def config(self):
        """The constructor arguments that rebuild this module (for ``minprune.save``)."""
        return {}

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = [(n, v) for n, v in vars(self).items() if isinstance(v, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another; indexable like a list (``model[0]``)."""

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def __len__(self):
        return sum(1 for v in vars(self).values() if isinstance(v, Module))

    def __getitem__(self, i):
        layers = list(self)
        if isinstance(i, slice):
            return Sequential(*layers[i])
        return layers[i]

    def __iter__(self):
        return (v for v in vars(self).values() if isinstance(v, Module))

    def forward(self, x):
        """Each layer in turn - a pair that one layer ``fused`` with the next runs as one
        (in training BatchNorm and the ReLU after it, and a residual block and the ReLU after
        it: the same result in fewer passes)."""
        layers = list(self)
        i = 0
        while i < len(layers):
            both = FUSE and i + 1 < len(layers) and layers[i].fused(layers[i + 1])
            x = both(x) if both else layers[i](x)
            i += 2 if both else 1
        return x
