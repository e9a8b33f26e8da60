"""``compile(model)``: inference as a plan of plain array operations - no Tensors, no graph.

A trained model (masked, ``to_sparse``, compacted, or dense) becomes a list of steps, each a
NumPy or kernel call on arrays: the masks are baked into the weights, BatchNorm is folded into
the Linear or Conv2d before it, activations are fused into the step before them, Dropout is
gone (evaluation mode). ``plan(x)`` returns what ``model(x)`` returns in evaluation mode
(within float rounding). A plan of fully connected steps also gets a ``chain``
(``infer.chain``) that runs one sample through all of them in one compiled call. The plan
copies the weights when it is compiled: compile again after the model changes. This is what
latency measurements time; training never runs here.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.conv import pool
from ..nn import layers as L
from .steps import ACTIVATIONS, RELU, Affine, Conv, Dense, Function, Patterned, Sparse


class Plan:
    """Call it on an array: ``plan(x)`` -> array. ``steps`` lists what it does, in order;
    ``chain``, when the steps are all fully connected, runs one sample in one call
    (``infer.chain``)."""

    def __init__(self, steps, dtype):
        self.steps, self.dtype = steps, dtype
        self.chain, self.flattens = _chain(steps, dtype)

    def __call__(self, x):
        chain = self.chain
        x = np.asarray(x, dtype=self.dtype) if chain is None else np.ascontiguousarray(
            x, dtype=self.dtype)
        if chain is not None and len(x) == 1 and (self.flattens or x.shape == chain.in_shape):
            return chain(x)
        for step in self.steps:
            x = step(x)
        return np.array(x)                        # the caller's own array, not a buffer

    def __repr__(self):
        chain = "" if self.chain is None else f"  one sample, in one call: {self.chain!r}\n"
        return "Plan(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n" + chain + ")"


def _chain(steps, dtype):
    """(the ``Chain`` of a plan of fully connected steps with ReLU or no activation, whether it
    starts by flattening), or (None, False) for any other plan."""
    from ..sparse.patterns import NM
    from .chain import Chain
    flattens = bool(steps) and isinstance(steps[0], Function) and steps[0].name == "Flatten"
    weighted = steps[1:] if flattens else steps
    if not weighted or any(type(s) not in (Dense, Sparse, Patterned)
                           or s.activation not in (None, RELU) for s in weighted):
        return None, False
    layers = []
    for s in weighted:
        weight = (s.wt.T if isinstance(s, Dense)
                  else s.packed if isinstance(s, Patterned) and isinstance(s.packed, NM)
                  else s.csr())
        layers.append((weight, s.bias, s.activation is RELU))
    return Chain(layers, dtype), flattens


def _masked(p):
    if p is None:
        return None
    data = p.data if p.mask is None else p.data * p.mask
    return np.array(data, copy=True)


def _batchnorm(m):
    """(scale, shift) of a BatchNorm in evaluation mode."""
    scale = _masked(m.weight) if m.weight is not None else np.ones(m.num_features)
    shift = _masked(m.bias) if m.bias is not None else np.zeros(m.num_features)
    scale = scale / np.sqrt(m.running_var + m.eps)
    return scale.astype(m.running_var.dtype), (shift - m.running_mean * scale).astype(
        m.running_var.dtype)


def compile(model, pattern=None):
    """The inference plan of a Sequential ``model`` (see the module docstring).

    ``pattern``: None, or a pattern granularity ("2:4", "block:1x4", ...): every Linear and
    Conv2d whose mask obeys it runs on the pattern's kernel (``sparse.patterns``); the others
    stay dense. Covers every layer of ``minprune.nn`` and ``minprune.sparse``; anything else is
    refused with a TypeError naming it.
    """
    from ..prune import patterns
    parsed = patterns.parse(pattern) if pattern is not None else None
    if pattern is not None and parsed is None:
        raise ValueError(f"pattern must be None, N:M (e.g. '2:4') or block:RxC (e.g. "
                         f"'block:1x4'), got {pattern!r}")
    from ..nn.gates import L0Gate
    from ..nn.module import Sequential
    from ..sparse.layers import SparseConv2d, SparseLinear
    if not isinstance(model, Sequential):
        raise TypeError(f"infer.compile takes a Sequential model, got {type(model).__name__}")
    steps, dtype = [], None
    layers = list(model)
    i = 0
    while i < len(layers):
        m = layers[i]
        i += 1
        if isinstance(m, (L.Linear, L.Conv2d, SparseLinear, SparseConv2d)):
            weight, bias, csr = _weights(m)
            packed = _packed(m, weight, parsed)
            # fold a BatchNorm that follows: W' = W·s, b' = b·s + t
            if i < len(layers) and isinstance(layers[i], (L.BatchNorm1d, L.BatchNorm2d)):
                scale, shift = _batchnorm(layers[i])
                i += 1
                if csr is not None:
                    csr = _scale_rows(csr, scale)
                elif packed is not None:
                    packed = packed.scaled(scale)
                else:
                    weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
                bias = shift if bias is None else bias * scale + shift
            activation = None
            if i < len(layers) and type(layers[i]) in ACTIVATIONS:
                activation = ACTIVATIONS[type(layers[i])]
                i += 1
            dtype = dtype or (csr.values.dtype if csr is not None else weight.dtype)
            steps.append(_weighted_step(m, weight, bias, csr, activation, packed))
        elif isinstance(m, (L.BatchNorm1d, L.BatchNorm2d)):
            steps.append(Affine(*_batchnorm(m)))
        elif isinstance(m, L0Gate):
            gates = m.deterministic_gates().astype(m.log_alpha.dtype)
            steps.append(Affine(gates, np.zeros_like(gates)))
        elif type(m) in ACTIVATIONS:
            fn = ACTIVATIONS[type(m)]
            steps.append(Function(type(m).__name__, lambda x, fn=fn: fn(np.array(x))))
        elif isinstance(m, L.Dropout):
            continue                                # evaluation mode: the identity
        elif isinstance(m, L.Flatten):
            steps.append(Function("Flatten", lambda x: x if x.ndim == 2
                                  else x.reshape(len(x), math.prod(x.shape[1:]))))
        elif isinstance(m, (L.MaxPool2d, L.AvgPool2d)):
            kind = "max" if type(m) is L.MaxPool2d else "avg"
            steps.append(Function(f"{type(m).__name__}({m.kernel_size})",
                                  lambda x, m=m, kind=kind: pool(x, m.kernel_size, m.stride,
                                                                 m.padding, kind)))
        else:
            raise TypeError(f"infer.compile cannot run layer {i - 1} "
                            f"({type(m).__name__}): no inference step for it")
    return Plan(steps, dtype or np.float32)


def _weights(m):
    """(dense weight or None, bias, CSR or None) of a weighted layer, masks baked in."""
    from ..sparse.layers import SparseConv2d, SparseLinear
    if isinstance(m, (SparseLinear, SparseConv2d)):
        return None, _masked(m.bias), m.csr()
    return _masked(m.weight), _masked(m.bias), None


def _scale_rows(csr, scale):
    from ..sparse.csr import CSR
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    return CSR(csr.indptr, csr.indices, (csr.values * scale[rows]).astype(csr.values.dtype),
               csr.shape)


def _packed(m, weight, parsed):
    """The N:M or block storage of a masked Linear or Conv2d that obeys ``parsed``, else None."""
    from ..prune import patterns
    from ..sparse.patterns import from_matrix
    if parsed is None or not isinstance(m, (L.Linear, L.Conv2d)) or m.weight.mask is None:
        return None
    mask = m.weight.mask
    if not patterns.satisfies(mask, parsed):
        return None
    return from_matrix(patterns.as_matrix(weight), patterns.as_matrix(mask), parsed)


def _weighted_step(m, weight, bias, csr, activation, packed=None):
    from ..sparse.layers import SparseConv2d, SparseLinear
    if isinstance(m, L.Linear):
        return (Dense(weight, bias, activation) if packed is None
                else Patterned(packed, bias, activation))
    if isinstance(m, SparseLinear):
        return Sparse(csr, bias, activation)
    k = m.kernel_size
    if isinstance(m, L.Conv2d):
        if packed is not None:
            return Conv(None, bias, k, m.stride, m.padding, activation, packed=packed)
        w2 = weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)   # columns (kh, kw, C)
        return Conv(w2, bias, k, m.stride, m.padding, activation)
    assert isinstance(m, SparseConv2d)
    return Conv(None, bias, k, m.stride, m.padding, activation, csr=csr)
