"""The shape a sample takes through a plan's ops, and a clear error for one it cannot take.

A plan's kernels assume the shapes the model was built for; given another, they fail deep
inside with a message about an array, not the input (a 3-channel batch through LeNet-5 used
to end in "matmul: Input operand 1 has a mismatch in its core dimension 0"). ``check`` walks
one sample's shape through the lowered ops once, before anything runs, and names the input,
what it got and what the op that cannot take it needs.
"""
from __future__ import annotations

import math

from .lower import Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted


def check(ops, shape):
    """The shape (C, H, W) or (F,) the ops give one sample of ``shape`` (a batch's shape
    without its first axis); ValueError naming x and the op where a sample of that shape
    does not fit."""
    try:
        return _walk(ops, tuple(shape))
    except _Mismatch as e:
        raise ValueError(f"x: samples of shape {tuple(shape)} do not fit this model: {e}") \
            from None


class _Mismatch(Exception):
    """What an op says of a sample it cannot take (``check`` names x around it)."""


def _walk(ops, shape):
    for op in ops:
        shape = _through(op, shape)
    return shape


def _through(op, shape):
    if isinstance(op, Weighted) and op.conv is not None:
        return _conv(op, shape)
    if isinstance(op, Weighted):
        features, wanted = math.prod(shape), op.weight.shape[1]
        if features != wanted:
            raise _Mismatch(f"a fully connected layer takes {wanted} features, it is given "
                            f"{features}")
        return (op.weight.shape[0],)
    if isinstance(op, Scale):
        if shape[0] != len(op.scale):
            raise _Mismatch(f"a per-channel scale (a BatchNorm) takes {len(op.scale)} "
                            f"channels, it is given {shape[0]}")
        return shape
    if isinstance(op, Pool):
        return _pool(op, shape)
    if isinstance(op, GlobalPool):
        _image(shape, "a global pooling")
        return shape[:1]
    if isinstance(op, Flatten):
        return (math.prod(shape),)
    if isinstance(op, Residual):
        out = _walk(op.body, shape)
        short = shape if op.shortcut is None else _walk(op.shortcut, shape)
        if out != short:
            raise _Mismatch(f"a residual block's body gives {out}, its shortcut {short}")
        return out
    if isinstance(op, Activation):
        return shape
    raise TypeError(f"no shape rule for {type(op).__name__}")


def _image(shape, what):
    if len(shape) != 3:
        raise _Mismatch(f"{what} takes images (channels, height, width), it is given a "
                        f"sample of shape {shape}")


def _conv(op, shape):
    _image(shape, "a convolution")
    k, stride, pad = op.conv
    channels = op.weight.shape[1] // (k * k) * op.groups
    if shape[0] != channels:
        raise _Mismatch(f"a convolution takes {channels} input channel"
                        f"{'s' if channels != 1 else ''}, it is given {shape[0]}")
    return (op.weight.shape[0], *_sides(shape, k, stride, pad, "a convolution"))


def _pool(op, shape):
    _image(shape, "a pooling")
    stride = op.stride or op.kernel_size
    return (shape[0], *_sides(shape, op.kernel_size, stride, op.padding, "a pooling"))


def _sides(shape, k, stride, pad, what):
    h, w = shape[1] + 2 * pad, shape[2] + 2 * pad
    if h < k or w < k:
        raise _Mismatch(f"{what} of {k} x {k} (padding {pad}) needs images of at least "
                        f"{k - 2 * pad} x {k - 2 * pad}, it is given {shape[1]} x {shape[2]}")
    return (h - k) // stride + 1, (w - k) // stride + 1
