"""The training step's passes that NumPy makes many of, as Numba kernels, each with a
plain-NumPy twin: batch normalisation over a channels-last (M, C) matrix, max pooling's
backward, and the two layouts' im2col and col2im (channels-last for ``conv2d``, feature-major
(C, H, W, N) for the sparse convolution and the inference plan).

Batch norm sums are taken in float64 whatever the data's type. Forward: the per-channel mean
and biased variance (two passes: the mean first, then the squares about it, which is exact
for data far from zero), and y = γ (x - μ)/σ + β in a third. Backward: dβ = Σ g and
dγ = Σ g x̂ in one pass, then dx = γ/σ · (g - dβ/M - x̂ dγ/M) in a second, x̂ recomputed from
x rather than stored.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bn_stats(x2):
    """(mean, biased variance) per column of x2 (M, C), both float64 (C,)."""
    m, c = x2.shape
    mean = np.zeros(c)
    for r in range(m):
        row = x2[r]
        for j in range(c):
            mean[j] += row[j]
    mean /= max(m, 1)
    var = np.zeros(c)
    for r in range(m):
        row = x2[r]
        for j in range(c):
            d = row[j] - mean[j]
            var[j] += d * d
    var /= max(m, 1)
    return mean, var


def bn_stats_numpy(x2):
    x64 = x2.astype(np.float64)
    mean = x64.mean(axis=0)
    return mean, ((x64 - mean) ** 2).mean(axis=0)


@njit(cache=True, nogil=True)
def bn_apply(x2, shift, scale, beta, out):
    """out = (x2 - shift) * scale + beta, row by row (shift, scale, beta of shape (C,))."""
    m, c = x2.shape
    for r in range(m):
        row, dst = x2[r], out[r]
        for j in range(c):
            dst[j] = (row[j] - shift[j]) * scale[j] + beta[j]
    return out


def bn_apply_numpy(x2, shift, scale, beta, out):
    np.multiply(x2 - shift, scale, out=out)
    out += beta
    return out


@njit(cache=True, nogil=True)
def bn_grad_sums(g2, x2, mean, inv):
    """(Σ g, Σ g x̂) per column, x̂ = (x - mean) · inv; both float64 (C,)."""
    m, c = g2.shape
    dbeta = np.zeros(c)
    dgamma = np.zeros(c)
    for r in range(m):
        g, x = g2[r], x2[r]
        for j in range(c):
            dbeta[j] += g[j]
            dgamma[j] += g[j] * (x[j] - mean[j]) * inv[j]
    return dbeta, dgamma


def bn_grad_sums_numpy(g2, x2, mean, inv):
    g64 = g2.astype(np.float64)
    return g64.sum(axis=0), (g64 * ((x2 - mean) * inv)).sum(axis=0)


@njit(cache=True, nogil=True)
def bn_grad_input(g2, x2, mean, inv, scale, dbeta_m, dgamma_m, out):
    """out = scale · (g - dβ/M - x̂ · dγ/M), x̂ = (x - mean) · inv, row by row."""
    m, c = g2.shape
    for r in range(m):
        g, x, dst = g2[r], x2[r], out[r]
        for j in range(c):
            xhat = (x[j] - mean[j]) * inv[j]
            dst[j] = scale[j] * (g[j] - dbeta_m[j] - xhat * dgamma_m[j])
    return out


def bn_grad_input_numpy(g2, x2, mean, inv, scale, dbeta_m, dgamma_m, out):
    xhat = (x2 - mean) * inv
    np.multiply(scale, g2 - dbeta_m - xhat * dgamma_m, out=out)
    return out


@njit(cache=True, nogil=True)
def max_pool_grad(xp, out, g, k, stride, dxp):
    """Max pooling's backward on channels-last arrays: each window's gradient g (N, OH, OW, C)
    goes to the first maximum of the window in row-major order (PyTorch's rule), added into
    dxp (N, H, W, C), shaped as the padded input xp; out holds the maxima."""
    n, oh, ow, c = out.shape
    free = np.empty(c, dtype=g.dtype)               # 1 while a window has no winner yet
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                free[:] = 1.0
                best, grad = out[b, r, q], g[b, r, q]
                for i in range(k):
                    for j in range(k):
                        src = xp[b, r * stride + i, q * stride + j]
                        dst = dxp[b, r * stride + i, q * stride + j]
                        for e in range(c):        # branch-free, so LLVM vectorizes it
                            hit = free[e] if src[e] == best[e] else 0.0
                            dst[e] += hit * grad[e]
                            free[e] -= hit
    return dxp


def max_pool_grad_numpy(xp, out, g, k, stride, dxp):
    """``max_pool_grad`` in NumPy: each tap of every window at once, compared with the maxima,
    each window's first hit taking its gradient."""
    _, oh, ow, _ = out.shape
    free = np.ones(out.shape, dtype=bool)                  # windows still without a winner
    hit = np.empty(out.shape, dtype=bool)
    for i in range(k):
        for j in range(k):
            rows = slice(i, i + stride * (oh - 1) + 1, stride)
            cols = slice(j, j + stride * (ow - 1) + 1, stride)
            np.equal(xp[:, rows, cols, :], out, out=hit)
            np.logical_and(hit, free, out=hit)
            np.logical_xor(free, hit, out=free)
            dxp[:, rows, cols, :] += g * hit
    return dxp


@njit(cache=True, nogil=True)
def col2im_fm(cols, k, stride, pad, dx):
    """The adjoint of ``infer.fm_kernels.im2col``: each column entry (k·k·C, OH·OW·N) added onto
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
def col2im_nhwc(dcols, kh, kw, stride, oh, ow, dxp):
    """The adjoint of ``conv.im2col``: row (b, r, q) of dcols (N·OH·OW, kh·kw·C), columns
    (kh, kw, C), added onto the window it was read from in the padded channels-last dxp
    (N, H + 2p, W + 2p, C): C numbers at a time, contiguous on both sides."""
    n, _, _, c = dxp.shape
    for b in range(n):
        for r in range(oh):
            for q in range(ow):
                src = dcols[(b * oh + r) * ow + q]
                for i in range(kh):
                    for j in range(kw):
                        d = dxp[b, r * stride + i, q * stride + j]
                        s_ = src[(i * kw + j) * c:(i * kw + j + 1) * c]
                        for e in range(c):
                            d[e] += s_[e]
    return dxp


def col2im_nhwc_numpy(dcols, kh, kw, stride, oh, ow, dxp):
    """``col2im_nhwc`` in NumPy: one strided add per tap."""
    n, _, _, c = dxp.shape
    taps = dcols.reshape(n, oh, ow, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride] += \
                taps[:, :, :, i, j]
    return dxp


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

    Positions are unsigned: Numba checks a signed index for a negative value on every access
    (to wrap it round as Python does), which keeps LLVM from turning the copies into vector
    copies - measured 2x slower at one sample, where the runs are short."""
    c_in, h, w, n = x.shape
    ow = (w + 2 * pad - k) // stride + 1
    xf, of = x.reshape(-1), out.reshape(-1)
    one, width = np.uint64(n), np.uint64(ow * n)
    size = np.uint64((r1 - r0) * ow * n)
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
