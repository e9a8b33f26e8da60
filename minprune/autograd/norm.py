"""Batch normalisation in training as one primitive, with its closed-form backward.

Built from primitives (mean, subtract, square, divide, multiply, add) batch normalisation costs
a dozen passes over the activations forward and as many backward, each allocating - measured,
two fifths of resnet8's training step. As one op it is two passes forward and two backward
(``kernels``), the ReLU that so often follows included when asked (``nn.Sequential`` asks:
no pass of the ReLU's own either way). With M values per channel, x̂ = (x - μ) / σ and
y = γ x̂ + β, the gradients are (Ioffe & Szegedy 2015)

    dβ = Σ g,    dγ = Σ g x̂,    dx = γ / σ · (g - dβ / M - x̂ · dγ / M).

The work is done on a channels-last (M, C) view of the values: a convolution's output is
already stored that way (``conv``), so the view costs no copy and each sum is over rows.
"""
from __future__ import annotations

import numpy as np

from .tensor import Tensor


def _channels_last(a):
    """The (M, C) matrix of an (N, C, ...) array's values, channel axis last: a view when
    the array is stored channels-last (a convolution's output), else a copy."""
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _like(m2, shape):
    """The (N, C, ...) view of an (M, C) channels-last matrix."""
    moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return np.moveaxis(m2.reshape(moved), -1, 1)


def batch_norm_train(x, weight, bias, eps, relu=False):
    """Normalise ``x`` (N, C, ...) by its batch statistics per channel, then scale by
    ``weight`` and shift by ``bias`` (Tensors of shape (C,), or None), then, with ``relu``,
    ReLU in the same pass. Returns the output Tensor and the batch mean and biased variance
    (float64 arrays of shape (C,))."""
    from . import kernels as K  # lazy: Numba loads with the first batch norm in training
    x2 = _channels_last(x.data)
    m, c = x2.shape
    dtype = x2.dtype
    mean, var = K.bn_stats(x2)
    inv = (1.0 / np.sqrt(var + eps)).astype(dtype)
    shift = mean.astype(dtype)
    gamma = np.ones(c, dtype) if weight is None else np.asarray(weight.data, dtype)
    beta = np.zeros(c, dtype) if bias is None else np.asarray(bias.data, dtype)
    scale = gamma * inv
    out = K.bn_apply(x2, shift, scale, beta, relu, np.empty_like(x2))

    def backward(grad):
        g2 = np.ascontiguousarray(_channels_last(grad), dtype=dtype)
        dbeta, dgamma = K.bn_grad_sums(g2, x2, shift, inv, scale, beta, relu)
        dx = None
        if x.requires_grad:
            dx = _like(K.bn_grad_input(g2, x2, shift, inv, scale, beta, relu,
                                       (dbeta / m).astype(dtype), (dgamma / m).astype(dtype),
                                       np.empty_like(g2)), x.shape)
        return ((dx,) + ((dgamma.astype(dtype),) if weight is not None else ())
                + ((dbeta.astype(dtype),) if bias is not None else ()))

    parents = (x,) + tuple(t for t in (weight, bias) if t is not None)
    return Tensor(_like(out, x.shape), parents=parents, backward_fn=backward), mean, var
