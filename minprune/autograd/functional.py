"""Composite functions built from the primitives in ``ops`` and ``conv`` (re-exported here),
and cross-entropy as a primitive of its own."""
from __future__ import annotations

import numpy as np

from . import ops
from .conv import avg_pool2d, conv2d, max_pool2d
from .grouped import conv2d_grouped
from .norm import batch_norm_train
from .ops import as_tensor
from .tensor import Tensor

__all__ = ["linear", "conv2d", "conv2d_grouped", "max_pool2d", "avg_pool2d", "batch_norm",
           "dropout", "relu", "tanh", "sigmoid", "softmax", "log_softmax", "cross_entropy",
           "mse_loss"]

linear, relu, tanh, sigmoid = ops.linear, ops.relu, ops.tanh, ops.sigmoid


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)``, shifted by the (constant) maximum so large logits stay finite."""
    shifted = x - np.max(x.data, axis=axis, keepdims=True)   # the shift cancels in the gradient
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def softmax(x, axis=-1):
    return log_softmax(x, axis).exp()


def cross_entropy(logits, targets):
    """Mean negative log-likelihood of integer class ``targets`` under ``softmax(logits)``.

    logits : Tensor of shape (N, K); targets : int array of shape (N,) with values in [0, K).
    """
    logits = as_tensor(logits)
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if targets.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class labels, got dtype "
                        f"{targets.dtype}; convert with y.astype(np.int64)")
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"({logits.shape[0] if logits.ndim else '?'},), got {targets.shape}")
    if targets.size and (targets.min() < 0 or targets.max() >= logits.shape[1]):
        raise ValueError(f"cross_entropy: targets must lie in [0, {logits.shape[1]}), got values "
                         f"from {targets.min()} to {targets.max()}")
    # one primitive, not the dozen of log_softmax and indexing: its gradient is in closed
    # form, (softmax - one-hot) / N, and a small network's step is mostly such overheads
    z = logits.data
    shifted = z - z.max(axis=1, keepdims=True) if len(z) else z
    e = np.exp(shifted)
    total = e.sum(axis=1)
    n = len(targets)
    rows = np.arange(n)
    loss = (np.log(total) - shifted[rows, targets]).mean() if n else np.array(np.nan)

    def backward(grad):
        d = e / total[:, None]
        d[rows, targets] -= 1.0
        d *= grad / n
        return (d,)
    return Tensor(np.asarray(loss, dtype=z.dtype), parents=(logits,), backward_fn=backward)


def mse_loss(pred, target):
    """Mean squared error over every entry."""
    target = as_tensor(target, pred)
    if pred.shape != target.shape:
        raise ValueError(f"mse_loss: prediction shape {pred.shape} differs from target shape "
                         f"{target.shape}")
    diff = pred - target
    return (diff * diff).mean()


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each entry with probability ``p`` and scale the rest by 1/(1-p) (inverted dropout)."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if not training or p == 0:
        return x
    rng = np.random.default_rng(rng)
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x * keep


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True,
               momentum=0.1, eps=1e-5, *, relu=False):
    """Batch normalisation over every axis but the channel axis 1 (BatchNorm1d and 2d).

    In training the batch statistics normalise and the running ones (NumPy arrays, updated in
    place) move towards them, the variance unbiased as in PyTorch; in evaluation the running
    statistics normalise. ``relu=True``: relu(batch_norm(...)), in training in the same pass.
    """
    x = as_tensor(x)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if training:
        if x.size == 0:              # no statistics to take, and none to corrupt with NaN
            raise ValueError(f"batch_norm in training needs at least one sample, got input of "
                             f"shape {x.shape}")
        weight = None if weight is None else as_tensor(weight, x)
        bias = None if bias is None else as_tensor(bias, x)
        out, mean, var = batch_norm_train(x, weight, bias, eps, relu)
        if running_mean is not None:
            count = x.size // x.shape[1]
            unbiased = var * count / max(count - 1, 1)
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * unbiased
        return out
    out = (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + eps)
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out.relu() if relu else out
