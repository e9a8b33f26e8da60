"""The training step's passes that NumPy makes many of, as Numba kernels, each with a
plain-NumPy twin: batch normalisation over a channels-last (M, C) matrix, max pooling's
backward and ReLU's. (The columns of a convolution are in ``autograd.columns``.)

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
def relu_grad(g, y, out):
    """out = g where y > 0, else 0 (ReLU's backward: 0 at 0, as in PyTorch), on flat arrays:
    one pass, where NumPy's g * (y > 0) makes a boolean mask and multiplies through it."""
    for i in range(np.uint64(g.size)):
        out[i] = g[i] if y[i] > 0 else 0.0
    return out


def relu_grad_numpy(g, y, out):
    np.multiply(g, y > 0, out=out)
    return out
