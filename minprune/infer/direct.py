"""Direct sparse convolution (Park et al. 2017) on the feature-major layout (C, H, W, N):
each stored weight applied to a shifted window of its input channel, the batch the contiguous
inner loop - no im2col. At one sample (N = 1) the layout is plain CHW and the inner loop runs
along an output row instead. Numba kernels with their NumPy twin.

A sparse weight, the lowered (out, kh·kw·C) matrix with columns ordered (kh, kw, C), is stored
per output channel as (channel, tap row, tap column, value) entries (``taps``).
``direct_conv`` is the sweep as the paper writes it; the plan runs ``direct_conv_padded``.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit


@njit(cache=True, nogil=True)
def direct_conv(x, indptr, chan, tap_i, tap_j, values, bias, stride, pad, relu, out):
    """Direct sparse convolution: out (OC, OH, OW, N) from x (C, H, W, N), both C-contiguous;
    output channel o sums its stored weights indptr[o]:indptr[o + 1], each (chan, tap_i,
    tap_j, value) times the window of its channel shifted by its tap, plus bias[o], then ReLU.

    Both arrays are walked flat: with stride 1 the output pixels q0..q1 of a row and their
    window in the input are each one contiguous run of (q1 - q0)·N numbers, so the innermost
    loop is one long multiply-add along both (along the row at one sample, along row and batch
    together at many); with a larger stride it runs over the batch."""
    c_in, h, w, n = x.shape
    n_out, oh, ow, _ = out.shape
    xf = x.reshape(-1)
    of = out.reshape(-1)
    plane = oh * ow * n
    for o in range(n_out):
        start = o * plane
        add = bias[o] if len(bias) else 0.0
        dst_plane = of[start:start + plane]       # (slices: vector loops, as below)
        for p in range(plane):
            dst_plane[p] = add
        for e in range(indptr[o], indptr[o + 1]):
            c, i, j, v = chan[e], tap_i[e], tap_j[e], values[e]
            # the output pixels whose window tap (i, j) lands inside the image
            r0 = max(0, (pad - i + stride - 1) // stride)
            r1 = min(oh, (h - 1 + pad - i) // stride + 1)
            q0 = max(0, (pad - j + stride - 1) // stride)
            q1 = min(ow, (w - 1 + pad - j) // stride + 1)
            if r0 >= r1 or q0 >= q1:
                continue
            span = (q1 - q0) * n
            for r in range(r0, r1):
                y = r * stride + i - pad
                dst = start + (r * ow + q0) * n
                src = ((c * h + y) * w + q0 * stride + j - pad) * n
                if stride == 1:        # (slices, not offsets: LLVM vectorizes these loops)
                    d, s_ = of[dst:dst + span], xf[src:src + span]
                    for t in range(span):
                        d[t] += v * s_[t]
                else:
                    for q in range(q1 - q0):
                        d = of[dst + q * n:dst + q * n + n]
                        s_ = xf[src + q * stride * n:src + q * stride * n + n]
                        for b in range(n):
                            d[b] += v * s_[b]
        if relu:
            for p in range(plane):
                dst_plane[p] = max(dst_plane[p], 0.0)
    return out


@njit(cache=True, nogil=True)
def direct_conv_padded(xp, indptr, chan, tap_i, tap_j, values, bias, stride, relu, wide,
                       out):
    """``direct_conv`` over an input padded beforehand (xp, its border zeros): every tap then
    reads a whole window, so a filter's stored weights are applied four at a time - one pass
    over the output per four weights, not per weight (measured 1.6x faster on LeNet-5's
    second convolution at 10%, batch 64). With stride 1 and short output rows (one sample),
    the output of a filter is summed over *wide* rows in ``wide`` (scratch of xp[0].size
    numbers) - one run per weight, as in ``wide_columns`` - and narrowed at the end."""
    c_in, hp, wp, n = xp.shape
    n_out, oh, ow, _ = out.shape
    xf, of = xp.reshape(-1), out.reshape(-1)
    row, plane = ow * n, oh * ow * n
    flat = stride == 1 and row < 256
    rows, span = (1, ((oh - 1) * wp + ow) * n) if flat else (oh, row)
    in_row = stride * wp * n
    for o in range(n_out):
        add = bias[o] if len(bias) else 0.0
        dst = of[o * plane:(o + 1) * plane]
        acc = wide[:span] if flat else dst
        for t in range(len(acc)):
            acc[t] = 0.0 if flat else add
        e, end = indptr[o], indptr[o + 1]
        while e + 4 <= end:
            _apply4(acc, xf, _at(e, chan, tap_i, tap_j, hp, wp, n),
                    _at(e + 1, chan, tap_i, tap_j, hp, wp, n),
                    _at(e + 2, chan, tap_i, tap_j, hp, wp, n),
                    _at(e + 3, chan, tap_i, tap_j, hp, wp, n), values[e], values[e + 1],
                    values[e + 2], values[e + 3], rows, span, in_row, row, stride, ow, n)
            e += 4
        for last in range(e, end):
            _apply1(acc, xf, _at(last, chan, tap_i, tap_j, hp, wp, n), values[last], rows,
                    span, in_row, row, stride, ow, n)
        if flat:
            for r in range(oh):
                s_, d = acc[r * wp * n:r * wp * n + row], dst[r * row:(r + 1) * row]
                for t in range(row):
                    v = s_[t] + add
                    d[t] = v if v > 0.0 or not relu else 0.0
        elif relu:
            for t in range(plane):
                dst[t] = max(dst[t], 0.0)
    return out


@njit(cache=True, nogil=True)
def _at(e, chan, tap_i, tap_j, hp, wp, n):
    """Where the window of stored weight e starts in the flat padded input."""
    return ((chan[e] * hp + tap_i[e]) * wp + tap_j[e]) * n


@njit(cache=True, nogil=True)
def _apply4(acc, xf, b0, b1, b2, b3, v0, v1, v2, v3, rows, span, in_row, out_row, stride,
            ow, n):
    """acc += four weights times their windows: rows of ``span`` numbers (stride 1), else
    pixel by pixel (N numbers each)."""
    for r in range(rows):
        a, i = r * out_row, r * in_row
        if stride == 1:
            d = acc[a:a + span]
            s0, s1 = xf[b0 + i:b0 + i + span], xf[b1 + i:b1 + i + span]
            s2, s3 = xf[b2 + i:b2 + i + span], xf[b3 + i:b3 + i + span]
            for t in range(span):
                d[t] += v0 * s0[t] + v1 * s1[t] + v2 * s2[t] + v3 * s3[t]
        else:
            for q in range(ow):
                d, c = acc[a + q * n:a + q * n + n], i + q * stride * n
                s0, s1 = xf[b0 + c:b0 + c + n], xf[b1 + c:b1 + c + n]
                s2, s3 = xf[b2 + c:b2 + c + n], xf[b3 + c:b3 + c + n]
                for t in range(n):
                    d[t] += v0 * s0[t] + v1 * s1[t] + v2 * s2[t] + v3 * s3[t]


@njit(cache=True, nogil=True)
def _apply1(acc, xf, b0, v0, rows, span, in_row, out_row, stride, ow, n):
    """acc += one weight times its window (``_apply4`` for the last one to three)."""
    for r in range(rows):
        a, i = r * out_row, r * in_row
        if stride == 1:
            d, s0 = acc[a:a + span], xf[b0 + i:b0 + i + span]
            for t in range(span):
                d[t] += v0 * s0[t]
        else:
            for q in range(ow):
                d, c = acc[a + q * n:a + q * n + n], i + q * stride * n
                s0 = xf[b0 + c:b0 + c + n]
                for t in range(n):
                    d[t] += v0 * s0[t]


def direct_conv_numpy(x, indptr, chan, tap_i, tap_j, values, bias, stride, pad, relu, out):
    """``direct_conv`` with one shifted-window slice per stored weight."""
    c_in, h, w, n = x.shape
    n_out, oh, ow, _ = out.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out[:] = 0.0 if not len(bias) else bias[:, None, None, None]
    for o in range(n_out):
        for e in range(indptr[o], indptr[o + 1]):
            i, j = tap_i[e], tap_j[e]
            out[o] += values[e] * xp[chan[e], i:i + stride * oh:stride, j:j + stride * ow:stride]
    if relu:
        np.maximum(out, 0, out=out)
    return out


def taps(weight, k, c_in):
    """A sparse (out, k·k·C) conv weight (dense array with zeros, or CSR) as the entries
    ``direct_conv`` reads: (indptr, chan, tap_i, tap_j, values)."""
    from ..sparse.csr import CSR  # lazy: the CSR class only for its arrays
    if isinstance(weight, CSR):
        csr = weight
    elif isinstance(weight, np.ndarray):
        csr = CSR.from_dense(weight, weight != 0)
    else:                                                   # N:M storage
        csr = weight.to_csr()
    cols = csr.indices.astype(np.int64)
    tap, chan = np.divmod(cols, c_in)
    tap_i, tap_j = np.divmod(tap, k)
    return (csr.indptr.astype(np.int64), chan.astype(np.int64), tap_i.astype(np.int64),
            tap_j.astype(np.int64), np.ascontiguousarray(csr.values))
