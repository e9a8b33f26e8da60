"""A sparse convolution, its bias and ReLU, and the max pooling after it, in one pass of the
register tiles of ``sparse_tiles``: the convolution's full-size output is never written.

``pooled`` does this for dense filters. A sparse layer has fewer multiply-adds per output
than a dense one (LeNet-5's first convolution at 90% in every layer: two or three per
output, against 25), so the outputs' traffic is most of its time: at batch 64 the
convolution's 20 x 24 x 24 x 64 numbers (2.9 MB, more than the second-level cache) were
written for the pooling to read straight back and keep a quarter of. Here a tile is one
output channel at four registers of samples and one pooling window: the window's pixels
are summed two at a time (``sparse_tiles._sums``: one pass over the channel's stored
weights for two pixels), the larger of each kept in registers, and the bias and ReLU added
once at the end - the same as pooling the biased, rectified outputs (adding a number and
taking max(., 0) both keep the order of what they are applied to).

The pooling is PyTorch's MaxPool2d(p) (stride p, no padding): rows and columns p does not
divide are dropped, their convolution never computed. ``conv_sparse_tiles_maxpool_numpy``
is the twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import vec
from ..vec import maximum
from ..sparse.conv_tiles import _sums, _two_pixel_sums, conv_sparse_tiles_numpy


@njit(inline="always")
def _window(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m):
    """The largest sums of a pool x pool window of pixels (the first at flat ``at``, rows
    ``row`` and columns ``column`` numbers apart) for four registers of samples (the first
    m numbers), two pixels of a row at a time (an odd last one twice)."""
    s = _sums(xf, offsets, values, e0, e1, at, column if pool > 1 else 0, lanes,
              m, m - lanes, m - 2 * lanes, m - 3 * lanes)
    best = (maximum(s[0], s[4]), maximum(s[1], s[5]), maximum(s[2], s[6]),
            maximum(s[3], s[7]))
    for d in range(1, pool * ((pool + 1) // 2)):
        dy, dx = divmod(d, (pool + 1) // 2)
        second = column if 2 * dx + 1 < pool else 0
        s = _sums(xf, offsets, values, e0, e1, at + dy * row + 2 * dx * column, second, lanes,
                  m, m - lanes, m - 2 * lanes, m - 3 * lanes)
        best = (maximum(best[0], maximum(s[0], s[4])), maximum(best[1], maximum(s[1], s[5])),
                maximum(best[2], maximum(s[2], s[6])), maximum(best[3], maximum(s[3], s[7])))
    return best


@njit(inline="always")
def _window_two(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m):
    """``_window`` on two registers of samples (the batch's last ones)."""
    s = _two_pixel_sums(xf, offsets, values, e0, e1, at, column if pool > 1 else 0, lanes, m)
    best = (maximum(s[0], s[2]), maximum(s[1], s[3]))
    for d in range(1, pool * ((pool + 1) // 2)):
        dy, dx = divmod(d, (pool + 1) // 2)
        second = column if 2 * dx + 1 < pool else 0
        s = _two_pixel_sums(xf, offsets, values, e0, e1, at + dy * row + 2 * dx * column,
                            second, lanes, m)
        best = (maximum(best[0], maximum(s[0], s[2])), maximum(best[1], maximum(s[1], s[3])))
    return best


@njit(cache=True, nogil=True)
def conv_sparse_tiles_maxpool(xp, indptr, offsets, values, bias, k, stride, relu, pool, out):
    """out (OC, OH // pool, OW // pool, N) = max pooling (pool x pool, stride pool) of the
    k x k convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by the sparse filters of
    ``sparse_tiles.conv_sparse_tiles``, plus bias (if given), then ReLU."""
    c_in, hp, wp, n = xp.shape
    n_out, ph, pw, n_in = out.shape
    if pool < 1 or len(indptr) != n_out + 1 or (len(bias) and len(bias) != n_out):
        raise ValueError("conv_sparse_tiles_maxpool: pool >= 1, a row of weights and a bias "
                         "per output channel")
    if n_in != n or ph * pool > (hp - k) // stride + 1 or pw * pool > (wp - k) // stride + 1:
        raise ValueError("conv_sparse_tiles_maxpool: out must be the pooled convolution's "
                         "shape")
    xf, of = xp.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    plane = ph * pw * n
    row, column = stride * wp * n, stride * n       # (one output row, one column on)
    for py in range(ph):
        for px in range(pw):
            at = (py * pool * stride * wp + px * pool * stride) * n
            for o in range(n_out):
                e0, e1 = indptr[o], indptr[o + 1]
                b = bias[o] if len(bias) else 0.0
                to = o * plane + (py * pw + px) * n
                for n0 in range(0, n, 4 * lanes):
                    m = n - n0
                    if m <= 2 * lanes:                 # the batch's last two registers
                        t = _window_two(xf, offsets, values, e0, e1, at + n0, row, column,
                                        pool, lanes, m)
                        vec.store(of, to + n0, vec.bias_act(t[0], b, relu), m)
                        vec.store(of, to + n0 + lanes, vec.bias_act(t[1], b, relu), m - lanes)
                        continue
                    s = _window(xf, offsets, values, e0, e1, at + n0, row, column, pool,
                                lanes, m)
                    for r in range(4):
                        vec.store(of, to + n0 + r * lanes, vec.bias_act(s[r], b, relu),
                                  m - r * lanes)
    return out


def conv_sparse_tiles_maxpool_numpy(xp, indptr, offsets, values, bias, k, stride, relu, pool,
                                    out):
    """``conv_sparse_tiles_maxpool`` in NumPy: the convolution (``conv_sparse_tiles_numpy``)
    of the k x k filters, then the maximum of each window."""
    n_out, ph, pw, n = out.shape
    oh, ow = (xp.shape[1] - k) // stride + 1, (xp.shape[2] - k) // stride + 1
    full = conv_sparse_tiles_numpy(xp, indptr, offsets, values, bias, stride, relu,
                                   np.empty((n_out, oh, ow, n), xp.dtype))
    windows = full[:, :ph * pool, :pw * pool].reshape(n_out, ph, pool, pw, pool, n)
    out[...] = windows.max(axis=(2, 4))
    return out
