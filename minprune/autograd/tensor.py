"""Tensor: an array, its gradient, and the edges back to the tensors it was computed from."""
from __future__ import annotations

import contextlib

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad():
    """Within this block operations record no graph (evaluation, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


def _as_array(data, dtype):
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, (np.ndarray, np.floating)) and data.dtype.kind == "f":
        return np.asarray(data)            # NumPy floating data keeps its precision
    return np.asarray(data, dtype=np.float32)   # float32 is the default for everything else


class Tensor:
    """A NumPy array that remembers how it was made.

    Parameters
    ----------
    data : array_like
        NumPy floating arrays keep their dtype; anything else (lists, ints) becomes float32.
    requires_grad : bool
        Whether ``backward`` should deliver a gradient to this tensor.
    dtype : numpy dtype, optional
        Cast ``data`` to this dtype (e.g. ``np.float64`` for gradient checks).
    """

    __array_priority__ = 1000               # ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data, requires_grad=False, *, dtype=None, parents=(), backward_fn=None):
        self.data = _as_array(data, dtype)
        self.grad = None
        track = _grad_enabled and (requires_grad or any(p.requires_grad for p in parents))
        self.requires_grad = bool(track)
        self.parents = tuple(parents) if track and backward_fn is not None else ()
        self.backward_fn = backward_fn if self.parents else None

    # --- plumbing -------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{flag})"

    def numpy(self):
        return self.data

    def item(self):
        return self.data.item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor(self.data)

    def accumulate(self, grad):
        """Add ``grad`` into ``.grad`` (fan-out: every path contributes).

        The engine hands each array to one tensor only, so a fresh, writeable, contiguous
        array of the right dtype is adopted as it is instead of copied.
        """
        if self.grad is None:
            owned = (grad.flags.owndata and grad.flags.writeable and grad.flags.c_contiguous
                     and grad.dtype == self.data.dtype)
            self.grad = grad if owned else np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def zero_grad(self):
        self.grad = None

    def backward(self, grad=None):
        """Fill ``.grad`` of every leaf this tensor depends on (see ``engine.backward``)."""
        backward(self, grad)

    # --- operators delegate to ops ---------------------------------------------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, exponent):
        return ops.pow(self, exponent)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __getitem__(self, index):
        return ops.getitem(self, index)

    def sum(self, axis=None, keepdims=False):
        return ops.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return ops.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return ops.max(self, axis, keepdims)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self):
        return ops.transpose(self, None)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def relu(self):
        return ops.relu(self)

    def tanh(self):
        return ops.tanh(self)

    def sigmoid(self):
        return ops.sigmoid(self)


from . import ops  # noqa: E402  (ops builds Tensors; imported last to close the cycle)
from .engine import backward
