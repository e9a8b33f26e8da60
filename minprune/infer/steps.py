"""The steps of an inference plan: each a NumPy or kernel call on plain arrays, with its
output buffer per batch size and its activation fused (see ``infer.plan``)."""
from __future__ import annotations

import numpy as np

from ..autograd.conv import im2col, im2col_transposed
from ..nn import layers as L

ACTIVATIONS = {L.ReLU: lambda y: np.maximum(y, 0, out=y),
               L.Tanh: lambda y: np.tanh(y, out=y),
               L.Sigmoid: lambda y: np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)}
RELU = ACTIVATIONS[L.ReLU]


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
        # the kernels read 16-bit column indices where they suffice: 2 bytes fewer per
        # weight (measured 1-5% faster at batches 1-64 on LeNet-300-100's first layer)
        self.narrow = (csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16
                       else csr.indices)

    def product(self, xt):
        from ..sparse import kernels
        yt = self.buffer((self.shape[0], xt.shape[1]))
        return kernels.matmul(self.indptr, self.narrow, self.values, xt, yt)

    def csr(self):
        from ..sparse.csr import CSR
        return CSR(self.indptr, self.indices, self.values, self.shape)

    def sliced(self):
        """The weights in ``sparse.sliced`` storage, built on the first one-sample call."""
        stored = self.__dict__.get("_sliced")
        if stored is None:
            from ..sparse.sliced import Sliced
            csr = self.csr()
            stored = self._sliced = Sliced.from_csr(csr.indptr, csr.indices, csr.values,
                                                    csr.shape)
        return stored

    def __call__(self, x):
        if len(x) == 1:         # one sample: the sliced kernel, bias and ReLU in the same pass
            y = self.buffer((1, self.shape[0]))
            relu = self.activation is RELU
            self.sliced().product(x[0], y[0], self.bias, relu)
            return y if relu or self.activation is None else self.activation(y)
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

    def csr(self):
        from ..sparse.csr import CSR
        return CSR.from_dense(self.packed.to_dense())

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
        if self.sparse is None:
            cols, _, oh, ow = im2col(x, self.k, self.k, self.stride, self.padding)
            y = np.matmul(cols, self.w2t, out=self.buffer((len(cols), self.out_channels)))
            y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        else:                               # the sparse kernels take the columns transposed
            cols_t, oh, ow = im2col_transposed(x, self.k, self.k, self.stride, self.padding)
            yt = self.sparse.product(cols_t)
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


