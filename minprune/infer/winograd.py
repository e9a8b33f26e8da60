"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions on the
feature-major layout (C, H, W, N): 16 multiplications for each 2x2 block of outputs, where
the direct convolution takes 36 (Lavin & Gray 2016, "Fast algorithms for convolutional
neural networks"). A Numba kernel on SIMD registers (``vec``) and its NumPy twin.

In one dimension, two outputs of a 3-tap filter g over four inputs d take four products,
not six: m = (G g) * (Bᵀ d), y = Aᵀ m, with

    G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]].

Nested in two dimensions, each 4x4 tile d of the input (tiles two pixels apart) gives a 2x2
block of outputs Y = Aᵀ [(G g Gᵀ) * (Bᵀ d B)] A. A convolution sums over input channels, and
the sum passes inside Aᵀ ... A: for each of the 16 positions ξ of the 4x4 tile, the products
summed over channels are one matrix product M[ξ] (OC x tiles) = U[ξ] (OC x C) @ V[ξ] (C x
tiles). So the convolution is three passes:

1. the filters, once: U = G g Gᵀ (``filters``: 16 matrices, as the register tiles read them);
2. the input, per tile and channel: V = Bᵀ d B, additions only;
3. 16 products U[ξ] @ V[ξ] - the 36 multiplications per block of four outputs are now 16 -
   then per tile and output channel Y = Aᵀ M A, additions only, with the bias and ReLU.

The products are ``tiles``' register tiles (eight filters at two registers of the columns:
tiles times samples, contiguous), over a chunk of tiles at a time, so that the transformed
input and the products stay in the second-level cache. The transforms work a register of
samples at a time: the kernel needs at least a register of them (``vec.lanes``). Rounding
differs from the direct sum (the transforms add before they multiply) by a few units in the
last place of the inputs' scale.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..autograd.tiles import GROUP
from ..vec import add, sub
from .tiles import _sums

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]])
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]])
SKEW = 16                     # see conv_winograd
CACHE = 8192     # (input + output channels) x columns per chunk: 16 of each, 512 KB float32


def transformed(weight, c_in, g_matrix, per, dtype):
    """The lowered 3x3 weight (OC, 3·3·C), columns (kh, kw, C), as U = G g Gᵀ (``g_matrix``
    G, t x 3) for every filter and input channel, in groups of ``per`` filters as the
    kernels read them: (t·t, OC / per rounded up, C, per), ``dtype``, the filters past the
    last zero."""
    n_out, t = weight.shape[0], len(g_matrix)
    g = np.asarray(weight, np.float64).reshape(n_out, 3, 3, c_in)
    u = np.einsum("ai,oijc,bj->aboc", g_matrix, g, g_matrix).reshape(t * t, n_out, c_in)
    groups = -(-n_out // per)
    out = np.zeros((t * t, groups * per, c_in))
    out[:, :n_out] = u
    grouped = out.reshape(t * t, groups, per, c_in).transpose(0, 1, 3, 2)
    return np.ascontiguousarray(grouped, dtype=dtype)


def filters(weight, c_in):
    """``transformed`` by F(2x2, 3x3)'s G in groups of eight: (16, OC / 8, C, 8)."""
    return transformed(weight, c_in, G, GROUP, weight.dtype)


@njit(cache=True)
def work_size(c_in, n_out, n):
    """Numbers of scratch ``conv_winograd`` needs: for each of the 16 positions, a chunk's
    transformed input (C x columns) and products (OC rounded up to eight x columns), a chunk
    as many tiles as keep (C + OC) x columns within ``CACHE`` numbers (columns: tiles times
    samples), each block ``SKEW`` numbers longer."""
    filters8 = -(-n_out // GROUP) * GROUP
    cols = max(1, CACHE // ((c_in + filters8) * n)) * n
    return 16 * ((c_in + filters8) * cols + 2 * SKEW)


@njit(inline="always")
def _bt(a0, a1, a2, a3):
    """Bᵀ times four registers."""
    return sub(a0, a2), add(a1, a2), sub(a2, a1), sub(a1, a3)


@njit(inline="always")
def _at(a0, a1, a2, a3):
    """Aᵀ times four registers."""
    return add(add(a0, a1), a2), sub(sub(a1, a2), a3)


@njit(inline="always")
def _row(xf, at, n, m0, m1, m2, m3):
    """Bᵀ times four registers of a tile's input row from flat ``at`` (columns n apart), the
    first m0, m1, m2, m3 lanes loaded, zeros in the others."""
    return _bt(vec.load(xf, at, m0), vec.load(xf, at + n, m1), vec.load(xf, at + 2 * n, m2),
               vec.load(xf, at + 3 * n, m3))


@njit(inline="always")
def _tile(xf, vf, at, to, row, n, m, rows, cols, chunk_c):
    """V = Bᵀ d B of the 4x4 tile whose input starts at flat ``at`` (rows ``row`` apart)
    into vf from ``to`` on (positions ``chunk_c`` apart), m samples; ``rows`` (lanes) and
    ``cols`` (1 or 0) what is loaded of each of its rows and columns (none past the image).
    Branch-free: Numba keeps no count of references in the loop that inlines it."""
    d0 = _row(xf, at, n, rows[0] * cols[0], rows[0] * cols[1], rows[0] * cols[2],
              rows[0] * cols[3])
    d1 = _row(xf, at + row, n, rows[1] * cols[0], rows[1] * cols[1], rows[1] * cols[2],
              rows[1] * cols[3])
    d2 = _row(xf, at + 2 * row, n, rows[2] * cols[0], rows[2] * cols[1], rows[2] * cols[2],
              rows[2] * cols[3])
    d3 = _row(xf, at + 3 * row, n, rows[3] * cols[0], rows[3] * cols[1], rows[3] * cols[2],
              rows[3] * cols[3])
    step = 4 * chunk_c                                # V[4i + j]: rows of 4 positions
    _store4(vf, to, step, _bt(d0[0], d1[0], d2[0], d3[0]), m)
    _store4(vf, to + chunk_c, step, _bt(d0[1], d1[1], d2[1], d3[1]), m)
    _store4(vf, to + 2 * chunk_c, step, _bt(d0[2], d1[2], d2[2], d3[2]), m)
    _store4(vf, to + 3 * chunk_c, step, _bt(d0[3], d1[3], d2[3], d3[3]), m)


@njit(cache=True, nogil=True)
def _input(xf, vf, c, t0, t1, tw, hp, wp, n, cols, chunk_c):
    """V = Bᵀ d B of channel c's tiles t0 .. t1 - 1 into vf: position ξ, channel c, column
    (tile - t0)·n + sample at ξ·chunk_c + c·cols + column. Tiles whose input lies inside
    the image, a whole register of samples at a time, load whole registers (no masks)."""
    lanes = vec.width(xf)
    for t in range(t0, t1):
        ty, tx = divmod(t, tw)
        y0, x0 = 2 * ty, 2 * tx
        inside = y0 + 3 < hp and x0 + 3 < wp
        for b0 in range(0, n, lanes):
            m = min(n - b0, lanes)
            at = ((c * hp + y0) * wp + x0) * n + b0
            to = c * cols + (t - t0) * n + b0
            if inside and m == lanes:
                full = (lanes, lanes, lanes, lanes)
                _tile(xf, vf, at, to, wp * n, n, lanes, full, (1, 1, 1, 1), chunk_c)
            else:
                rows = (m * (y0 < hp), m * (y0 + 1 < hp), m * (y0 + 2 < hp), m * (y0 + 3 < hp))
                edge = (1 * (x0 < wp), 1 * (x0 + 1 < wp), 1 * (x0 + 2 < wp), 1 * (x0 + 3 < wp))
                _tile(xf, vf, at, to, wp * n, n, m, rows, edge, chunk_c)


@njit(inline="always")
def _store4(a, at, step, v, m):
    """Four registers into a, ``step`` apart from ``at``."""
    vec.store(a, at, v[0], m)
    vec.store(a, at + step, v[1], m)
    vec.store(a, at + 2 * step, v[2], m)
    vec.store(a, at + 3 * step, v[3], m)


@njit(cache=True, nogil=True)
def conv_winograd(xp, u, bias, relu, skip, work, out):
    """out (OC, OH, OW, N) = the 3x3 stride-1 convolution of the padded xp (C, OH + 2, OW +
    2, N) by u (16, OC / 8, C, 8) (``filters``), plus bias (if given), plus ``skip`` (OC, OH,
    OW, N) (a residual block's shortcut; if not empty), then ReLU. ``work``: scratch of
    ``work_size(C, OC, N)`` numbers."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    groups = u.shape[1]
    lanes = vec.width(xp)
    if u.shape[0] != 16 or u.shape[2] != c_in or u.shape[3] != GROUP or groups * GROUP < n_out:
        raise ValueError("conv_winograd: filters must be (16, OC / 8, C, 8)")
    if hp != oh + 2 or wp != ow + 2 or n < lanes:
        raise ValueError("conv_winograd: a 3x3 stride-1 convolution of a register of samples")
    xf, uf, of, sf = xp.reshape(-1), u.reshape(-1), out.reshape(-1), skip.reshape(-1)
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    tiles, filters8 = th * tw, groups * GROUP
    chunk = max(1, CACHE // ((c_in + filters8) * n))
    if len(work) < work_size(c_in, filters8, n):
        raise ValueError("conv_winograd: work must hold work_size(C, OC, N) numbers")
    if len(sf) and skip.shape != out.shape:
        raise ValueError("conv_winograd: skip must be empty or of the output's shape")
    biases = np.zeros(filters8, xf.dtype)
    biases[:len(bias)] = bias
    taps = np.empty(c_in, np.int64)                   # where each channel's columns start
    # Each position's block of the transformed input (C x cols) and of the products (OC x
    # cols) is ``SKEW`` numbers longer than it needs: blocks a power of two apart would fall
    # in the same sets of the cache, their 16 streams evicting each other.
    mf = work[16 * (c_in * chunk * n + SKEW):]
    for t0 in range(0, tiles, chunk):
        t1 = min(tiles, t0 + chunk)
        cols = (t1 - t0) * n
        for c in range(c_in):                                   # 1. V = Bᵀ d B
            taps[c] = c * cols
            _input(xf, work, c, t0, t1, tw, hp, wp, n, cols, c_in * cols + SKEW)
        _products(work, uf, mf, 16, groups, c_in, cols, taps)    # 2. M[ξ] = U[ξ] @ V[ξ]
        per_xi = filters8 * cols + SKEW
        for o in range(n_out):                                  # 3. Y = Aᵀ M A
            b = biases[o]
            for t in range(t0, t1):
                ty, tx = divmod(t, tw)
                whole = 2 * ty + 1 < oh and 2 * tx + 1 < ow
                for b0 in range(0, n, lanes):
                    m = min(n - b0, lanes)
                    if whole and m == lanes:               # whole registers: no masks
                        _output(mf, sf, of, o, t - t0, ty, tx, b0, n, cols, per_xi, oh, ow, b,
                                relu, lanes, (lanes, lanes, lanes, lanes))
                    else:
                        bottom, right = m * (2 * ty + 1 < oh), m * (2 * tx + 1 < ow)
                        _output(mf, sf, of, o, t - t0, ty, tx, b0, n, cols, per_xi, oh, ow, b,
                                relu, m, (m, bottom, right, bottom * (2 * tx + 1 < ow)))
    return out


@njit(cache=True, nogil=True)
def _products(vf, uf, mf, positions, groups, c_in, cols, taps):
    """For each position ξ, M[ξ] (OC x cols, at mf + ξ·(OC·cols + SKEW)) = U[ξ] (OC x C) @
    V[ξ] (C x cols, at vf + ξ·(C·cols + SKEW); ``taps``: where each channel's row starts),
    in ``tiles``' register tiles: eight filters at two registers of columns."""
    lanes = vec.width(vf)
    filters8 = groups * GROUP
    for xi in range(positions):
        for g in range(groups):
            q = (xi * groups + g) * c_in * GROUP
            for col in range(0, cols, 2 * lanes):
                m0, m1 = cols - col, cols - col - lanes
                at = xi * (c_in * cols + SKEW) + col
                if m1 >= lanes:                    # whole registers: plain loads
                    s = _sums(vf, uf, at, q, taps, lanes, lanes, lanes)
                else:
                    s = _sums(vf, uf, at, q, taps, lanes, m0, m1)
                for r in range(GROUP):
                    to = xi * (filters8 * cols + SKEW) + (g * GROUP + r) * cols + col
                    vec.store(mf, to, s[r][0], m0)
                    vec.store(mf, to + lanes, s[r][1], m1)


@njit(inline="always")
def _mrow(mf, at, per_xi, m):
    """Aᵀ times one row of a tile's products (positions per_xi apart from ``at``)."""
    return _at(vec.load(mf, at, m), vec.load(mf, at + per_xi, m),
               vec.load(mf, at + 2 * per_xi, m), vec.load(mf, at + 3 * per_xi, m))


@njit(inline="always")
def _output(mf, sf, of, o, t, ty, tx, b0, n, cols, per_xi, oh, ow, b, relu, m, put):
    """Y = Aᵀ M A for output channel o at the chunk's tile t, m samples from b0, plus the
    bias and the skip (if any), then ReLU, stored where the outputs lie: ``put`` the lanes
    stored of each (rows 0 and 1 of column 0, then of column 1; none outside the image).
    Branch-free, as ``_tile``."""
    at = o * cols + t * n + b0
    r0 = _mrow(mf, at, per_xi, m)
    r1 = _mrow(mf, at + 4 * per_xi, per_xi, m)
    r2 = _mrow(mf, at + 8 * per_xi, per_xi, m)
    r3 = _mrow(mf, at + 12 * per_xi, per_xi, m)
    to = ((o * oh + 2 * ty) * ow + 2 * tx) * n + b0
    skip = len(sf) > 0
    y = _at(r0[0], r1[0], r2[0], r3[0])
    _put(sf, of, to, y[0], b, relu, put[0], skip)
    _put(sf, of, to + ow * n, y[1], b, relu, put[1], skip)
    y = _at(r0[1], r1[1], r2[1], r3[1])
    _put(sf, of, to + n, y[0], b, relu, put[2], skip)
    _put(sf, of, to + (ow + 1) * n, y[1], b, relu, put[3], skip)


@njit(inline="always")
def _put(sf, of, to, y, b, relu, m, skip):
    """y plus the bias and the skip's register at ``to`` (if ``skip``), then ReLU, into
    of[to:to + m]."""
    vec.store(of, to, vec.bias_act(add(y, vec.load(sf, to, m * skip)), b, relu), m)


def conv_winograd_numpy(xp, u, bias, relu, skip, out):
    """``conv_winograd`` in NumPy: the three passes as ``einsum``s over every tile at once."""
    return twin(xp, u, bias, relu, skip, out, G, BT, AT)


def twin(xp, u, bias, relu, skip, out, g_matrix, bt, at):
    """The Winograd convolution F(m x m, 3x3) of the transforms ``g_matrix``, ``bt``, ``at``
    (m = len(at)) in NumPy: the input's tiles (m + 2 square, m apart) as V = Bᵀ d B, the
    products summed over channels, Y = Aᵀ M A; on (C, H, W, N) with u (positions, groups,
    C, filters per group) - any group width."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    m, t = len(at), len(bt)
    th, tw = -(-oh // m), -(-ow // m)
    xq = np.zeros((c_in, m * th + 2, m * tw + 2, n), xp.dtype)
    xq[:, :hp, :wp] = xp
    d = np.stack([np.stack([xq[:, i:i + m * th:m, j:j + m * tw:m] for j in range(t)], 3)
                  for i in range(t)], 3)                         # (C, th, tw, t, t, N)
    v = np.einsum("ai,ctuijn,bj->abctun", bt, d, bt)
    uu = u.transpose(0, 1, 3, 2).reshape(t, t, -1, c_in)[:, :, :n_out]
    products = np.einsum("abok,abktun->abotun", uu, v)
    y = np.einsum("ia,abotun,jb->otiujn", at, products, at).reshape(n_out, m * th, m * tw, n)
    y = y[:, :oh, :ow].astype(out.dtype)
    if len(bias):
        y += bias[:, None, None, None]
    if skip.size:
        y += skip
    out[...] = np.maximum(y, 0) if relu else y
    return out
