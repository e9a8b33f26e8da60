"""SparseLinear and SparseConv2d: layers whose weights are CSR matrices, run by the kernels,
taking part in autograd; ``to_sparse(model)`` swaps them in for pruned layers.

A sparse layer's trainable weights are the stored values only (``values``, shape (nnz,)): an
optimizer step updates exactly the surviving weights and the pattern never changes, which is
the same trajectory as training the masked dense layer.
"""
from __future__ import annotations

import copy

import numpy as np

from ..autograd.conv import _out_size
from ..autograd.columns import col2im_fm, im2col as im2col_fm
from ..autograd.tensor import Tensor
from ..nn import layers as L
from ..nn.blocks import Residual
from ..nn.module import Module, Parameter, Sequential
from .. import vec
from . import conv_tiles, kernels
from .csr import CSR


class _SparseWeight(Module):
    """Shared plumbing: the CSR pattern, the trainable values and the transposed pattern."""

    def _setup(self, csr, bias):
        self.shape = csr.shape
        self.indptr, self.indices = csr.indptr, csr.indices
        self.values = Parameter(csr.values.copy())
        self.bias = None if bias is None else Parameter(np.array(bias, copy=True))
        transposed, self._perm = csr.transpose()
        self._t_indptr, self._t_indices = transposed.indptr, transposed.indices

    @property
    def nnz(self):
        return len(self.values.data)

    def csr(self):
        return CSR(self.indptr, self.indices, self.values.data.copy(), self.shape)

    def _product(self, xt_tensor_parents, xt):
        """Yt = W @ xt with its backward: (Yt array, backward(gt) -> (dxt, dvalues))."""
        values = self.values.data
        yt = np.empty((self.shape[0], xt.shape[1]), dtype=values.dtype)
        kernels.matmul(self.indptr, self.indices, values, xt, yt)
        return yt, lambda gt: self._grads(xt_tensor_parents, xt, gt)

    def _grads(self, want_dxt, xt, gt):
        """(dxt (None unless ``want_dxt``), dvalues) of Yt = W @ xt for Yt's gradient gt."""
        values = self.values.data
        gt = np.ascontiguousarray(gt, dtype=values.dtype)
        dvalues = kernels.sddmm(self.indptr, self.indices, gt, xt, np.empty_like(values))
        dxt = None
        if want_dxt:                                   # dX = dY W, via Wᵀ in CSR
            dxt = np.empty((self.shape[1], gt.shape[1]), dtype=values.dtype)
            kernels.matmul(self._t_indptr, self._t_indices, values[self._perm], gt, dxt)
        return dxt, dvalues


class SparseLinear(_SparseWeight):
    """``y = x Wᵀ + b`` with W (out_features x in_features) in CSR. x: (N, in) -> (N, out)."""

    def __init__(self, csr, bias=None):
        self._setup(csr, bias)
        self.out_features, self.in_features = csr.shape

    @classmethod
    def from_linear(cls, layer):
        return cls(CSR.from_parameter(layer.weight),
                   None if layer.bias is None else layer.bias.data)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.values.dtype)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"SparseLinear expects input of shape (N, {self.in_features}), "
                             f"got {x.shape}")
        xt = np.ascontiguousarray(x.data.T, dtype=self.values.dtype)   # (in, N): no copy
        yt, product_backward = self._product(x.requires_grad, xt)      # after another sparse
        out = yt.T                                                     # layer
        if self.bias is not None:
            out = out + self.bias.data
        bias = self.bias

        def backward(grad):
            dxt, dvalues = product_backward(grad.T)
            grads = (None if dxt is None else dxt.T, dvalues)
            return grads + ((grad.sum(axis=0),) if bias is not None else ())
        parents = (x, self.values) + ((bias,) if bias is not None else ())
        return Tensor(out, parents=parents, backward_fn=backward)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, nnz={self.nnz}"


class SparseConv2d(_SparseWeight):
    """Convolution whose filters, flattened as (out, kh·kw·in), are a CSR matrix: from a
    register of samples on, the stored weights' register tiles (``conv_tiles``) run the
    forward; below it, and for the weights' gradient, the feature-major im2col
    (``autograd.columns.im2col``, which the inference plan uses too) feeds the CSR kernels,
    and its adjoint (``col2im_fm``) folds the columns' gradient back."""

    def __init__(self, csr, kernel_size, in_channels, stride=1, padding=0, bias=None):
        self._setup(csr, bias)
        self.kernel_size, self.in_channels = kernel_size, in_channels
        self.out_channels = csr.shape[0]
        self.stride, self.padding = stride, padding

    @classmethod
    def from_conv(cls, layer):
        return cls(CSR.from_parameter(layer.weight), layer.kernel_size, layer.in_channels,
                   layer.stride, layer.padding, None if layer.bias is None else layer.bias.data)

    def forward(self, x):
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.values.dtype)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"SparseConv2d expects input of shape (N, {self.in_channels}, H, W),"
                             f" got {x.shape}")
        n, c, h, w = x.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        oh = _out_size(h, k, s, p, "SparseConv2d")
        ow = _out_size(w, k, s, p, "SparseConv2d")
        dtype = self.values.dtype
        # feature-major (C, H, W, N): the columns come out as the (k·k·C, OH·OW·N) matrix the
        # CSR kernels multiply, and the product is the output, stored (OC, OH, OW, N)
        xf = np.ascontiguousarray(np.moveaxis(x.data, 0, -1), dtype=dtype)

        def columns():
            colst = kernels.padded_rows(k * k * c, oh * ow * n, dtype)   # (see its note)
            im2col_fm(xf, k, s, p, colst.base)
            return colst
        if n >= vec.lanes(dtype):          # the stored weights' register tiles, no columns
            yt = self._tiles(xf, oh, ow)
            cols = None                    # (made in the backward, for the weights' gradient)
        else:
            cols = columns()
            yt = self._product(x.requires_grad, cols)[0]
        out = np.moveaxis(yt.reshape(self.out_channels, oh, ow, n), -1, 0)
        if self.bias is not None:
            out = out + self.bias.data[:, None, None]
        bias = self.bias

        def backward(grad):
            gt = np.ascontiguousarray(np.moveaxis(grad, 0, -1)).reshape(self.out_channels, -1)
            dcolst, dvalues = self._grads(x.requires_grad, cols if cols is not None
                                          else columns(), gt)
            dx = None
            if dcolst is not None:
                dx = np.moveaxis(col2im_fm(dcolst, k, s, p, np.zeros_like(xf)), -1, 0)
            grads = (dx, dvalues)
            return grads + ((grad.sum(axis=(0, 2, 3)),) if bias is not None else ())
        parents = (x, self.values) + ((bias,) if bias is not None else ())
        return Tensor(out, parents=parents, backward_fn=backward)

    def _tiles(self, xf, oh, ow):
        """The convolution of the feature-major batch xf (C, H, W, N) by the stored weights
        in register tiles of samples, in groups of input channels (``conv_tiles``): (OC, OH,
        OW, N). LeNet-5's second convolution at 90% (global) and batch 64: some 0.6 ms,
        against 2 ms for the CSR product over the columns."""
        p, dtype = self.padding, self.values.dtype
        xp = np.pad(xf, ((0, 0), (p, p), (p, p), (0, 0))) if p else xf
        groups = self.__dict__.setdefault("_groups", {})     # input shape -> the grouping
        if xp.shape not in groups:
            groups[xp.shape] = conv_tiles.grouped_entries(self.indptr, self.indices,
                                                          self.kernel_size, xp.shape,
                                                          self.stride, xp.dtype)
        indptr2, offsets, order = groups[xp.shape]
        yt = np.empty((self.out_channels, oh, ow, xf.shape[-1]), dtype)
        return conv_tiles.conv_sparse_groups(xp, indptr2, offsets, self.values.data[order],
                                             np.zeros(0, dtype), self.stride, False, yt)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"nnz={self.nnz}")


def to_sparse(model, min_sparsity=0.5):
    """A copy of ``model`` whose Linear and Conv2d layers with weight sparsity >= min_sparsity
    (by mask, or by zeros when unmasked) run on CSR kernels, inside residual blocks too
    (grouped convolutions stay dense). The input model is not changed."""
    if not isinstance(model, Sequential):
        raise TypeError(f"to_sparse takes a Sequential model, got {type(model).__name__}")
    if not 0 <= min_sparsity <= 1:
        raise ValueError(f"min_sparsity must be in [0, 1], got {min_sparsity!r}")
    layers = []
    for layer in model:
        if isinstance(layer, Residual):
            layers.append(Residual(to_sparse(layer.body, min_sparsity), None if layer.identity
                                   else to_sparse(layer.shortcut, min_sparsity)))
            continue
        if isinstance(layer, Sequential):
            layers.append(to_sparse(layer, min_sparsity))
            continue
        if L.is_weighted(layer) and getattr(layer, "groups", 1) == 1:
            w = layer.weight
            kept = w.mask if w.mask is not None else w.data != 0
            if 1 - kept.mean() >= min_sparsity:
                layers.append(SparseLinear.from_linear(layer) if isinstance(layer, L.Linear)
                              else SparseConv2d.from_conv(layer))
                continue
        layers.append(copy.deepcopy(layer))
    sparse = Sequential(*layers)
    sparse.train(model.training)
    return sparse
