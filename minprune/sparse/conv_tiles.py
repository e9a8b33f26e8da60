"""Sparse direct convolution of a batch in register tiles on the feature-major layout (C, H,
W, N): only the stored weights are multiplied, their sums held in registers. A Numba kernel
on SIMD registers (``vec``) and its NumPy twin, which the inference plan runs
(``infer.fm_conv``, ``infer.batch_chain``) and ``SparseConv2d``'s forward in training too.

Park et al.'s direct sparse convolution (``infer.direct``) applies each stored weight to a shifted
window of the input and adds into rows of sums in memory: per multiply-add a load and a store
of a sum beside the load of the input. Here a tile is one output channel at a square of
four output pixels (two rows of two) and four registers of samples (64 float32 samples, 32
float64): its sixteen sums stay in registers while the kernel walks the channel's stored
weights, each a number and the offset of its (input channel, tap) in the padded input (the
batch's last two registers or fewer in a tile two registers wide: no loads and multiply-adds
of samples that are not there). Per weight, sixteen registers of input are loaded (four
samples' registers at each pixel) for sixteen fused multiply-adds and no store: half the
memory traffic of the loop with sums in memory, and none of it written. The tiles walk the
output a square at a time and, at each square, every output channel, so the windows the
square reads stay in cache for all of them.

Each multiply-add loads its own register of input, and the weight's number and offset are
two more loads: the load ports, not the multiply-adds, bound the loop. A square of four
pixels shares those two loads among sixteen multiply-adds where a pair of pixels shared them
among eight, and each pixel's sums are stored by name, not by an index the compiler must
keep the tile in memory for. Measured against the pairs, batch 64, one thread, in turns:
LeNet-5's second convolution at 27.5% of its weights with its pooling 3-7% faster; a
resnet's 3 x 3 layers at 10% (16 to 64 channels, 32 x 32 to 8 x 8 pixels, stride 1 and 2)
1.2x-1.55x, at 30% 1.1x-1.17x.

A square's windows, across all input channels, are larger than the first-level cache in the
layers that matter (LeNet-5's second convolution at batch 64: 20 channels of 6 x 6 pixels of
256 bytes, 184 KB), and each output channel's weights read it from the second
level. ``conv_sparse_groups`` takes the stored weights in groups of input channels
(``grouped``, ``per_group``: about 40 KB of windows each, more channels where an output
channel would have fewer than 16 weights in a group) and makes one pass of the tiles per
group, each adding its sums to what the passes before left in the output; the last adds
the bias and ReLU (``finish``).

The weights come per output channel in CSR order (``entries``: the offsets depend on the
padded input's shape, so they are made per shape). A batch that is not a multiple of four
registers is loaded and stored in part (``vec.load``'s lane count); where an odd last row or
column leaves a square one pixel short, that pixel is computed twice and stored once.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from ..vec import add, fma, get


def entries(csr_indices, k, c_in, hp, wp, n):
    """The flat offset in the padded input (C, Hp, Wp, N) of each stored weight, from its
    column in the lowered (out, k·k·C) weight (columns ordered kh, kw, C)."""
    col = np.asarray(csr_indices, dtype=np.int64)
    tap, c = np.divmod(col, c_in)
    i, j = np.divmod(tap, k)
    return ((c * hp + i) * wp + j) * n


@njit(inline="always")
def _four(xf, a, lanes, m0, m1, m2, m3):
    return (vec.load(xf, a, m0), vec.load(xf, a + lanes, m1),
            vec.load(xf, a + 2 * lanes, m2), vec.load(xf, a + 3 * lanes, m3))


@njit(inline="always")
def _sums(xf, offsets, values, e0, e1, at, d1, d2, lanes, m0, m1, m2, m3):
    """Sixteen sums: the stored weights e0..e1 at a square of four pixels, whose windows
    start at flat ``at``, ``at + d1``, ``at + d2`` and ``at + d1 + d2`` (a column and a row
    on, or 0 where the square has one), four registers of samples each."""
    z = vec.zero(xf)
    s = (z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z)
    for e in range(e0, e1):
        a = at + get(offsets, e)
        v = get(values, e)
        x = _four(xf, a, lanes, m0, m1, m2, m3)
        y = _four(xf, a + d1, lanes, m0, m1, m2, m3)
        u = _four(xf, a + d2, lanes, m0, m1, m2, m3)
        w = _four(xf, a + d1 + d2, lanes, m0, m1, m2, m3)
        s = (fma(x[0], v, s[0]), fma(x[1], v, s[1]), fma(x[2], v, s[2]), fma(x[3], v, s[3]),
             fma(y[0], v, s[4]), fma(y[1], v, s[5]), fma(y[2], v, s[6]), fma(y[3], v, s[7]),
             fma(u[0], v, s[8]), fma(u[1], v, s[9]), fma(u[2], v, s[10]), fma(u[3], v, s[11]),
             fma(w[0], v, s[12]), fma(w[1], v, s[13]), fma(w[2], v, s[14]),
             fma(w[3], v, s[15]))
    return s


@njit(inline="always")
def _two_register_sums(xf, offsets, values, e0, e1, at, d1, d2, lanes, m):
    """``_sums`` on two registers of samples (the first m numbers): eight sums."""
    z = vec.zero(xf)
    s = (z, z, z, z, z, z, z, z)
    for e in range(e0, e1):
        a = at + get(offsets, e)
        v = get(values, e)
        b, c, d = a + d1, a + d2, a + d1 + d2
        s = (fma(vec.load(xf, a, m), v, s[0]), fma(vec.load(xf, a + lanes, m - lanes), v, s[1]),
             fma(vec.load(xf, b, m), v, s[2]), fma(vec.load(xf, b + lanes, m - lanes), v, s[3]),
             fma(vec.load(xf, c, m), v, s[4]), fma(vec.load(xf, c + lanes, m - lanes), v, s[5]),
             fma(vec.load(xf, d, m), v, s[6]), fma(vec.load(xf, d + lanes, m - lanes), v, s[7]))
    return s


@njit(inline="always")
def finish(v, of, at, m, first, last, b, relu):
    """Store sums v at flat ``at`` of of (the first m numbers): plus the sums there but in
    the ``first`` pass over them, the bias and ReLU added in the ``last``."""
    if not first:
        v = add(v, vec.load(of, at, m))
    if last:
        v = vec.bias_act(v, b, relu)
    vec.store(of, at, v, m)


@njit(inline="always")
def _pixel_out(v0, v1, v2, v3, of, at, m, lanes, first, last, b, relu):
    """Four registers of one pixel's sums (the first m numbers) ``finish``ed at flat at."""
    finish(v0, of, at, m, first, last, b, relu)
    finish(v1, of, at + lanes, m - lanes, first, last, b, relu)
    finish(v2, of, at + 2 * lanes, m - 2 * lanes, first, last, b, relu)
    finish(v3, of, at + 3 * lanes, m - 3 * lanes, first, last, b, relu)


@njit(inline="always")
def _square_out(s, of, at, m, lanes, right, down, row, column, first, last, b, relu):
    """A square's sixteen sums ``finish``ed, its first pixel at flat at: the pixel a column
    on where ``right``, the two a row on where ``down`` (a square at the last row or column
    of an odd output has fewer pixels)."""
    _pixel_out(s[0], s[1], s[2], s[3], of, at, m, lanes, first, last, b, relu)
    if right:
        _pixel_out(s[4], s[5], s[6], s[7], of, at + column, m, lanes, first, last, b, relu)
    if down:
        _pixel_out(s[8], s[9], s[10], s[11], of, at + row, m, lanes, first, last, b, relu)
        if right:
            _pixel_out(s[12], s[13], s[14], s[15], of, at + row + column, m, lanes, first,
                       last, b, relu)


@njit(inline="always")
def _pair_out(v0, v1, of, at, m, lanes, first, last, b, relu):
    """Two registers of one pixel's sums (the first m numbers) ``finish``ed at flat at."""
    finish(v0, of, at, m, first, last, b, relu)
    finish(v1, of, at + lanes, m - lanes, first, last, b, relu)


@njit(inline="always")
def _last_samples(xf, offsets, values, e0, e1, at, d1, d2, of, to, m, lanes, right, down, row,
                  column, first, last, b, relu):
    """A square's tile for the batch's last m samples, fewer than four registers (as
    ``_square_out`` stores it): two registers wide where they fit, else four loaded in
    part. (The two-register case stores its own pixels: padding its sums out to
    ``_square_out``'s sixteen with zero registers, stored as nothing, ran batches of 16 and
    65 12-27% slower.)"""
    if m > 2 * lanes:
        s = _sums(xf, offsets, values, e0, e1, at, d1, d2, lanes, m, m - lanes,
                  m - 2 * lanes, m - 3 * lanes)
        _square_out(s, of, to, m, lanes, right, down, row, column, first, last, b, relu)
        return
    t = _two_register_sums(xf, offsets, values, e0, e1, at, d1, d2, lanes, m)
    _pair_out(t[0], t[1], of, to, m, lanes, first, last, b, relu)
    if right:
        _pair_out(t[2], t[3], of, to + column, m, lanes, first, last, b, relu)
    if down:
        _pair_out(t[4], t[5], of, to + row, m, lanes, first, last, b, relu)
        if right:
            _pair_out(t[6], t[7], of, to + row + column, m, lanes, first, last, b, relu)


@njit(inline="always")
def _pass(xf, wp, indptr, offsets, values, bias, stride, relu, first, last, of, n_out, oh,
          ow, n):
    """One pass of the tiles over the output (n_out, oh, ow, n) flat in of: the stored weights
    indptr's rows give (all, or one group of input channels) added as ``finish`` says. The
    batch's whole tiles of four registers run in a loop of their own and its last samples
    after it (kept out of that loop, the compiled tiles ran 5-7% faster)."""
    lanes = vec.width(xf)
    plane = oh * ow * n
    whole = n - n % (4 * lanes)
    for oy in range(0, oh, 2):
        down = oy + 1 < oh
        for ox in range(0, ow, 2):
            right = ox + 1 < ow
            at = (oy * stride * wp + ox * stride) * n
            d1 = stride * n if right else 0
            d2 = stride * wp * n if down else 0
            for o in range(n_out):
                e0, e1 = indptr[o], indptr[o + 1]
                b = bias[o] if len(bias) else 0.0
                to = o * plane + (oy * ow + ox) * n
                for n0 in range(0, whole, 4 * lanes):
                    s = _sums(xf, offsets, values, e0, e1, at + n0, d1, d2, lanes, lanes,
                              lanes, lanes, lanes)
                    _square_out(s, of, to + n0, 4 * lanes, lanes, right, down, ow * n, n,
                                first, last, b, relu)
                if whole < n:
                    _last_samples(xf, offsets, values, e0, e1, at + whole, d1, d2, of,
                                  to + whole, n - whole, lanes, right, down, ow * n, n, first,
                                  last, b, relu)


@njit(cache=True, nogil=True)
def conv_sparse_tiles(xp, indptr, offsets, values, bias, stride, relu, out):
    """out (OC, OH, OW, N) = the convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by
    the sparse filters: output channel o's stored weights are values[indptr[o]:indptr[o + 1]],
    each at flat input offset ``offsets`` (``entries``); plus bias (if given), then ReLU."""
    return conv_sparse_groups(xp, indptr.reshape(1, -1), offsets, values, bias, stride, relu,
                              out)


@njit(cache=True, nogil=True)
def conv_sparse_groups(xp, indptr2, offsets, values, bias, stride, relu, out):
    """``conv_sparse_tiles`` with the stored weights in groups of input channels
    (``grouped``): a pass of the tiles per group, each adding its sums to out."""
    wp, n = xp.shape[2], xp.shape[3]
    n_out, oh, ow, _ = out.shape
    groups = indptr2.shape[0]
    if groups < 1 or indptr2.shape[1] != n_out + 1 or (len(bias) and len(bias) != n_out):
        raise ValueError("conv_sparse_groups: a group of weights at least, a row of weights "
                         "and a bias per output channel")
    xf, of = xp.reshape(-1), out.reshape(-1)
    for g in range(groups):
        _pass(xf, wp, indptr2[g], offsets, values, bias, stride, relu, g == 0,
              g == groups - 1, of, n_out, oh, ow, n)
    return out


def grouped(indptr, keys, per_group, groups=1):
    """The order of CSR rows' stored weights (``indptr``; ``keys``, one each: an input
    channel, an input) by group of ``per_group`` keys, then row, then key, and indptr2
    (groups, rows + 1) on that order: group g's weights of row o are indptr2[g, o]:indptr2[g,
    o + 1]; ``groups`` groups at least. Returns (indptr2, order)."""
    indptr = np.asarray(indptr, np.int64)
    rows = len(indptr) - 1
    keys = np.asarray(keys, np.int64)
    group = keys // max(1, per_group)
    groups = max(groups, int(group.max()) + 1 if len(group) else 1)
    row = np.repeat(np.arange(rows), np.diff(indptr))
    order = np.lexsort((keys, row, group))
    counts = np.zeros((groups, rows), np.int64)
    np.add.at(counts, (group, row), 1)
    starts = np.concatenate([[0], np.cumsum(counts.reshape(-1))])
    indptr2 = np.empty((groups, rows + 1), np.int64)
    indptr2[:, :rows] = starts[:-1].reshape(groups, rows)
    indptr2[:, rows] = starts[rows::rows]
    return indptr2, order


WINDOWS = 40 << 10     # bytes of input windows a group's tiles keep in the first-level cache
WEIGHTS = 16           # stored weights an output channel has, at least, in a group
# A square's windows are k + stride rows of k + stride pixels of four registers of samples
# per input channel: 9.2 KB in LeNet-5's second convolution at batch 64, whose 20 channels'
# 184 KB came from the second-level cache for each of the 50 output channels. At 27.5% of its
# weights, one thread, with its pooling: all 20 channels in one pass 789 us, groups of 2 / 3 /
# 4 / 5 / 10 channels 620 / 572 / 562 / 594 / 716 (pairs of pixels; squares: groups of 3 / 4
# / 5 687 / 674 / 719). But a pass loads and stores each tile's sums however few weights it
# brings: a resnet's 3 x 3 layers at 10% (0.9 weights per channel and output channel) ran
# 16 channels in groups of 4 / 7 / 10 / 16 in 1217 / 856 / 691 / 620 us, 64 channels at 30%
# in groups of 4 / 7 / 10 / 16 / 64 in 1399 / 1194 / 1212 / 1417 / 1485.


def per_group(k, stride, n, dtype, per_channel=None):
    """Input channels per group of a k x k convolution's stored weights at batch n: as many
    as keep a tile's windows (a square's, at each pixel a tile's four registers of samples or
    the whole batch) within ``WINDOWS``, or, where more, as many as give each output channel
    ``WEIGHTS`` stored weights (``per_channel``: stored weights per output channel and input
    channel, on average; None: all k x k)."""
    pixel = max(1, min(n, 4 * vec.lanes(dtype)) * np.dtype(dtype).itemsize)
    windows = max(1, WINDOWS // ((k + stride) ** 2 * pixel))
    per_channel = k * k if per_channel is None else per_channel
    return max(windows, int(np.ceil(WEIGHTS / max(per_channel, 1e-9))))


def grouped_entries(indptr, indices, k, shape, stride, dtype, samples=None, per=None):
    """(indptr2, offsets, order) of a convolution's stored weights (CSR indptr, their columns
    ``indices`` in the lowered weight) in groups of ``per`` input channels (``grouped``; None:
    ``per_group``'s choice at batch ``samples``, else the shape's N), offsets in a padded
    input of ``shape`` (C, Hp, Wp, N) (``entries``): values[order] are the weights in that
    order."""
    cols = np.asarray(indices, np.int64)
    if per is None:
        rows = max(1, len(indptr) - 1)
        per = per_group(k, stride, shape[3] if samples is None else samples, dtype,
                        len(cols) / (rows * shape[0]))
    indptr2, order = grouped(indptr, cols % shape[0], per)
    return indptr2, entries(cols[order], k, *shape), order


def conv_sparse_tiles_numpy(xp, indptr, offsets, values, bias, stride, relu, out):
    """``conv_sparse_tiles`` in NumPy: each stored weight times its shifted window."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    flat = xp.reshape(-1)
    rows = (np.arange(oh) * stride * wp)[:, None] + np.arange(ow) * stride     # (OH, OW)
    pixel = (rows * n)[..., None] + np.arange(n)                             # (OH, OW, N)
    y = np.zeros(out.shape, dtype=np.result_type(xp, values))
    for o in range(n_out):
        for e in range(indptr[o], indptr[o + 1]):
            y[o] += values[e] * flat[pixel + offsets[e]]
    if len(bias):
        y += bias[:, None, None, None]
    out[...] = np.maximum(y, 0) if relu else y
    return out


def conv_sparse_groups_numpy(xp, indptr2, offsets, values, bias, stride, relu, out):
    """``conv_sparse_groups`` in NumPy: each group's convolution (``conv_sparse_tiles_numpy``)
    added up, then the bias and ReLU."""
    total = np.zeros(out.shape, np.result_type(xp, values))
    for indptr in indptr2:
        total += conv_sparse_tiles_numpy(xp, indptr, offsets, values, (), stride, False,
                                         np.empty_like(total))
    if len(bias):
        total += np.asarray(bias)[:, None, None, None]
    out[...] = np.maximum(total, 0) if relu else total
    return out
