"""The steps of an inference plan: each op of ``infer.lower`` as a NumPy or kernel call on
plain arrays, with its output buffer per batch size and its activation fused."""
from __future__ import annotations

import math

import numpy as np

from ..autograd.conv import im2col, im2col_transposed, pool
from ..sparse.kernels import matmul as csr_matmul
from ..sparse.csr import CSR
from ..sparse.sliced import Pairs, Sliced
from .lower import Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted

ACTIVATIONS = {"ReLU": lambda y: np.maximum(y, 0, out=y),
               "Tanh": lambda y: np.tanh(y, out=y),
               "Sigmoid": lambda y: np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)}


def step(op, kernels="auto"):
    """The step that runs ``op``; ``kernels``: the batch-1 sparse kernels (``simd.resolve``)."""
    if isinstance(op, Weighted):
        if op.groups != 1:
            return GroupedConv(op)
        if op.conv is not None:
            return Conv(op, kernels)
        return Dense(op) if isinstance(op.weight, np.ndarray) else Sparse(op, kernels)
    if isinstance(op, Scale):
        return Affine(op)
    if isinstance(op, Pool):
        return Function(f"{'Max' if op.kind == 'max' else 'Avg'}Pool2d({op.kernel_size})",
                        lambda x: pool(x, op.kernel_size, op.stride, op.padding, op.kind))
    if isinstance(op, Residual):
        return Block(op, kernels)
    if isinstance(op, GlobalPool):
        return Function("GlobalAvgPool2d", lambda x: x.mean(axis=(2, 3)))
    if isinstance(op, Flatten):
        return Function("Flatten", lambda x: x if x.ndim == 2
                        else x.reshape(len(x), math.prod(x.shape[1:])))
    assert isinstance(op, Activation), op
    fn = ACTIVATIONS[op.name]
    return Function(op.name, lambda x: fn(np.array(x)))


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

    def finish(self, y):
        """The fused activation, in place."""
        return y if self.activation is None else ACTIVATIONS[self.activation](y)


class Dense(_Buffered):
    """y = x Wᵀ + b, then the fused activation (BLAS reads Wᵀ as a transposed view)."""

    def __init__(self, op):
        self.wt, self.bias, self.activation = op.weight.T, op.bias, op.activation
        self.dtype = op.weight.dtype

    def __call__(self, x):
        y = np.matmul(x, self.wt, out=self.buffer((len(x), self.wt.shape[1])))
        if self.bias is not None:
            y += self.bias
        return self.finish(y)

    def __repr__(self):
        return f"Dense({self.wt.shape[0]} -> {self.wt.shape[1]}{_act(self.activation)})"


class Sparse(_Buffered):
    """y = x Wᵀ + b with W sparse, then the fused activation: a batch through the CSR kernels,
    one sample through the storage's own one-sample kernel (``Sliced`` for CSR, ``Pairs`` for
    2:4), each built from the op's weight the first time it is needed."""

    def __init__(self, op, kernels="auto"):
        self.weight, self.bias, self.activation = op.weight, op.bias, op.activation
        self.shape, self.dtype, self.kernels = op.weight.shape, op.dtype, kernels

    def product(self, xt):
        """yt (rows, batch) = W @ xt, into this step's buffer."""
        indptr, indices, values = self._csr()
        yt = self.buffer((self.shape[0], xt.shape[1]))
        return csr_matmul(indptr, indices, values, xt, yt)

    def _csr(self):
        """The CSR arrays the batch kernels read (built on the first batch)."""
        arrays = self.__dict__.get("_arrays")
        if arrays is None:
            csr = self.weight if isinstance(self.weight, CSR) else self.weight.to_csr()
            # 16-bit column indices where they suffice: 2 bytes fewer to read a weight
            indices = csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16 else csr.indices
            arrays = self._arrays = (csr.indptr, indices, csr.values)
        return arrays

    def one_sample(self):
        """The weights in their one-sample storage (built on the first one-sample call)."""
        stored = self.__dict__.get("_one")
        if stored is None:
            w = self.weight
            stored = self._one = (Pairs.from_nm(w) if not isinstance(w, CSR)
                                  else Sliced.from_csr(w.indptr, w.indices, w.values, w.shape))
        return stored

    def __call__(self, x):
        if len(x) == 1:          # one sample: its own kernel, bias and ReLU in the same pass
            y = self.buffer((1, self.shape[0]))
            relu = self.activation == "ReLU"
            self.one_sample().product(x[0], y[0], self.bias, relu, self.kernels)
            return y if relu else self.finish(y)
        y = np.ascontiguousarray(self.product(np.ascontiguousarray(x.T)).T)
        if self.bias is not None:
            np.add(y, self.bias, out=y)
        return self.finish(y)

    def __repr__(self):
        kind = "CSR" if isinstance(self.weight, CSR) else "2:4"
        stored = self.weight.nnz if isinstance(self.weight, CSR) else np.count_nonzero(
            self.weight.values)
        density = stored / max(1, self.shape[0] * self.shape[1])
        return (f"Sparse({self.shape[1]} -> {self.shape[0]}, {kind}, nnz={stored}, "
                f"{1 - density:.0%} sparse{_act(self.activation)})")


class Conv(_Buffered):
    """Convolution by im2col and one product: dense through BLAS, sparse through the CSR
    kernels (which take the columns transposed)."""

    def __init__(self, op, kernels="auto"):
        self.k, self.stride, self.padding = op.conv
        dense = isinstance(op.weight, np.ndarray)
        self.w2t = op.weight.T if dense else None
        self.sparse = None if dense else Sparse(Weighted(op.weight, None), kernels)
        self.out_channels = op.weight.shape[0]
        self.bias, self.activation, self.dtype = op.bias, op.activation, op.dtype

    def __call__(self, x):
        n = len(x)
        if self.sparse is None:
            cols, _, oh, ow = im2col(x, self.k, self.k, self.stride, self.padding)
            y = np.matmul(cols, self.w2t, out=self.buffer((len(cols), self.out_channels)))
            y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        else:
            cols_t, oh, ow = im2col_transposed(x, self.k, self.k, self.stride, self.padding)
            yt = self.sparse.product(cols_t)
            y = yt.reshape(self.out_channels, n, oh, ow).transpose(1, 0, 2, 3)
        if self.bias is not None:
            y += self.bias.reshape(1, -1, 1, 1)
        return self.finish(y)

    def __repr__(self):
        kind = "sparse " if self.sparse is not None else ""
        return f"Conv({kind}{self.out_channels} filters {self.k}x{self.k}{_act(self.activation)})"


class GroupedConv(_Buffered):
    """A grouped (or depthwise) convolution: im2col, then each group's filters against its
    own channels in one ``einsum``."""

    def __init__(self, op):
        self.k, self.stride, self.padding = op.conv
        self.groups, self.out_channels = op.groups, op.weight.shape[0]
        per = op.weight.shape[1] // (self.k * self.k)             # channels per group
        self.per = per
        self.filters = np.ascontiguousarray(op.weight.reshape(
            self.groups, self.out_channels // self.groups, self.k * self.k, per))
        self.bias, self.activation, self.dtype = op.bias, op.activation, op.dtype

    def __call__(self, x):
        n = len(x)
        cols, _, oh, ow = im2col(x, self.k, self.k, self.stride, self.padding)
        fields = cols.reshape(len(cols), self.k * self.k, self.groups, self.per)
        y = np.einsum("ptgc,gotc->pgo", fields, self.filters, optimize=True)
        y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        if self.bias is not None:
            y += self.bias.reshape(1, -1, 1, 1)
        return self.finish(y)

    def __repr__(self):
        return (f"GroupedConv({self.out_channels} filters {self.k}x{self.k}, "
                f"{self.groups} groups{_act(self.activation)})")


class Block:
    """A residual block: its body's steps and its shortcut's (or the input itself), added,
    then the fused activation."""

    def __init__(self, op, kernels="auto"):
        self.body = [step(o, kernels) for o in op.body]
        self.shortcut = None if op.shortcut is None else [step(o, kernels)
                                                           for o in op.shortcut]
        self.activation = op.activation

    def __call__(self, x):
        y = x
        for s in self.body:
            y = s(y)
        skip = x
        for s in self.shortcut or ():
            skip = s(skip)
        y = y + skip
        return y if self.activation is None else ACTIVATIONS[self.activation](y)

    def __repr__(self):
        inner = ", ".join(map(repr, self.body))
        short = "identity" if self.shortcut is None else ", ".join(map(repr, self.shortcut))
        return f"Residual([{inner}] + [{short}]{_act(self.activation)})"


class Affine:
    """x·scale + shift per channel (a BatchNorm or gate with nothing to fold into)."""

    def __init__(self, op):
        self.scale, self.shift, self.activation = op.scale, op.shift, op.activation

    def __call__(self, x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        y = x * self.scale.reshape(shape) + self.shift.reshape(shape)
        return y if self.activation is None else ACTIVATIONS[self.activation](y)

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
    return "" if activation is None else f", {activation}"
