"""Lowering: every layer of a model, once, into what it computes at inference.

A model becomes a list of *ops*, each a plain record of arrays:

- ``Weighted``: ``activation(W x + b)`` - a Linear, or a Conv2d seen as one product per output
  pixel (its weight the (out_channels, kh·kw·C) matrix over im2col's channels-last columns).
  ``W`` is held in the storage chosen for it: a dense array, a ``sparse.CSR``, or 2:4 weights
  in ``sparse.patterns.NM`` (the one pattern with a kernel of its own, ``sparse.sliced.Pairs``);
  masks are baked in, and a BatchNorm or L0 gate right after the layer is folded into it
  (W' = diag(s)·W, b' = s·b + t).
- ``Scale``: x·scale + shift per channel (a BatchNorm or gate with nothing before it to fold
  into);
- ``Pool``, ``GlobalPool``, ``Flatten``, ``Activation``: the layers without weights;
  Dropout is dropped (evaluation mode);
- ``Residual``: the ops of a block's body and of its shortcut (None: the identity), added,
  with the activation after the sum fused into it.

A grouped or depthwise Conv2d is a ``Weighted`` op with ``groups`` > 1: its weight the
(out_channels, kh·kw·C/groups) matrix, each row reading its own group's channels.

The feature-major plan (``infer.fmajor``), the one-call batch-1 chain (``infer.chain``) and any
export are built from these ops; none of them is derived from another. ``lower`` walks the
model's modules one rule per layer kind (``RULES``), then fuses neighbours (``fuse``); a
container of other modules lowers to the ops of its children, a residual block to one
``Residual`` op holding the lowered (and fused) ops of its two branches.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import numpy as np

from ..nn import layers as L
from ..nn.blocks import Residual as ResidualBlock
from ..nn.gates import L0Gate
from ..nn.module import Sequential
from ..prune import patterns
from ..sparse.csr import CSR
from ..sparse.layers import SparseConv2d, SparseLinear
from ..sparse.patterns import NM

ACTIVATIONS = ("ReLU", "Tanh", "Sigmoid")


@dataclass
class Weighted:
    weight: object                 # (out, in) ndarray, CSR, or NM (2:4)
    bias: Optional[np.ndarray]     # (out,) or None
    activation: Optional[str] = None
    conv: Optional[tuple] = None   # (kernel_size, stride, padding) for a convolution
    groups: int = 1                # a grouped convolution's groups

    @property
    def shape(self):
        return self.weight.shape

    @property
    def dtype(self):
        return (self.weight.values if hasattr(self.weight, "values") else self.weight).dtype

    @property
    def dense(self):
        """The weight as a dense (out, in) array (a sparse one densified)."""
        return self.weight if isinstance(self.weight, np.ndarray) else self.weight.to_dense()


@dataclass
class Scale:
    scale: np.ndarray              # (channels,)
    shift: np.ndarray              # (channels,)
    activation: Optional[str] = None


@dataclass
class Pool:
    kind: str                      # "max" or "avg"
    kernel_size: int
    stride: int
    padding: int


@dataclass
class GlobalPool:
    """(n, c, h, w) -> (n, c): the mean of each channel."""


@dataclass
class Residual:
    body: list                     # ops
    shortcut: Optional[list]       # ops, or None for the identity
    activation: Optional[str] = None


@dataclass
class Flatten:
    """(n, ...) -> (n, features): a view, nothing to compute."""


@dataclass
class Activation:
    name: str                      # one of ACTIVATIONS


def lower(model, pattern=None):
    """The ops of ``model`` in evaluation mode (see the module note).

    ``pattern``: None or a parsed ``prune.patterns`` pattern; a Linear or Conv2d whose mask
    obeys it is stored sparse (2:4 as ``NM``, other patterns as CSR), the others dense.
    Raises TypeError naming a layer no rule covers.
    """
    return fuse(_lower_modules(model, pattern, prefix=""))


def _lower_modules(module, pattern, prefix):
    ops = []
    for i, m in enumerate(module):
        rule = next((r for kinds, r in RULES if isinstance(m, kinds)), None)
        if rule is None:
            raise TypeError(f"infer.compile cannot run layer {prefix}{i} ({type(m).__name__}):"
                            f" no inference step for it")
        ops.extend(rule(m, pattern, f"{prefix}{i}."))
    return ops


def fuse(ops):
    """Fold a Scale into the Weighted op before it (when no activation stands between), and
    an Activation into the op before it (when that op has none yet)."""
    out = []
    for op in ops:
        last = out[-1] if out else None
        if isinstance(op, Scale) and isinstance(last, Weighted) and last.activation is None:
            out[-1] = replace(last, weight=scale_rows(last.weight, op.scale),
                              bias=op.shift if last.bias is None
                              else (last.bias * op.scale + op.shift).astype(op.shift.dtype))
        elif (isinstance(op, Activation) and isinstance(last, (Weighted, Scale, Residual))
              and last.activation is None):
            out[-1] = replace(last, activation=op.name)
        else:
            out.append(op)
    return out


def scale_rows(weight, scale):
    """Row r of a weight in any of the storages times scale[r]."""
    if isinstance(weight, np.ndarray):
        return (weight * scale[:, None]).astype(weight.dtype)
    return weight.scaled(scale)


def _baked(p):
    """A parameter's values with its mask applied, as a new array (None stays None)."""
    if p is None:
        return None
    return np.array(p.data if p.mask is None else p.data * p.mask, copy=True)


def _weighted(m, pattern, prefix):
    weight = patterns.as_matrix(_baked(m.weight))
    mask = m.weight.mask
    if (pattern is not None and mask is not None and getattr(m, "groups", 1) == 1
            and patterns.satisfies(mask, pattern)):
        weight = (NM.from_matrix(weight, patterns.as_matrix(mask), pattern)
                  if pattern.name == "2:4"
                  else CSR.from_dense(weight, patterns.as_matrix(mask)))
    return [Weighted(weight, _baked(m.bias), conv=_geometry(m),
                     groups=getattr(m, "groups", 1))]


def _residual(m, pattern, prefix):
    return [Residual(fuse(_lower_modules(m.body, pattern, f"{prefix}body.")),
                     None if m.identity
                     else fuse(_lower_modules(m.shortcut, pattern, f"{prefix}shortcut.")))]


def _sparse(m, pattern, prefix):
    return [Weighted(m.csr(), _baked(m.bias), conv=_geometry(m))]


def _geometry(m):
    return (m.kernel_size, m.stride, m.padding) if isinstance(m, (L.Conv2d, SparseConv2d)) \
        else None


def _batchnorm(m, pattern, prefix):
    """(scale, shift) of a BatchNorm in evaluation mode."""
    dtype = m.running_var.dtype
    weight = _baked(m.weight) if m.weight is not None else np.ones(m.num_features)
    bias = _baked(m.bias) if m.bias is not None else np.zeros(m.num_features)
    scale = weight / np.sqrt(m.running_var + m.eps)
    return [Scale(scale.astype(dtype), (bias - m.running_mean * scale).astype(dtype))]


def _gate(m, pattern, prefix):
    gates = m.deterministic_gates().astype(m.log_alpha.dtype)
    return [Scale(gates, np.zeros_like(gates))]


def _pool(m, pattern, prefix):
    kind = "max" if type(m) is L.MaxPool2d else "avg"      # AvgPool2d derives from it
    return [Pool(kind, m.kernel_size, m.stride, m.padding)]


RULES = (
    ((L.Linear, L.Conv2d), _weighted),
    ((SparseLinear, SparseConv2d), _sparse),
    ((L.BatchNorm1d, L.BatchNorm2d), _batchnorm),
    ((L0Gate,), _gate),
    ((L.ReLU, L.Tanh, L.Sigmoid), lambda m, pattern, prefix: [Activation(type(m).__name__)]),
    ((L.Dropout,), lambda m, pattern, prefix: []),              # evaluation mode: identity
    ((L.Flatten,), lambda m, pattern, prefix: [Flatten()]),
    ((L.MaxPool2d, L.AvgPool2d), _pool),
    ((L.GlobalAvgPool2d,), lambda m, pattern, prefix: [GlobalPool()]),
    ((ResidualBlock,), _residual),
    ((Sequential,), lambda m, pattern, prefix: _lower_modules(m, pattern, prefix)),
)
