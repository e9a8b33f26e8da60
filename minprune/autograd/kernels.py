"""The training step's passes that NumPy makes many of, as Numba kernels, each with a
plain-NumPy twin: batch normalisation over a channels-last (M, C) matrix, max pooling's
backward, ReLU's, and a residual join with its ReLU. (The columns of a convolution are in
``autograd.columns``.)

Batch norm sums are taken in float64 whatever the data's type (the backward's in blocks of
``ROWS`` rows summed in the data's type first). Forward: the per-channel mean
and biased variance in one pass - the sums of d = x - K and d², K the channel's first value
(so d is of the order of the spread, not of the values: no cancellation for data far from
zero, where the plain Σx² - (Σx)²/M loses every digit) - and y = γ (x - μ)/σ + β in a second,
with the ReLU that follows it when asked. Backward: dβ = Σ g and dγ = Σ g x̂ in one pass, then
dx = γ/σ · (g - dβ/M - x̂ dγ/M) in a second, x̂ recomputed from x rather than stored (and,
with the ReLU, g taken where y > 0, y recomputed the same way).
"""
from __future__ import annotations

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def bn_stats(x2):
    """(mean, biased variance) per column of x2 (M, C), both float64 (C,): one pass."""
    m, c = x2.shape
    first = np.zeros(c)
    if m:
        first[:] = x2[0]
    s1, s2 = np.zeros(c), np.zeros(c)
    for r in range(m):
        row = x2[r]
        for j in range(c):
            d = row[j] - first[j]
            s1[j] += d
            s2[j] += d * d
    mean = s1 / max(m, 1)
    return first + mean, np.maximum(s2 / max(m, 1) - mean * mean, 0.0)


def bn_stats_numpy(x2):
    x64 = x2.astype(np.float64)
    mean = x64.mean(axis=0)
    return mean, ((x64 - mean) ** 2).mean(axis=0)


@njit(cache=True, nogil=True)
def bn_apply(x2, shift, scale, beta, relu, out):
    """out = (x2 - shift) * scale + beta, then ReLU if ``relu``, row by row (shift, scale,
    beta of shape (C,))."""
    m, c = x2.shape
    for r in range(m):
        row, dst = x2[r], out[r]
        for j in range(c):
            y = (row[j] - shift[j]) * scale[j] + beta[j]
            dst[j] = max(y, 0.0) if relu else y
    return out


def bn_apply_numpy(x2, shift, scale, beta, relu, out):
    np.multiply(x2 - shift, scale, out=out)
    out += beta
    if relu:
        np.maximum(out, 0, out=out)
    return out


ROWS = 256      # rows summed in the data's type before the float64 sums take them


@njit(cache=True, nogil=True)
def bn_grad_sums(g2, x2, mean, inv, scale, beta, relu):
    """(Σ g, Σ g x̂) per column, x̂ = (x - mean) · inv; both float64 (C,). With ``relu``, g
    counts only where the output (x - mean) · scale + beta is positive. Each ``ROWS`` rows
    are summed in the data's type (registers of float32 hold twice the numbers: resnet8's
    sums 1.5x faster), then added to the float64 sums."""
    m, c = g2.shape
    zero = g2.dtype.type(0)
    part_b, part_g = np.zeros(c, g2.dtype), np.zeros(c, g2.dtype)
    dbeta, dgamma = np.zeros(c), np.zeros(c)
    for r in range(m):
        g, x = g2[r], x2[r]
        for j in range(c):
            d = x[j] - mean[j]
            gj = g[j] if not relu or d * scale[j] + beta[j] > 0 else zero
            part_b[j] += gj
            part_g[j] += gj * d
        if r % ROWS == ROWS - 1 or r == m - 1:
            for j in range(c):
                dbeta[j] += part_b[j]
                dgamma[j] += part_g[j] * inv[j]
                part_b[j] = zero
                part_g[j] = zero
    return dbeta, dgamma


def _relu_masked(g2, x2, mean, scale, beta, relu):
    return g2 * ((x2 - mean) * scale + beta > 0) if relu else g2


def bn_grad_sums_numpy(g2, x2, mean, inv, scale, beta, relu):
    g64 = _relu_masked(g2, x2, mean, scale, beta, relu).astype(np.float64)
    return g64.sum(axis=0), (g64 * ((x2 - mean) * inv)).sum(axis=0)


@njit(cache=True, nogil=True)
def bn_grad_input(g2, x2, mean, inv, scale, beta, relu, dbeta_m, dgamma_m, out):
    """out = scale · (g - dβ/M - x̂ · dγ/M), x̂ = (x - mean) · inv, row by row; with ``relu``
    g counts only where the output is positive (as in ``bn_grad_sums``)."""
    m, c = g2.shape
    for r in range(m):
        g, x, dst = g2[r], x2[r], out[r]
        for j in range(c):
            gj = g[j] if not relu or (x[j] - mean[j]) * scale[j] + beta[j] > 0 else 0.0
            xhat = (x[j] - mean[j]) * inv[j]
            dst[j] = scale[j] * (gj - dbeta_m[j] - xhat * dgamma_m[j])
    return out


def bn_grad_input_numpy(g2, x2, mean, inv, scale, beta, relu, dbeta_m, dgamma_m, out):
    xhat = (x2 - mean) * inv
    np.multiply(scale, _relu_masked(g2, x2, mean, scale, beta, relu) - dbeta_m
                - xhat * dgamma_m, out=out)
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
def relu_grad(g, y, out):
    """out = g where y > 0, else 0 (ReLU's backward: 0 at 0, as in PyTorch), on flat arrays:
    one pass, where NumPy's g * (y > 0) makes a boolean mask and multiplies through it."""
    for i in range(np.uint64(g.size)):
        out[i] = g[i] if y[i] > 0 else 0.0
    return out


def relu_grad_numpy(g, y, out):
    np.multiply(g, y > 0, out=out)
    return out


@njit(cache=True, nogil=True)
def add_relu(a, b, out):
    """out = max(a + b, 0) on flat arrays, in one pass."""
    for i in range(np.uint64(a.size)):
        out[i] = max(a[i] + b[i], 0.0)
    return out


def add_relu_numpy(a, b, out):
    return np.maximum(np.add(a, b, out=out), 0, out=out)
