"""Kernels of the feature-major plan, where an image batch is stored (C, H, W, N): each
channel's pixels, each pixel's samples innermost. Numba kernels, each with a plain-NumPy twin.

In this layout a convolution's output comes out of one product W @ columns already in place,
and the columns of a fully connected layer after Flatten are the batch itself (features x
batch: no transposes between layers). Here: the columns (im2col, shared with training, and
the *wide* columns of a stride-1 convolution), bias and ReLU, padding, pooling (global
average pooling too) and a residual block's join. The convolutions that need no columns are
in ``infer.direct`` (sparse), ``infer.direct_dense`` and the register tiles of
``infer.tiles`` and ``infer.sparse_tiles``.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from ..autograd.columns import im2col, im2col_rows  # noqa: F401 (the columns, shared)


def _out(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def im2col_numpy(x, k, stride, pad):
    """``im2col`` in NumPy (the same matrix)."""
    c_in, h, w, n = x.shape
    oh, ow = _out(h, k, stride, pad), _out(w, k, stride, pad)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = np.empty((k, k, c_in, oh, ow, n), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[i, j] = xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols.reshape(k * k * c_in, oh * ow * n)


@njit(cache=True, nogil=True)
def bias_act(y, bias, relu):
    """y[o, :] += bias[o] (if given), then ReLU, in place; y is (rows, columns)."""
    rows, cols = y.shape
    for o in range(rows):
        add = bias[o] if len(bias) else 0.0
        r = y[o]
        if relu:
            for p in range(cols):
                v = r[p] + add
                r[p] = v if v > 0.0 else 0.0
        elif len(bias):
            for p in range(cols):
                r[p] += add
    return y


def bias_act_numpy(y, bias, relu):
    if len(bias):
        y += bias[:, None]
    return np.maximum(y, 0, out=y) if relu else y


@njit(cache=True, nogil=True)
def pad_into(x, pad, xp):
    """x (C, H, W, N) copied into the middle of xp (C, H + 2·pad, W + 2·pad, N); xp's border
    is left as it is (zeros, written once when the buffer was made)."""
    c_in, h, w, n = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    xf, pf = x.reshape(-1), xp.reshape(-1)
    span = w * n
    for c in range(c_in):
        for y in range(h):
            src, dst = (c * h + y) * span, ((c * hp + y + pad) * wp + pad) * n
            d, s_ = pf[dst:dst + span], xf[src:src + span]
            for t in range(span):
                d[t] = s_[t]
    return xp


@njit(cache=True, nogil=True)
def wide_columns(xp, k, out):
    """The columns of a stride-1 convolution over a padded xp (C, Hp, Wp, N), every output
    row taken at all Wp positions of its row ("wide"): out[(i·k + j)·C + c, t·N + b] = the
    flat pixel (i·Wp + j + t) of channel c, sample b, for t < L = (OH - 1)·Wp + OW. A row of
    columns is then one contiguous run of the input, not one run per output row; the product
    computes Wp - OW throw-away pixels per row (``narrow_bias_act`` drops them)."""
    c_in, hp, wp, n = xp.shape
    span = out.shape[1]
    xf = xp.reshape(-1)
    for i in range(k):
        for j in range(k):
            for c in range(c_in):
                src = ((c * hp + i) * wp + j) * n
                d, s_ = out[(i * k + j) * c_in + c], xf[src:src + span]
                for t in range(span):
                    d[t] = s_[t]
    return out


@njit(cache=True, nogil=True)
def narrow_bias_act(wide, wp, bias, relu, out):
    """out (OC, OH, OW, N) from a product over ``wide_columns`` (OC, L·N): output pixel (r, q)
    is the wide pixel r·Wp + q; plus bias[o] (if given), then ReLU."""
    n_out, oh, ow, n = out.shape
    of = out.reshape(-1)
    span = ow * n
    for o in range(n_out):
        add = bias[o] if len(bias) else 0.0
        row = wide[o]
        for r in range(oh):
            s_ = row[r * wp * n:r * wp * n + span]
            d = of[(o * oh + r) * span:(o * oh + r + 1) * span]
            if relu:
                for t in range(span):
                    v = s_[t] + add
                    d[t] = v if v > 0.0 else 0.0
            else:
                for t in range(span):
                    d[t] = s_[t] + add
    return out


def wide_columns_numpy(xp, k):
    """``wide_columns`` in NumPy (the same matrix)."""
    c_in, hp, wp, n = xp.shape
    span = ((hp - k) * wp + wp - k + 1) * n
    flat = xp.reshape(c_in, -1)
    return np.stack([flat[:, (i * wp + j) * n:(i * wp + j) * n + span]
                     for i in range(k) for j in range(k)]).reshape(k * k * c_in, span)


def narrow_bias_act_numpy(wide, wp, bias, relu, shape):
    n_out, oh, ow, n = shape
    full = np.zeros((n_out, oh * wp * n), dtype=wide.dtype)
    full[:, :wide.shape[1]] = wide
    y = full.reshape(n_out, oh, wp, n)[:, :, :ow] + (bias[:, None, None, None] if len(bias)
                                                     else 0)
    return np.maximum(y, 0) if relu else y


@njit(cache=True, nogil=True)
def pool(x, k, stride, pad, is_max, out):
    """Max or average pooling of x (C, H, W, N) into out (C, OH, OW, N); padding counts as
    -inf (max) or 0 (average, which divides by k·k, PyTorch's default count_include_pad)."""
    c_in, h, w, n = x.shape
    _, oh, ow, _ = out.shape
    for c in range(c_in):
        for r in range(oh):
            for q in range(ow):
                dst = out[c, r, q]
                dst[:] = -np.inf if is_max else 0.0
                for i in range(k):
                    y = r * stride + i - pad
                    if y < 0 or y >= h:
                        continue
                    for j in range(k):
                        xx = q * stride + j - pad
                        if xx < 0 or xx >= w:
                            continue
                        src = x[c, y, xx]
                        if is_max:
                            for b in range(n):
                                dst[b] = max(dst[b], src[b])
                        else:
                            for b in range(n):
                                dst[b] += src[b]
                if not is_max:
                    for b in range(n):
                        dst[b] /= k * k
    return out


@njit(cache=True, nogil=True)
def pool_tiled(x, k, is_max, out):
    """Pooling whose windows tile the image (stride k, no padding, k divides H and W): each
    output pixel from its k·k input pixels, whole pixels (N numbers) at a time."""
    c_in, h, w, n = x.shape
    oh, ow = h // k, w // k
    xf, of = x.reshape(-1), out.reshape(-1)
    if n == 1 and k == 2 and is_max:  # the common case: LeNet's and VGG's pools
        pairs = np.empty(w, dtype=x.dtype)
        for c in range(c_in):
            for r in range(oh):
                a = (c * h + 2 * r) * w
                top, bottom = xf[a:a + w], xf[a + w:a + 2 * w]
                for t in range(w):                    # the two rows' maxima: one vector loop
                    pairs[t] = max(top[t], bottom[t])
                o = (c * oh + r) * ow
                for q in range(ow):                   # then of each pair of columns
                    of[o + q] = max(pairs[2 * q], pairs[2 * q + 1])
        return out
    if n == 1:                        # one sample: plain scalar loops, no slices to build
        for c in range(c_in):
            for r in range(oh):
                for q in range(ow):
                    first = (c * h + r * k) * w + q * k
                    acc = xf[first]
                    for i in range(k):
                        for j in range(k):
                            v = xf[first + i * w + j]
                            if is_max:
                                acc = max(acc, v)
                            elif i or j:
                                acc += v
                    of[(c * oh + r) * ow + q] = acc if is_max else acc / (k * k)
        return out
    for c in range(c_in):
        for r in range(oh):
            for q in range(ow):
                d0 = ((c * oh + r) * ow + q) * n
                first = ((c * h + r * k) * w + q * k) * n
                d = of[d0:d0 + n]
                src = xf[first:first + n]
                for b in range(n):
                    d[b] = src[b]
                for i in range(k):
                    for j in range(k):
                        if i == 0 and j == 0:
                            continue
                        s0 = ((c * h + r * k + i) * w + q * k + j) * n
                        src = xf[s0:s0 + n]
                        if is_max:
                            for b in range(n):
                                if src[b] > d[b]:
                                    d[b] = src[b]
                        else:
                            for b in range(n):
                                d[b] += src[b]
                if not is_max:
                    for b in range(n):
                        d[b] /= k * k
    return out


@njit(cache=True, nogil=True)
def add_act(a, b, relu, out):
    """out = a + b, then ReLU (if ``relu``), in one pass: a residual block's join. All three
    C-contiguous, of one shape (out may be a)."""
    af, bf, of = a.reshape(-1), b.reshape(-1), out.reshape(-1)
    for t in range(len(of)):
        v = af[t] + bf[t]
        of[t] = v if v > 0.0 or not relu else 0.0
    return out


def add_act_numpy(a, b, relu):
    y = a + b
    return np.maximum(y, 0) if relu else y


@njit(cache=True, nogil=True)
def global_mean(x, out):
    """out (C, N) = the mean of x (C, H, W, N) over each channel's pixels (global average
    pooling), the pixels summed in order."""
    c_in, h, w, n = x.shape
    xf = x.reshape(c_in, h * w * n)
    for c in range(c_in):
        o, row = out[c], xf[c]
        if n == 1:                                    # one sum, in a register
            total = 0.0
            for p in range(h * w):
                total += row[p]
            o[0] = total / (h * w)
            continue
        for b in range(n):
            o[b] = 0.0
        for p in range(h * w):
            for b in range(n):
                o[b] += row[p * n + b]
        for b in range(n):
            o[b] /= h * w
    return out


def global_mean_numpy(x):
    return x.mean(axis=(1, 2))


def pool_numpy(x, k, stride, pad, is_max):
    c_in, h, w, n = x.shape
    oh, ow = _out(h, k, stride, pad), _out(w, k, stride, pad)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                constant_values=-np.inf if is_max else 0.0)
    windows = np.stack([xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
                        for i in range(k) for j in range(k)])
    return windows.max(axis=0) if is_max else windows.sum(axis=0) / (k * k)
