"""A sparse convolution, its bias and ReLU, and the max pooling after it, in one pass of the
register tiles of ``conv_tiles``: the convolution's full-size output is never written.

``pooled`` does this for dense filters. A sparse layer has fewer multiply-adds per output
than a dense one (LeNet-5's first convolution at 90% in every layer: two or three per
output, against 25), so the outputs' traffic is most of its time: at batch 64 the
convolution's 20 x 24 x 24 x 64 numbers (2.9 MB, more than the second-level cache) were
written for the pooling to read straight back and keep a quarter of. Here a tile is one
output channel at four registers of samples and one pooling window: the window's pixels
are summed a square of four at a time (``conv_tiles._sums``: one pass over the channel's
stored weights for four pixels; a 2 x 2 pooling's window is one square), the largest kept in
registers, and the bias and ReLU added once at the end - the same as pooling the biased,
rectified outputs (adding a number and taking max(., 0) both keep the order of what they are
applied to).

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

from ..jit import njit
from .. import vec
from ..vec import add, maximum
from ..sparse.conv_tiles import _pass, _sums, _two_register_sums, conv_sparse_groups_numpy


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
def _larger(p, q):
    """The larger of two sums, register by register, of two tuples of four."""
    return (maximum(p[0], q[0]), maximum(p[1], q[1]), maximum(p[2], q[2]), maximum(p[3], q[3]))


@njit(inline="always")
def _window(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m, wf, wat, wrow,
            wcol, partial):
    """The largest sums of a pool x pool window of pixels (the first at flat ``at``, rows
    ``row`` and columns ``column`` numbers apart) for four registers of samples (the first
    m numbers), a square of four pixels at a time (``conv_tiles._sums``; of an odd pool, the
    last row and column twice: the maximum is the same); where ``partial``, each pixel's
    sums so far (at ``wat`` of wf, ``wrow`` and ``wcol`` apart) added first."""
    z = vec.zero(xf)
    best = (z, z, z, z)
    half = (pool + 1) // 2
    for d in range(half * half):
        dy, dx = divmod(d, half)
        right, down = 2 * dx + 1 < pool, 2 * dy + 1 < pool
        s = _sums(xf, offsets, values, e0, e1, at + 2 * (dy * row + dx * column),
                  column if right else 0, row if down else 0, lanes, m, m - lanes,
                  m - 2 * lanes, m - 3 * lanes)
        w = wat + 2 * (dy * wrow + dx * wcol)
        w1, w2 = wcol if right else 0, wrow if down else 0
        square = _larger(
            _larger(_plus((s[0], s[1], s[2], s[3]), wf, w, lanes, m, partial),
                    _plus((s[4], s[5], s[6], s[7]), wf, w + w1, lanes, m, partial)),
            _larger(_plus((s[8], s[9], s[10], s[11]), wf, w + w2, lanes, m, partial),
                    _plus((s[12], s[13], s[14], s[15]), wf, w + w1 + w2, lanes, m, partial)))
        best = square if d == 0 else _larger(best, square)
    return best


@njit(inline="always")
def _window_two(xf, offsets, values, e0, e1, at, row, column, pool, lanes, m, wf, wat, wrow,
                wcol, partial):
    """``_window`` on two registers of samples (the batch's last ones)."""
    z = vec.zero(xf)
    best = (z, z)
    half = (pool + 1) // 2
    for d in range(half * half):
        dy, dx = divmod(d, half)
        right, down = 2 * dx + 1 < pool, 2 * dy + 1 < pool
        s = _two_register_sums(xf, offsets, values, e0, e1, at + 2 * (dy * row + dx * column),
                               column if right else 0, row if down else 0, lanes, m)
        w = wat + 2 * (dy * wrow + dx * wcol)
        w1, w2 = wcol if right else 0, wrow if down else 0
        if partial:
            s = (add(s[0], vec.load(wf, w, m)), add(s[1], vec.load(wf, w + lanes, m - lanes)),
                 add(s[2], vec.load(wf, w + w1, m)),
                 add(s[3], vec.load(wf, w + w1 + lanes, m - lanes)),
                 add(s[4], vec.load(wf, w + w2, m)),
                 add(s[5], vec.load(wf, w + w2 + lanes, m - lanes)),
                 add(s[6], vec.load(wf, w + w1 + w2, m)),
                 add(s[7], vec.load(wf, w + w1 + w2 + lanes, m - lanes)))
        square = (maximum(maximum(s[0], s[2]), maximum(s[4], s[6])),
                  maximum(maximum(s[1], s[3]), maximum(s[5], s[7])))
        best = square if d == 0 else (maximum(best[0], square[0]),
                                      maximum(best[1], square[1]))
    return best


@njit(inline="always")
def _pooled_out(s, of, at, m, lanes, b, relu):
    """Four registers of pooled sums (the first m numbers) at flat at of of, with the bias
    and ReLU."""
    vec.store(of, at, vec.bias_act(s[0], b, relu), m)
    vec.store(of, at + lanes, vec.bias_act(s[1], b, relu), m - lanes)
    vec.store(of, at + 2 * lanes, vec.bias_act(s[2], b, relu), m - 2 * lanes)
    vec.store(of, at + 3 * lanes, vec.bias_act(s[3], b, relu), m - 3 * lanes)


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
    whole = n - n % (4 * lanes)                     # (samples in whole tiles of 4 registers)
    for py in range(ph):
        for px in range(pw):
            at = (py * pool * stride * wp + px * pool * stride) * n
            for o in range(n_out):
                e0, e1 = indptr[o], indptr[o + 1]
                b = bias[o] if len(bias) else 0.0
                to = o * plane + (py * pw + px) * n
                wat = o * wplane + (py * pool * ow + px * pool) * n
                for n0 in range(0, whole, 4 * lanes):
                    s = _window(xf, offsets, values, e0, e1, at + n0, row, column, pool,
                                lanes, 4 * lanes, wf, wat + n0, ow * n, n, partial)
                    _pooled_out(s, of, to + n0, 4 * lanes, lanes, b, relu)
                m = n - whole
                if m > 2 * lanes:                      # the batch's last samples
                    s = _window(xf, offsets, values, e0, e1, at + whole, row, column, pool,
                                lanes, m, wf, wat + whole, ow * n, n, partial)
                    _pooled_out(s, of, to + whole, m, lanes, b, relu)
                elif m > 0:                            # (two registers or fewer)
                    t = _window_two(xf, offsets, values, e0, e1, at + whole, row, column,
                                    pool, lanes, m, wf, wat + whole, ow * n, n, partial)
                    vec.store(of, to + whole, vec.bias_act(t[0], b, relu), m)
                    vec.store(of, to + whole + lanes, vec.bias_act(t[1], b, relu), m - lanes)
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
