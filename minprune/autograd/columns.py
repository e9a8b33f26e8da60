"""The columns of a convolution and their adjoints, as Numba kernels with plain-NumPy twins,
in the two layouts: channels-last (N, H, W, C) for ``conv.conv2d`` (``im2col_nhwc``,
``col2im_nhwc``), and feature-major (C, H, W, N) for the sparse convolution in training and
the inference plan (``im2col``, ``im2col_rows``, ``col2im_fm``; ``infer.fm_kernels`` holds
im2col's twin).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def col2im_fm(cols, k, stride, pad, dx):
    """The adjoint of ``im2col``: each column entry (k·k·C, OH·OW·N) added onto
    the input pixel it was copied from, into dx (C, H, W, N) (zeroed by the caller); padding
    taps are dropped. With stride 1 an output row's pixels are one contiguous run."""
    c_in, h, w, n = dx.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    df = dx.reshape(-1)
    for i in range(k):
        for j in range(k):
            q0 = max(0, (pad - j + stride - 1) // stride)
            q1 = min(ow, (w - 1 + pad - j) // stride + 1)
            if q0 >= q1:
                continue
            for c in range(c_in):
                row = cols[(i * k + j) * c_in + c]
                for r in range(oh):
                    y = r * stride + i - pad
                    if y < 0 or y >= h:
                        continue
                    src = (r * ow + q0) * n
                    dst = ((c * h + y) * w + q0 * stride + j - pad) * n
                    if stride == 1:
                        span = (q1 - q0) * n
                        d, s_ = df[dst:dst + span], row[src:src + span]
                        for t in range(span):
                            d[t] += s_[t]
                    else:
                        for q in range(q1 - q0):
                            d = df[dst + q * stride * n:dst + q * stride * n + n]
                            s_ = row[src + q * n:src + q * n + n]
                            for b in range(n):
                                d[b] += s_[b]
    return dx


def col2im_fm_numpy(cols, k, stride, pad, dx):
    """``col2im_fm`` in NumPy: each tap's columns added onto a padded copy, then cropped."""
    c_in, h, w, n = dx.shape
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    dxp = np.zeros((c_in, h + 2 * pad, w + 2 * pad, n), dtype=dx.dtype)
    taps = cols.reshape(k, k, c_in, oh, ow, n)
    for i in range(k):
        for j in range(k):
            dxp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += \
                taps[i, j]
    dx += dxp[:, pad:pad + h, pad:pad + w]
    return dx


@njit(cache=True, nogil=True)
def im2col_nhwc(x, kh, kw, stride, pad, oh, ow, cols):
    """The columns of ``conv.conv2d``: row (b, r, q) of cols (N·OH·OW, kh·kw·C), columns
    (kh, kw, C), is the window of output pixel (r, q) in the channels-last x (N, H, W, C)
    padded by ``pad`` zeros. A tap row's kw pixels are adjacent in x whatever the stride, so
    each window is kh runs of kw·C numbers (zeros where they fall in the padding: no padded
    copy of x is made). Positions are unsigned (as in ``im2col_rows``): measured 1.5-2x
    faster than NumPy's copy of the strided windows."""
    n, h, w, c = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)
    run, width = np.uint64(kw * c), np.uint64(kh * kw * c)
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                row = np.uint64((b * oh + r) * ow + q) * width
                x0 = q * stride - pad                 # the window's first column
                j0, j1 = min(kw, max(0, -x0)), max(0, min(kw, w - x0))
                lead, tail = np.uint64(j0 * c), np.uint64(max(j0, j1) * c)
                for i in range(kh):
                    y = r * stride + i - pad
                    d = row + np.uint64(i) * run
                    inside = 0 <= y < h and lead < tail
                    for e in range(lead if inside else run):
                        cf[d + e] = 0.0
                    if not inside:
                        continue
                    for e in range(tail, run):
                        cf[d + e] = 0.0
                    src = np.uint64(((b * h + y) * w + x0 + j0) * c)
                    for e in range(tail - lead):
                        cf[d + lead + e] = xf[src + e]
    return cols


def windows(xp, kh, kw, stride, oh, ow):
    """A read-only (N, OH, OW, kh, kw, C) view of the padded NHWC array ``xp``: the window of
    each output pixel, no copy."""
    sn, sh, sw, sc = xp.strides
    n, _, _, c = xp.shape
    return np.lib.stride_tricks.as_strided(
        xp, (n, oh, ow, kh, kw, c), (sn, sh * stride, sw * stride, sh, sw, sc), writeable=False)


def im2col_nhwc_numpy(x, kh, kw, stride, pad, oh, ow):
    """``im2col_nhwc`` in NumPy: the windows of a padded copy, copied."""
    n, _, _, c = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return windows(xp, kh, kw, stride, oh, ow).reshape(n * oh * ow, kh * kw * c)


@njit(cache=True, nogil=True)
def col2im_nhwc(dcols, kh, kw, stride, pad, oh, ow, dx):
    """The adjoint of ``im2col_nhwc``: row (b, r, q) of dcols (N·OH·OW, kh·kw·C) added onto
    the window it was read from, kh runs of kw·C numbers, into the unpadded channels-last dx
    (N, H, W, C) - the parts of a window in the padding are dropped, so the gradient comes out
    dense, in the activations' own layout."""
    n, h, w, c = dx.shape
    df, xf = dcols.reshape(-1), dx.reshape(-1)
    width = np.uint64(kh * kw * c)
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                row = np.uint64((b * oh + r) * ow + q) * width
                x0 = q * stride - pad                 # the window's first column
                j0, j1 = max(0, -x0), min(kw, w - x0)
                if j0 >= j1:
                    continue
                span = np.uint64((j1 - j0) * c)
                for i in range(kh):
                    y = r * stride + i - pad
                    if y < 0 or y >= h:
                        continue
                    dst = np.uint64(((b * h + y) * w + x0 + j0) * c)
                    src = row + np.uint64((i * kw + j0) * c)
                    for e in range(span):
                        xf[dst + e] += df[src + e]
    return dx


def col2im_nhwc_numpy(dcols, kh, kw, stride, pad, oh, ow, dx):
    """``col2im_nhwc`` in NumPy: one strided add per tap onto a padded copy, then cropped."""
    n, h, w, c = dx.shape
    dxp = np.zeros((n, h + 2 * pad, w + 2 * pad, c), dtype=dx.dtype)
    taps = dcols.reshape(n, oh, ow, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += \
                taps[:, :, :, i, j]
    dx += dxp[:, pad:pad + h, pad:pad + w]
    return dx


@njit(cache=True, nogil=True)
def im2col(x, k, stride, pad, out):
    """The columns of a convolution: out[(i·k + j)·C + c, (r·OW + q)·N + b] = the input pixel
    tap (i, j) of output pixel (r, q) reads in channel c of sample b (0 in the padding).
    Each output row is copied as runs of whole pixels (N numbers; with stride 1 the pixels
    q0..q1 at once, also at one sample), which LLVM turns into vector copies."""
    h = x.shape[1]
    return im2col_rows(x, k, stride, pad, 0, (h + 2 * pad - k) // stride + 1, out)


@njit(cache=True, nogil=True)
def im2col_rows(x, k, stride, pad, r0, r1, out):
    """The columns of output rows r0..r1 only: out (k·k·C, (r1 - r0)·OW·N), the same numbers
    as those columns of ``im2col`` (a product over a cache-sized band of rows at a time).
    ``out`` may be wider (rows further apart, ``sparse.kernels.padded_rows``): each of its
    rows' first (r1 - r0)·OW·N numbers are written.

    Positions are unsigned: Numba checks a signed index for a negative value on every access
    (to wrap it round as Python does), which keeps LLVM from turning the copies into vector
    copies - measured 2x slower at one sample, where the runs are short."""
    c_in, h, w, n = x.shape
    ow = (w + 2 * pad - k) // stride + 1
    xf, of = x.reshape(-1), out.reshape(-1)
    one, width = np.uint64(n), np.uint64(ow * n)
    size = np.uint64(out.shape[1])                   # (a row of out: at least its columns)
    for i in range(k):
        for j in range(k):
            q0 = max(0, (pad - j + stride - 1) // stride)
            q1 = max(q0, min(ow, (w - 1 + pad - j) // stride + 1))
            lead, tail = np.uint64(q0 * n), np.uint64(q1 * n)
            for c in range(c_in):
                first = np.uint64((i * k + j) * c_in + c) * size
                for r in range(r0, r1):
                    y = r * stride + i - pad
                    base = first + np.uint64(r - r0) * width
                    inside = 0 <= y < h and q0 < q1
                    for t in range(lead if inside else width):     # the padding: zeros
                        of[base + t] = 0.0
                    if not inside:
                        continue
                    for t in range(tail, width):
                        of[base + t] = 0.0
                    src = np.uint64(((c * h + y) * w + q0 * stride + j - pad) * n)
                    dst = base + lead
                    if stride == 1:                                 # one run
                        for t in range(tail - lead):
                            of[dst + t] = xf[src + t]
                    elif n == 1:                                    # every stride-th number
                        step = np.uint64(stride)
                        for q in range(np.uint64(q1 - q0)):
                            of[dst + q] = xf[src + q * step]
                    else:                                           # every stride-th pixel
                        step = np.uint64(stride * n)
                        for q in range(np.uint64(q1 - q0)):
                            for b in range(one):
                                of[dst + q * one + b] = xf[src + q * step + b]
    return out
