"""The feature-major plan: the lowered ops run on arrays stored features first, batch last -
images (C, H, W, N), vectors (F, N) - so that every weighted op is one product W @ x whose
result is already in place (see ``fm_kernels``). Dense convolutions are im2col and one BLAS
product; sparse and grouped ones run as direct convolutions; fully connected layers chain
without a transpose between them. ``plan(x)`` takes and returns the usual (N, ...) arrays."""
from __future__ import annotations

import math

import numpy as np

from ..sparse.csr import CSR
from ..sparse.kernels import matmul as csr_matmul
from . import fm_kernels as K
from .lower import Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted

NO_BIAS = np.zeros(0, dtype=np.float32)


class _Step:
    """Output buffers per shape (the first call of a shape allocates) and the fused
    activation."""
    activation = None

    def buffer(self, shape, dtype):
        buffers = self.__dict__.setdefault("_buffers", {})
        out = buffers.get(shape)
        if out is None:
            out = buffers[shape] = np.empty(shape, dtype=dtype)
        return out

    def finish(self, y):
        if self.activation is None:
            return y
        if self.activation == "ReLU":
            return np.maximum(y, 0, out=y)
        if self.activation == "Tanh":
            return np.tanh(y, out=y)
        return np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)


def _bias(op):
    return NO_BIAS.astype(op.dtype) if op.bias is None else np.ascontiguousarray(op.bias)


class Conv(_Step):
    """A convolution on (C, H, W, N): dense weights by im2col and one product, sparse (CSR)
    and grouped ones as a direct convolution over their stored weights."""

    def __init__(self, op):
        self.k, self.stride, self.pad = op.conv
        self.bias, self.activation = _bias(op), op.activation
        self.out_channels, self.dtype = op.weight.shape[0], op.dtype
        self.relu = op.activation == "ReLU"
        self.direct = not isinstance(op.weight, np.ndarray) or op.groups != 1
        self.weight, self.groups = op.weight, op.groups
        self._taps = None

    def taps(self, c_in):
        if self._taps is None:
            weight = self.weight
            if self.groups != 1:
                weight = _grouped_as_full(weight, self.groups, self.k, c_in)
            self._taps = K.taps(weight, self.k, c_in)
        return self._taps

    def __call__(self, x):
        c_in, h, w, n = x.shape
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        out = self.buffer((self.out_channels, oh, ow, n), self.dtype)
        if self.direct:
            K.direct_conv(x, *self.taps(c_in), self.bias, self.stride, self.pad,
                          self.relu, out)
            return out if self.relu else self.finish(out)
        cols = K.im2col(x, self.k, self.stride, self.pad,
                        self.buffer((self.k * self.k * c_in, oh * ow * n), self.dtype))
        y = out.reshape(self.out_channels, oh * ow * n)
        np.matmul(self.weight, cols, out=y)
        K.bias_act(y, self.bias, self.relu)
        return out if self.relu else self.finish(out)

    def __repr__(self):
        kind = "direct sparse" if not isinstance(self.weight, np.ndarray) else \
            "direct grouped" if self.groups != 1 else "im2col + GEMM"
        return f"Conv({self.out_channels} filters {self.k}x{self.k}, {kind})"


def _grouped_as_full(weight, groups, k, c_in):
    """A grouped conv's (out, k·k·C/groups) weight as the (out, k·k·C) weight of the same
    convolution, zero outside each filter's group."""
    out_channels, per = weight.shape[0], c_in // groups
    full = np.zeros((out_channels, k * k, c_in), dtype=weight.dtype)
    w = weight.reshape(out_channels, k * k, per)
    per_out = out_channels // groups
    for g in range(groups):
        rows = slice(g * per_out, (g + 1) * per_out)
        full[rows, :, g * per:(g + 1) * per] = w[rows]
    return full.reshape(out_channels, k * k * c_in)


class Linear(_Step):
    """y (out, N) = W @ x (in, N) + b: dense through BLAS, CSR through the CSR kernels."""

    def __init__(self, op):
        self.weight, self.bias, self.activation = op.weight, _bias(op), op.activation
        self.relu, self.dtype = op.activation == "ReLU", op.dtype
        self.sparse = isinstance(op.weight, CSR) or not isinstance(op.weight, np.ndarray)
        if self.sparse:
            csr = op.weight if isinstance(op.weight, CSR) else op.weight.to_csr()
            indices = csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16 else csr.indices
            self.arrays = (csr.indptr, indices, csr.values)
        self.rows = op.weight.shape[0]

    def __call__(self, x):
        y = self.buffer((self.rows, x.shape[1]), self.dtype)
        if self.sparse:
            csr_matmul(*self.arrays, np.ascontiguousarray(x), y)
        else:
            np.matmul(self.weight, x, out=y)
        K.bias_act(y, self.bias, self.relu)
        return y if self.relu else self.finish(y)

    def __repr__(self):
        return f"Linear({'CSR' if self.sparse else 'dense'}, {self.rows} outputs)"


class PoolStep(_Step):
    def __init__(self, op):
        self.k, self.is_max = op.kernel_size, op.kind == "max"
        self.stride = op.kernel_size if op.stride is None else op.stride
        self.pad = op.padding

    def __call__(self, x):
        c, h, w, n = x.shape
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        return K.pool(x, self.k, self.stride, self.pad, self.is_max,
                      self.buffer((c, oh, ow, n), x.dtype))

    def __repr__(self):
        return f"{'Max' if self.is_max else 'Avg'}Pool({self.k})"


class Block(_Step):
    """A residual block: body, shortcut (or the input), added, then the activation."""

    def __init__(self, op):
        self.body = [step(o) for o in op.body]
        self.shortcut = None if op.shortcut is None else [step(o) for o in op.shortcut]
        self.activation = op.activation

    def __call__(self, x):
        y = x
        for s in self.body:
            y = s(y)
        skip = x
        for s in self.shortcut or ():
            skip = s(skip)
        out = self.buffer(y.shape, y.dtype)
        np.add(y, skip, out=out)
        return self.finish(out)

    def __repr__(self):
        return f"Block({len(self.body)} steps, shortcut {len(self.shortcut or ())} steps)"


class Elementwise(_Step):
    """Scale (an unfolded BatchNorm), an activation, Flatten or global pooling."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return self.name


def _scale(op):
    def run(x):
        shape = (-1,) + (1,) * (x.ndim - 1)
        y = x * op.scale.reshape(shape) + op.shift.reshape(shape)
        return _Step.finish(op, y) if op.activation else y
    return run


def step(op):
    """The feature-major step that runs ``op``."""
    if isinstance(op, Weighted):
        return Conv(op) if op.conv is not None else Linear(op)
    if isinstance(op, Pool):
        return PoolStep(op)
    if isinstance(op, Residual):
        return Block(op)
    if isinstance(op, Scale):
        return Elementwise("Scale", _scale(op))
    if isinstance(op, GlobalPool):
        return Elementwise("GlobalAvgPool", lambda x: x.mean(axis=(1, 2)))
    if isinstance(op, Flatten):
        return Elementwise("Flatten", lambda x: x if x.ndim == 2
                           else x.reshape(math.prod(x.shape[:-1]), x.shape[-1]))
    assert isinstance(op, Activation), op
    act = _Step()
    act.activation = op.name
    return Elementwise(op.name, lambda x: act.finish(np.array(x)))


class FeatureMajor:
    """The ops as feature-major steps; call it on (N, C, H, W) or (N, F) arrays."""

    def __init__(self, ops):
        self.steps = [step(op) for op in ops]

    def __call__(self, x):
        x = np.ascontiguousarray(np.moveaxis(x, 0, -1))      # (features..., N)
        for s in self.steps:
            x = s(x)
        return np.ascontiguousarray(np.moveaxis(x, -1, 0))

    def __repr__(self):
        return "FeatureMajor(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n)"
