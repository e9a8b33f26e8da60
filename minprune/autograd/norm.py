"""Batch normalisation in training as one primitive, with its closed-form backward.

Built from primitives (mean, subtract, square, divide, multiply, add) batch normalisation costs
a dozen passes over the activations forward and as many backward, each allocating - measured,
two fifths of resnet8's training step. As one op it is four passes each way. With M values per
channel, x̂ = (x - μ) / σ and y = γ x̂ + β, the gradients are (Ioffe & Szegedy 2015)

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


def batch_norm_train(x, weight, bias, eps):
    """Normalise ``x`` (N, C, ...) by its batch statistics per channel, then scale by
    ``weight`` and shift by ``bias`` (Tensors of shape (C,), or None). Returns the output
    Tensor and the batch mean and biased variance (arrays of shape (C,))."""
    x2 = _channels_last(x.data)
    m = x2.shape[0]
    mean = x2.mean(axis=0)
    xhat = x2 - mean
    var = np.einsum("mc,mc->c", xhat, xhat) / m if m else np.full_like(mean, np.nan)
    inv = (1.0 / np.sqrt(var + eps)).astype(x2.dtype)
    xhat *= inv
    gamma = None if weight is None else weight.data
    out = xhat * gamma if gamma is not None else xhat.copy()
    if bias is not None:
        out += bias.data

    def backward(grad):
        g2 = _channels_last(grad)
        dbeta = g2.sum(axis=0)
        dgamma = np.einsum("mc,mc->c", g2, xhat)
        scale = inv if gamma is None else gamma * inv
        dx = g2 - dbeta / m
        dx -= xhat * (dgamma / m)
        dx *= scale
        return ((_like(dx, x.shape),)
                + ((dgamma.astype(grad.dtype),) if weight is not None else ())
                + ((dbeta,) if bias is not None else ()))

    parents = (x,) + tuple(t for t in (weight, bias) if t is not None)
    return Tensor(_like(out, x.shape), parents=parents, backward_fn=backward), mean, var
