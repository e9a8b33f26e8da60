"""Grouped and depthwise 2-D convolution: the channels split into ``groups`` independent
convolutions (PyTorch's ``groups``; depthwise when ``groups`` equals the input channels).

The receptive fields come from the same channels-last im2col as ``conv.conv2d``; viewed as
(positions, taps, groups, channels per group), each group's output is a contraction with its
own filters, written with ``einsum`` so one expression covers every group size, from one
channel per group (depthwise) to all of them.
"""
from __future__ import annotations

import numpy as np

from .conv import col2im, im2col
from .ops import as_tensor
from .tensor import Tensor


def check_groups(groups, in_channels, out_channels, what="Conv2d"):
    """``groups`` must be a positive integer dividing both channel counts."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{what}: groups must be a positive integer, got {groups!r}")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"{what}: groups={groups} must divide in_channels={in_channels} and "
                         f"out_channels={out_channels}")
    return int(groups)


def conv2d_grouped(x, w, b=None, stride=1, padding=0, groups=1):
    """2-D cross-correlation with ``groups`` groups, PyTorch semantics.

    x : Tensor (N, C, H, W); w : Tensor (OC, C / groups, kh, kw); b : (OC,) or None. Output
    channel o belongs to group o // (OC / groups) and reads that group's C / groups inputs.
    """
    w = as_tensor(w)
    x = as_tensor(x, w)
    n, c = x.shape[:2]
    oc, cg, kh, kw = w.shape
    check_groups(groups, c, oc, "conv2d")
    if cg * groups != c:
        raise ValueError(f"conv2d: input has {c} channels but the weight expects "
                         f"{cg * groups} ({groups} groups of {cg}; x {x.shape}, w {w.shape})")
    g, og, taps = groups, oc // groups, kh * kw
    cols, xp, oh, ow = im2col(x.data, kh, kw, stride, padding)
    fields = cols.reshape(-1, taps, g, cg)                    # (P, taps, groups, C/g)
    filters = w.data.reshape(g, og, cg, taps).transpose(0, 1, 3, 2)   # (g, OC/g, taps, C/g)
    out = np.einsum("ptgc,gotc->pgo", fields, filters, optimize=True).reshape(-1, oc)
    if b is not None:
        b = as_tensor(b, x)
        out += b.data

    def backward(grad):
        g2 = grad.transpose(0, 2, 3, 1).reshape(-1, g, og)   # (P, g, OC/g)
        dfilters = np.einsum("pgo,ptgc->gotc", g2, fields, optimize=True)
        dw = dfilters.transpose(0, 1, 3, 2).reshape(oc, cg, kh, kw)
        db = g2.reshape(-1, oc).sum(axis=0) if b is not None else None
        dx = None
        if x.requires_grad:
            def tap_grad(i, j):
                t = i * kw + j
                return np.einsum("pgo,goc->pgc", g2, filters[:, :, t, :],
                                 optimize=True).reshape(n, oh, ow, c)
            dx = col2im(tap_grad, xp.shape, kh, kw, stride, oh, ow, padding, grad.dtype)
        return (dx, np.ascontiguousarray(dw, dtype=w.dtype)) + ((db,) if b is not None else ())

    parents = (x, w) if b is None else (x, w, b)
    return Tensor(out.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2), parents=parents,
                  backward_fn=backward)
