"""Differentiable primitives: each forward with the calculus of its local backward beside it.

A backward receives dL/d(output) and returns one gradient per parent, in the output's
broadcast shape; the engine sums them back to each parent's shape.
"""
from __future__ import annotations

import numpy as np

from .. import threads
from .tensor import Tensor


def as_tensor(x, like=None):
    """Wrap a constant so it can meet a Tensor; constants take ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x, dtype=None if like is None else like.dtype)


def _pair(a, b):
    if isinstance(a, Tensor):
        return a, as_tensor(b, a)
    b = as_tensor(b)
    return as_tensor(a, b), b


# --- arithmetic ---------------------------------------------------------------------------

def add(a, b):
    a, b = _pair(a, b)
    def backward(grad):
        return grad, grad                                   # d(a+b) = da + db
    return Tensor(a.data + b.data, parents=(a, b), backward_fn=backward)


def sub(a, b):
    a, b = _pair(a, b)
    def backward(grad):
        return grad, -grad
    return Tensor(a.data - b.data, parents=(a, b), backward_fn=backward)


def mul(a, b):
    a, b = _pair(a, b)
    def backward(grad):
        return grad * b.data, grad * a.data                 # product rule
    return Tensor(a.data * b.data, parents=(a, b), backward_fn=backward)


def div(a, b):
    a, b = _pair(a, b)
    def backward(grad):
        return grad / b.data, -grad * a.data / (b.data * b.data)   # d(a/b) = da/b - a db/b²
    return Tensor(a.data / b.data, parents=(a, b), backward_fn=backward)


def neg(a):
    def backward(grad):
        return (-grad,)
    return Tensor(-a.data, parents=(a,), backward_fn=backward)


def pow(a, exponent):
    """``a ** exponent`` for a constant exponent (the common case: squares, roots)."""
    if isinstance(exponent, Tensor):
        return exp(mul(exponent, log(a)))                   # a^b = exp(b log a)
    exponent = float(exponent)
    def backward(grad):
        return (grad * exponent * a.data ** (exponent - 1),)
    return Tensor(a.data ** exponent, parents=(a,), backward_fn=backward)


def matmul(a, b):
    a, b = _pair(a, b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"matmul takes 2-D operands, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul shape mismatch: {a.shape} @ {b.shape} "
                         f"(inner dimensions {a.shape[1]} and {b.shape[0]} differ)")
    def backward(grad):                                     # dL/dA = G Bᵀ,  dL/dB = Aᵀ G
        return (grad @ b.data.T if a.requires_grad else None,
                a.data.T @ grad if b.requires_grad else None)
    return Tensor(a.data @ b.data, parents=(a, b), backward_fn=backward)


TILES = True            # the forward in register tiles where they fit (``linear_tiles``)
_linear_tiles = None    # the module, imported on first use (Numba loads with it)


def _forward(x, w, b):
    """x Wᵀ + b as the transposed view of (W xᵀ + b): in the register tiles of
    ``linear_tiles`` (a batch of whole registers, up to 128, W's and x's dtype one of float32
    and float64, BLAS on one thread: they run on one), by BLAS otherwise."""
    n = len(x)
    if (TILES and x.dtype == w.dtype and (b is None or b.dtype == w.dtype)
            and w.flags.c_contiguous and (threads.asked() or 1) == 1):
        tiles = _tiles()
        if tiles.fits(n, x.dtype):
            bias = np.zeros(0, x.dtype) if b is None else b
            out = np.empty((len(w), n), x.dtype)
            return tiles.linear_tiles(np.ascontiguousarray(x.T), w, bias, out).T
    out = (w @ x.T).T
    if b is not None:
        out += b
    return out


def _tiles():
    global _linear_tiles
    if _linear_tiles is None:
        from . import linear_tiles  # lazy: Numba loads on first use
        _linear_tiles = linear_tiles
    return _linear_tiles


def linear(x, w, b=None):
    """``x @ wᵀ + b`` as one primitive: the workhorse of every MLP, so its gradients are
    produced directly in the parameters' layouts (no transposed copies). The output and the
    input's gradient are computed as (W xᵀ)ᵀ and (Wᵀ Gᵀ)ᵀ - transposed views of
    feature-major products, the orientation OpenBLAS runs fastest (LeNet-300-100's first
    layer at batch 64: 320 us against 398 us for x Wᵀ) and the register tiles take
    (``_forward``) - so activations and their gradients keep one layout from layer to layer.

    x : (N, in), w : (out, in), b : (out,) or None -> (N, out).
    """
    x, w = _pair(x, w)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} does not fit a weight of shape "
                         f"{w.shape} (expected (N, {w.shape[-1]}))")
    b = None if b is None else as_tensor(b, w)
    out = _forward(x.data, w.data, None if b is None else b.data)
    def backward(grad):                                     # y = x Wᵀ + b
        return (((w.data.T @ grad.T).T if x.requires_grad else None,   # dL/dx = G W
                 grad.T @ x.data)                              # dL/dW = Gᵀ x
                + ((grad.sum(axis=0),) if b is not None else ()))   # dL/db = Σ_n G
    return Tensor(out, parents=(x, w) if b is None else (x, w, b), backward_fn=backward)


# --- elementwise functions ----------------------------------------------------------------

def exp(a):
    out = np.exp(a.data)
    def backward(grad):
        return (grad * out,)                                # (eˣ)' = eˣ
    return Tensor(out, parents=(a,), backward_fn=backward)


def log(a):
    def backward(grad):
        return (grad / a.data,)
    return Tensor(np.log(a.data), parents=(a,), backward_fn=backward)


def sqrt(a):
    out = np.sqrt(a.data)
    def backward(grad):
        return (grad / (2 * out),)
    return Tensor(out, parents=(a,), backward_fn=backward)


def abs(a):
    def backward(grad):
        return (grad * np.sign(a.data),)                    # subgradient 0 at 0
    return Tensor(np.abs(a.data), parents=(a,), backward_fn=backward)


def relu(a):
    out = np.maximum(a.data, 0)
    def backward(grad):                                     # derivative 0 at 0, as in PyTorch
        return (_relu_grad(grad, out),)
    return Tensor(out, parents=(a,), backward_fn=backward)


def add_relu(a, b):
    """relu(a + b) as one op (a residual block's join and the ReLU after it, fused by
    ``Residual``): one pass each way where the two share a layout."""
    a, b = _pair(a, b)
    out = np.empty_like(a.data)
    flat = _flat(a.data, b.data, out)
    if flat is None:                          # (other layouts, or shapes that broadcast)
        out = np.maximum(a.data + b.data, 0)
    else:
        from . import kernels  # lazy: Numba loads with the first fused join
        kernels.add_relu(*flat)
    def backward(grad):
        g = _relu_grad(grad, out)
        return g, g
    return Tensor(out, parents=(a, b), backward_fn=backward)


def _flat(*arrays):
    """The arrays' memory as flat views, in one order for all, where they share a layout (an
    NCHW view of channels-last memory included: ``conv2d``'s outputs and gradients are laid
    out so); else None."""
    first = arrays[0]
    if any(a.dtype != first.dtype or a.shape != first.shape or a.strides != first.strides
           for a in arrays):
        return None
    flat = [a.ravel(order="K") for a in arrays]
    return flat if all(np.may_share_memory(f, a) for f, a in zip(flat, arrays)) else None


def _relu_grad(grad, out):
    """grad where out > 0, else 0: one Numba pass over the two arrays' memory when they share
    a layout (``_flat``), else NumPy."""
    result = np.empty_like(grad)
    flat = _flat(grad, out, result)
    if flat is not None:
        from . import kernels  # lazy: Numba loads with the first ReLU's backward
        kernels.relu_grad(*flat)
        return result
    return np.multiply(grad, out > 0, out=result)


def tanh(a):
    out = np.tanh(a.data)
    def backward(grad):
        return (grad * (1 - out * out),)
    return Tensor(out, parents=(a,), backward_fn=backward)


def sigmoid(a):
    # Written with tanh to stay finite for large |x|: σ(x) = (1 + tanh(x/2)) / 2.
    out = 0.5 * (1 + np.tanh(0.5 * a.data))
    def backward(grad):
        return (grad * out * (1 - out),)
    return Tensor(out, parents=(a,), backward_fn=backward)


# --- reductions ---------------------------------------------------------------------------

def _expand(grad, shape, axis, keepdims):
    """Re-insert reduced axes so ``grad`` broadcasts against the input of a reduction."""
    if keepdims:
        return grad
    if axis is None:
        return np.reshape(grad, (1,) * len(shape))
    axes = (axis,) if np.isscalar(axis) else axis
    return np.expand_dims(grad, tuple(ax % len(shape) for ax in axes))


def sum(a, axis=None, keepdims=False):
    def backward(grad):
        return (np.broadcast_to(_expand(grad, a.shape, axis, keepdims), a.shape),)
    return Tensor(a.data.sum(axis=axis, keepdims=keepdims), parents=(a,), backward_fn=backward)


def mean(a, axis=None, keepdims=False):
    out = a.data.mean(axis=axis, keepdims=keepdims)
    count = a.data.size // out.size if out.size else 1
    def backward(grad):
        return (np.broadcast_to(_expand(grad, a.shape, axis, keepdims) / count, a.shape),)
    return Tensor(out, parents=(a,), backward_fn=backward)


def max(a, axis=None, keepdims=False):
    """Maximum; tied maxima share the gradient equally (as ``torch.amax``)."""
    out = a.data.max(axis=axis, keepdims=keepdims)
    def backward(grad):
        full = _expand(out, a.shape, axis, keepdims)
        winners = a.data == full
        share = winners / winners.sum(axis=axis, keepdims=True)
        return (share * _expand(grad, a.shape, axis, keepdims),)
    return Tensor(out, parents=(a,), backward_fn=backward)


# --- shape --------------------------------------------------------------------------------

def reshape(a, shape):
    def backward(grad):
        return (grad.reshape(a.shape),)
    return Tensor(a.data.reshape(shape), parents=(a,), backward_fn=backward)


def transpose(a, axes=None):
    inverse = None if axes is None else tuple(np.argsort(axes))
    def backward(grad):
        return (grad.transpose(inverse),)
    return Tensor(a.data.transpose(axes), parents=(a,), backward_fn=backward)


def getitem(a, index):
    if isinstance(index, Tensor):
        index = index.data
    def backward(grad):
        full = np.zeros_like(a.data)
        np.add.at(full, index, grad)                        # repeated indices add up
        return (full,)
    return Tensor(a.data[index], parents=(a,), backward_fn=backward)


def where(condition, a, b):
    """``a`` where ``condition`` else ``b``; the gradient follows the chosen branch."""
    a, b = _pair(a, b)
    condition = np.asarray(condition.data if isinstance(condition, Tensor) else condition, bool)
    def backward(grad):
        return grad * condition, grad * ~condition
    return Tensor(np.where(condition, a.data, b.data), parents=(a, b), backward_fn=backward)
