"""``compile(model)``: inference as a plan of plain array operations - no Tensors, no graph.

A trained model (masked, ``to_sparse``, compacted, or dense) becomes a list of steps, each a
NumPy or kernel call on arrays: the masks are baked into the weights, BatchNorm is folded into
the Linear or Conv2d before it, activations are fused into the step before them, Dropout is
gone (evaluation mode). ``plan(x)`` returns what ``model(x)`` returns in evaluation mode
(within float rounding). The plan copies the weights when it is compiled: compile again
after the model changes. This is what latency measurements time; training never runs here.
"""
from __future__ import annotations

import math

import numpy as np

from .autograd.conv import im2col, pool
from .nn import layers as L

ACTIVATIONS = {L.ReLU: lambda y: np.maximum(y, 0, out=y),
               L.Tanh: lambda y: np.tanh(y, out=y),
               L.Sigmoid: lambda y: np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)}


class Plan:
    """Call it on an array: ``plan(x)`` -> array. ``steps`` lists what it does, in order."""

    def __init__(self, steps, dtype):
        self.steps, self.dtype = steps, dtype

    def __call__(self, x):
        x = np.asarray(x, dtype=self.dtype)
        for step in self.steps:
            x = step(x)
        return np.array(x)                        # the caller's own array, not a buffer

    def __repr__(self):
        return "Plan(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n)"


class _Buffered:
    """An output buffer per batch size, allocated on the first call of that size (at batch 1
    every microsecond of bookkeeping shows: one dictionary lookup on the common path)."""

    def buffer(self, shape):
        buffers = self.__dict__.get("_buffers")
        if buffers is None:
            buffers = self._buffers = {}
        out = buffers.get(shape)
        if out is None:
            out = buffers[shape] = np.empty(shape, dtype=self.dtype)
        return out


class Dense(_Buffered):
    """y = x Wᵀ + b, then the fused activation."""

    def __init__(self, weight, bias, activation=None):
        self.wt = np.ascontiguousarray(weight.T)
        self.bias, self.activation, self.dtype = bias, activation, weight.dtype

    def __call__(self, x):
        y = np.matmul(x, self.wt, out=self.buffer((len(x), self.wt.shape[1])))
        if self.bias is not None:
            y += self.bias
        return y if self.activation is None else self.activation(y)

    def __repr__(self):
        return f"Dense({self.wt.shape[0]} -> {self.wt.shape[1]}{_act(self.activation)})"


class Sparse(_Buffered):
    """y = x Wᵀ + b with W in CSR (the Numba kernels), then the fused activation."""

    def __init__(self, csr, bias, activation=None):
        self.indptr, self.indices, self.values = csr.indptr, csr.indices, csr.values
        self.shape, self.bias, self.activation = csr.shape, bias, activation
        self.dtype = csr.values.dtype

    def product(self, xt):
        from .sparse import kernels
        yt = self.buffer((self.shape[0], xt.shape[1]))
        return kernels.matmul(self.indptr, self.indices, self.values, xt, yt)

    def vector(self, x, out):
        """out (n_out,) = W @ x for one sample: the matrix-vector kernel, without the checks
        and transposes of the batch path (a fifth of a layer's time at batch 1)."""
        from .sparse.kernels import matvec
        matvec(self.indptr, self.indices, self.values, x, out)

    def __call__(self, x):
        if len(x) == 1:                             # one sample: straight into the buffer
            y = self.buffer((1, self.shape[0]))
            self.vector(np.ascontiguousarray(x[0]), y[0])
        else:
            y = np.ascontiguousarray(self.product(np.ascontiguousarray(x.T)).T)
        if self.bias is not None:
            np.add(y, self.bias, out=y)
        return y if self.activation is None else self.activation(y)

    def __repr__(self):
        return (f"Sparse({self.shape[1]} -> {self.shape[0]}, nnz={len(self.values)}"
                f"{_act(self.activation)})")


class Patterned(Sparse):
    """y = x Wᵀ + b with W stored N:M or in blocks (``sparse.patterns``), then the fused
    activation."""

    def __init__(self, packed, bias, activation=None):
        self.packed, self.shape, self.bias = packed, packed.shape, bias
        self.activation, self.dtype = activation, packed.values.dtype
        self.values = packed.values

    def product(self, xt):
        return self.packed.product(xt, self.buffer((self.shape[0], xt.shape[1])))

    def vector(self, x, out):
        self.packed.product(x[:, None], out[:, None])

    def __repr__(self):
        kind = type(self.packed).__name__
        return (f"Patterned({kind}, {self.shape[1]} -> {self.shape[0]}"
                f"{_act(self.activation)})")


class Conv(_Buffered):
    """Convolution by im2col and one product (dense, CSR when ``csr`` is given, N:M or blocks
    when ``packed`` is)."""

    def __init__(self, weight2d, bias, kernel_size, stride, padding, activation=None,
                 csr=None, packed=None):
        self.w2t = None if weight2d is None else np.ascontiguousarray(weight2d.T)
        self.sparse = (Sparse(csr, None) if csr is not None
                       else Patterned(packed, None) if packed is not None else None)
        self.out_channels = (self.sparse.shape[0] if self.sparse is not None
                             else weight2d.shape[0])
        self.bias, self.activation = bias, activation
        self.k, self.stride, self.padding = kernel_size, stride, padding
        self.dtype = (self.sparse.dtype if self.sparse is not None else weight2d.dtype)

    def __call__(self, x):
        n = len(x)
        cols, _, oh, ow = im2col(x, self.k, self.k, self.stride, self.padding)
        if self.sparse is None:
            y = np.matmul(cols, self.w2t, out=self.buffer((len(cols), self.out_channels)))
            y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        else:
            yt = self.sparse.product(np.ascontiguousarray(cols.T))
            y = yt.reshape(self.out_channels, n, oh, ow).transpose(1, 0, 2, 3)
        if self.bias is not None:
            y += self.bias.reshape(1, -1, 1, 1)
        return y if self.activation is None else self.activation(y)

    def __repr__(self):
        kind = "sparse " if self.sparse is not None else ""
        return f"Conv({kind}{self.out_channels} filters {self.k}x{self.k}{_act(self.activation)})"


class Affine:
    """A BatchNorm (or L0 gate) that has no layer before it to fold into: x·scale + shift per
    channel."""

    def __init__(self, scale, shift, activation=None):
        self.scale, self.shift, self.activation = scale, shift, activation

    def __call__(self, x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = x * self.scale.reshape(shape) + self.shift.reshape(shape)
        return y if self.activation is None else self.activation(y)

    def __repr__(self):
        return f"Affine({len(self.scale)} channels{_act(self.activation)})"


class Function:
    """A step without weights: pooling, flattening, a lone activation."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return self.name


def _act(activation):
    names = {id(fn): cls.__name__ for cls, fn in ACTIVATIONS.items()}
    return "" if activation is None else f", {names[id(activation)]}"


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
    from .prune import patterns
    parsed = patterns.parse(pattern) if pattern is not None else None
    if pattern is not None and parsed is None:
        raise ValueError(f"pattern must be None, N:M (e.g. '2:4') or block:RxC (e.g. "
                         f"'block:1x4'), got {pattern!r}")
    from .nn.gates import L0Gate
    from .nn.module import Sequential
    from .sparse.layers import SparseConv2d, SparseLinear
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
    from .sparse.layers import SparseConv2d, SparseLinear
    if isinstance(m, (SparseLinear, SparseConv2d)):
        return None, _masked(m.bias), m.csr()
    return _masked(m.weight), _masked(m.bias), None


def _scale_rows(csr, scale):
    from .sparse.csr import CSR
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    return CSR(csr.indptr, csr.indices, (csr.values * scale[rows]).astype(csr.values.dtype),
               csr.shape)


def _packed(m, weight, parsed):
    """The N:M or block storage of a masked Linear or Conv2d that obeys ``parsed``, else None."""
    from .prune import patterns
    from .sparse.patterns import from_matrix
    if parsed is None or not isinstance(m, (L.Linear, L.Conv2d)) or m.weight.mask is None:
        return None
    mask = m.weight.mask
    if not patterns.satisfies(mask, parsed):
        return None
    return from_matrix(patterns.as_matrix(weight), patterns.as_matrix(mask), parsed)


def _weighted_step(m, weight, bias, csr, activation, packed=None):
    from .sparse.layers import SparseConv2d, SparseLinear
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
