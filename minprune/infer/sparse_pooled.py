"""A sparse convolution, its bias and ReLU, and the max pooling after it, in one pass of the
register tiles of ``conv_tiles``: the convolution's full-size output is never written.

``pooled`` does this for dense filters. A sparse layer has fewer multiply-adds per output
than a dense one (LeNet-5's first convolution at 90% in every layer: two or three per
output, against 25), so the outputs' traffic is most of its time: at batch 64 the
convolution's 20 x 24 x 24 x 64 numbers (2.9 MB, more than the second-level cache) were
written for the pooling to read straight back and keep a quarter of. Here a tile is one
output channel at four registers of samples and one pooling window: the window's pixels
are summed two at a time (``conv_tiles._sums``: one pass over the channel's stored
weights for two pixels), the larger of each kept in registers, and the bias and ReLU added
once at the end - the same as pooling the biased, rectified outputs (adding a number and
taking max(., 0) both keep the order of what they are applied to).

With the stored weights in groups of input channels (``conv_tiles.conv_sparse_groups``),
``conv_sparse_groups_maxpool`` runs the groups but the last over the pixels the pooling
keeps, their sums in a scratch, and the last one window by window as above, each pixel's
sums so far added before the maximum.

The pooling is PyTorch's MaxPool2d(p) (stride p, no padding): rows and columns p does not
divide are dropped, their convolution never computed. ``conv_sparse_tiles_maxpool_numpy``
is the twin.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .. import vec
from ..vec import add, maximum
from ..sparse.conv_tiles import _pass, _sums, _two_pixel_sums, conv_sparse_groups_numpy


@njit(inline="always")
def _plus(s, wf, at, lanes, m, partial):
    """Four registers of sums s plus (where ``partial``) the sums so far at flat ``at`` of
    wf."""
    if not partial:
        return s
    return (add(s[0], vec.load(wf, at, m)), add(s[1], vec.load(wf, at + lanes, m - lanes)),
            add(s[2], vec.load(wf, at + 2 * lanes, m - 2 * lanes)),
            add(s[3], vec.load(wf, at + 3 * lanes, m - 3 * lanes)))


@njit(inline="always")
def _window(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m, wf, wat, wrow,
            wcol, partial):
    """The largest sums of a pool x pool window of pixels (the first at flat ``at``, rows
    ``row`` and columns ``column`` numbers apart) for four registers of samples (the first
    m numbers), two pixels of a row at a time (an odd last one twice); where ``partial``,
    each pixel's sums so far (at ``wat`` of wf, ``wrow`` and ``wcol`` apart) added first."""
    z = vec.zero(xf)
    best = (z, z, z, z)
    for d in range(pool * ((pool + 1) // 2)):
        dy, dx = divmod(d, (pool + 1) // 2)
        two = 2 * dx + 1 < pool
        s = _sums(xf, offsets, values, e0, e1, at + dy * row + 2 * dx * column,
                  column if two else 0, lanes, m, m - lanes, m - 2 * lanes, m - 3 * lanes)
        w = wat + dy * wrow + 2 * dx * wcol
        p = _plus((s[0], s[1], s[2], s[3]), wf, w, lanes, m, partial)
        q = _plus((s[4], s[5], s[6], s[7]), wf, w + wcol if two else w, lanes, m, partial)
        pq = (maximum(p[0], q[0]), maximum(p[1], q[1]), maximum(p[2], q[2]),
              maximum(p[3], q[3]))
        best = pq if d == 0 else (maximum(best[0], pq[0]), maximum(best[1], pq[1]),
                                  maximum(best[2], pq[2]), maximum(best[3], pq[3]))
    return best


@njit(inline="always")
def _window_two(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m, wf, wat, wrow,
                wcol, partial):
    """``_window`` on two registers of samples (the batch's last ones)."""
    z = vec.zero(xf)
    best = (z, z)
    for d in range(pool * ((pool + 1) // 2)):
        dy, dx = divmod(d, (pool + 1) // 2)
        two = 2 * dx + 1 < pool
        s = _two_pixel_sums(xf, offsets, values, e0, e1, at + dy * row + 2 * dx * column,
                            column if two else 0, lanes, m)
        w = wat + dy * wrow + 2 * dx * wcol
        v = wat + dy * wrow + (2 * dx + 1) * wcol if two else w
        if partial:
            s = (add(s[0], vec.load(wf, w, m)), add(s[1], vec.load(wf, w + lanes, m - lanes)),
                 add(s[2], vec.load(wf, v, m)), add(s[3], vec.load(wf, v + lanes, m - lanes)))
        pq = (maximum(s[0], s[2]), maximum(s[1], s[3]))
        best = pq if d == 0 else (maximum(best[0], pq[0]), maximum(best[1], pq[1]))
    return best


@njit(cache=True, nogil=True)
def conv_sparse_tiles_maxpool(xp, indptr, offsets, values, bias, k, stride, relu, pool, out):
    """out (OC, OH // pool, OW // pool, N) = max pooling (pool x pool, stride pool) of the
    k x k convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by the sparse filters of
    ``conv_tiles.conv_sparse_tiles``, plus bias (if given), then ReLU."""
    return conv_sparse_groups_maxpool(xp, indptr.reshape(1, -1), offsets, values, bias, k,
                                      stride, relu, pool, out[:0], out)


@njit(cache=True, nogil=True)
def conv_sparse_groups_maxpool(xp, indptr2, offsets, values, bias, k, stride, relu, pool,
                               wide, out):
    """``conv_sparse_tiles_maxpool`` with the stored weights in groups of input channels
    (``conv_tiles.grouped``): the groups but the last add their sums at the pixels the
    pooling keeps into wide (OC, OH // pool · pool, OW // pool · pool, N; unused where there
    is one group), the last adds its own to them window by window, then pools."""
    c_in, hp, wp, n = xp.shape
    n_out, ph, pw, n_in = out.shape
    groups = indptr2.shape[0]
    if (pool < 1 or groups < 1 or indptr2.shape[1] != n_out + 1
            or (len(bias) and len(bias) != n_out)):
        raise ValueError("conv_sparse_groups_maxpool: pool >= 1, a group of weights at "
                         "least, a row of weights and a bias per output channel")
    if n_in != n or ph * pool > (hp - k) // stride + 1 or pw * pool > (wp - k) // stride + 1:
        raise ValueError("conv_sparse_groups_maxpool: out must be the pooled convolution's "
                         "shape")
    oh, ow = ph * pool, pw * pool
    if groups > 1 and wide.shape != (n_out, oh, ow, n):
        raise ValueError("conv_sparse_groups_maxpool: wide must be (OC, OH // pool * pool, "
                         "OW // pool * pool, N)")
    xf, of, wf = xp.reshape(-1), out.reshape(-1), wide.reshape(-1)
    for g in range(groups - 1):
        _pass(xf, wp, indptr2[g], offsets, values, bias, stride, relu, g == 0, False, wf,
              n_out, oh, ow, n)
    indptr, partial = indptr2[groups - 1], groups > 1
    lanes = vec.width(xf)
    plane, wplane = ph * pw * n, oh * ow * n
    row, column = stride * wp * n, stride * n       # (one output row, one column on)
    for py in range(ph):
        for px in range(pw):
            at = (py * pool * stride * wp + px * pool * stride) * n
            for o in range(n_out):
                e0, e1 = indptr[o], indptr[o + 1]
                b = bias[o] if len(bias) else 0.0
                to = o * plane + (py * pw + px) * n
                wat = o * wplane + (py * pool * ow + px * pool) * n
                for n0 in range(0, n, 4 * lanes):
                    m = n - n0
                    if m <= 2 * lanes:                 # the batch's last two registers
                        t = _window_two(xf, offsets, values, e0, e1, at + n0, row, column,
                                        pool, lanes, m, wf, wat + n0, ow * n, n, partial)
                        vec.store(of, to + n0, vec.bias_act(t[0], b, relu), m)
                        vec.store(of, to + n0 + lanes, vec.bias_act(t[1], b, relu), m - lanes)
                        continue
                    s = _window(xf, offsets, values, e0, e1, at + n0, row, column, pool,
                                lanes, m, wf, wat + n0, ow * n, n, partial)
                    for r in range(4):
                        vec.store(of, to + n0 + r * lanes, vec.bias_act(s[r], b, relu),
                                  m - r * lanes)
    return out


def conv_sparse_tiles_maxpool_numpy(xp, indptr, offsets, values, bias, k, stride, relu, pool,
                                    out):
    """``conv_sparse_tiles_maxpool`` in NumPy (``conv_sparse_groups_maxpool_numpy``)."""
    return conv_sparse_groups_maxpool_numpy(xp, np.asarray(indptr).reshape(1, -1), offsets,
                                            values, bias, k, stride, relu, pool, None, out)


def conv_sparse_groups_maxpool_numpy(xp, indptr2, offsets, values, bias, k, stride, relu,
                                     pool, wide, out):
    """``conv_sparse_groups_maxpool`` in NumPy: the convolution of the k x k filters
    (``conv_sparse_groups_numpy``), then the maximum of each window."""
    n_out, ph, pw, n = out.shape
    oh, ow = (xp.shape[1] - k) // stride + 1, (xp.shape[2] - k) // stride + 1
    full = conv_sparse_groups_numpy(xp, indptr2, offsets, values, bias, stride, relu,
                                    np.empty((n_out, oh, ow, n), xp.dtype))
    windows = full[:, :ph * pool, :pw * pool].reshape(n_out, ph, pool, pw, pool, n)
    out[...] = windows.max(axis=(2, 4))
    return out
