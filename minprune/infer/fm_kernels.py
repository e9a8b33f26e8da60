"""Kernels of the feature-major plan, where an image batch is stored (C, H, W, N): each
channel's pixels, each pixel's samples innermost. Numba kernels, each with a plain-NumPy twin.

In this layout a convolution's output comes out of one product W @ columns already in place,
the columns of a fully connected layer after Flatten are the batch itself (features x batch:
no transposes between layers), and a *direct sparse convolution* (Park et al. 2017) applies
each stored weight to a shifted window of its input channel, the batch the contiguous inner
loop - no im2col. At one sample (N = 1) the layout is plain CHW and the inner loop runs along
an output row instead.

Weights are the lowered (out, kh·kw·C) matrices, columns ordered (kh, kw, C); a sparse one is
stored per output channel as (channel, tap row, tap column, value) entries (``taps``).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..autograd.kernels import im2col, im2col_rows  # noqa: F401 (the columns, shared)


def _out(size, k, stride, pad):
    return (size + 2 * pad - k) // stride + 1


def im2col_numpy(x, k, stride, pad):
    """``im2col`` in NumPy (the same matrix)."""
    c_in, h, w, n = x.shape
    oh, ow = _out(h, k, stride, pad), _out(w, k, stride, pad)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    cols = np.empty((k, k, c_in, oh, ow, n), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            cols[i, j] = xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
    return cols.reshape(k * k * c_in, oh * ow * n)


@njit(cache=True, nogil=True)
def bias_act(y, bias, relu):
    """y[o, :] += bias[o] (if given), then ReLU, in place; y is (rows, columns)."""
    rows, cols = y.shape
    for o in range(rows):
        add = bias[o] if len(bias) else 0.0
        r = y[o]
        if relu:
            for p in range(cols):
                v = r[p] + add
                r[p] = v if v > 0.0 else 0.0
        elif len(bias):
            for p in range(cols):
                r[p] += add
    return y


def bias_act_numpy(y, bias, relu):
    if len(bias):
        y += bias[:, None]
    return np.maximum(y, 0, out=y) if relu else y


@njit(cache=True, nogil=True)
def pad_into(x, pad, xp):
    """x (C, H, W, N) copied into the middle of xp (C, H + 2·pad, W + 2·pad, N); xp's border
    is left as it is (zeros, written once when the buffer was made)."""
    c_in, h, w, n = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    xf, pf = x.reshape(-1), xp.reshape(-1)
    span = w * n
    for c in range(c_in):
        for y in range(h):
            src, dst = (c * h + y) * span, ((c * hp + y + pad) * wp + pad) * n
            d, s_ = pf[dst:dst + span], xf[src:src + span]
            for t in range(span):
                d[t] = s_[t]
    return xp


@njit(cache=True, nogil=True)
def wide_columns(xp, k, out):
    """The columns of a stride-1 convolution over a padded xp (C, Hp, Wp, N), every output
    row taken at all Wp positions of its row ("wide"): out[(i·k + j)·C + c, t·N + b] = the
    flat pixel (i·Wp + j + t) of channel c, sample b, for t < L = (OH - 1)·Wp + OW. A row of
    columns is then one contiguous run of the input, not one run per output row; the product
    computes Wp - OW throw-away pixels per row (``narrow_bias_act`` drops them)."""
    c_in, hp, wp, n = xp.shape
    span = out.shape[1]
    xf = xp.reshape(-1)
    for i in range(k):
        for j in range(k):
            for c in range(c_in):
                src = ((c * hp + i) * wp + j) * n
                d, s_ = out[(i * k + j) * c_in + c], xf[src:src + span]
                for t in range(span):
                    d[t] = s_[t]
    return out


@njit(cache=True, nogil=True)
def narrow_bias_act(wide, wp, bias, relu, out):
    """out (OC, OH, OW, N) from a product over ``wide_columns`` (OC, L·N): output pixel (r, q)
    is the wide pixel r·Wp + q; plus bias[o] (if given), then ReLU."""
    n_out, oh, ow, n = out.shape
    of = out.reshape(-1)
    span = ow * n
    for o in range(n_out):
        add = bias[o] if len(bias) else 0.0
        row = wide[o]
        for r in range(oh):
            s_ = row[r * wp * n:r * wp * n + span]
            d = of[(o * oh + r) * span:(o * oh + r + 1) * span]
            if relu:
                for t in range(span):
                    v = s_[t] + add
                    d[t] = v if v > 0.0 else 0.0
            else:
                for t in range(span):
                    d[t] = s_[t] + add
    return out


def wide_columns_numpy(xp, k):
    """``wide_columns`` in NumPy (the same matrix)."""
    c_in, hp, wp, n = xp.shape
    span = ((hp - k) * wp + wp - k + 1) * n
    flat = xp.reshape(c_in, -1)
    return np.stack([flat[:, (i * wp + j) * n:(i * wp + j) * n + span]
                     for i in range(k) for j in range(k)]).reshape(k * k * c_in, span)


def narrow_bias_act_numpy(wide, wp, bias, relu, shape):
    n_out, oh, ow, n = shape
    full = np.zeros((n_out, oh * wp * n), dtype=wide.dtype)
    full[:, :wide.shape[1]] = wide
    y = full.reshape(n_out, oh, wp, n)[:, :, :ow] + (bias[:, None, None, None] if len(bias)
                                                     else 0)
    return np.maximum(y, 0) if relu else y


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


@njit(cache=True, nogil=True)
def pool(x, k, stride, pad, is_max, out):
    """Max or average pooling of x (C, H, W, N) into out (C, OH, OW, N); padding counts as
    -inf (max) or 0 (average, which divides by k·k, PyTorch's default count_include_pad)."""
    c_in, h, w, n = x.shape
    _, oh, ow, _ = out.shape
    for c in range(c_in):
        for r in range(oh):
            for q in range(ow):
                dst = out[c, r, q]
                dst[:] = -np.inf if is_max else 0.0
                for i in range(k):
                    y = r * stride + i - pad
                    if y < 0 or y >= h:
                        continue
                    for j in range(k):
                        xx = q * stride + j - pad
                        if xx < 0 or xx >= w:
                            continue
                        src = x[c, y, xx]
                        if is_max:
                            for b in range(n):
                                dst[b] = max(dst[b], src[b])
                        else:
                            for b in range(n):
                                dst[b] += src[b]
                if not is_max:
                    for b in range(n):
                        dst[b] /= k * k
    return out


@njit(cache=True, nogil=True)
def pool_tiled(x, k, is_max, out):
    """Pooling whose windows tile the image (stride k, no padding, k divides H and W): each
    output pixel from its k·k input pixels, whole pixels (N numbers) at a time."""
    c_in, h, w, n = x.shape
    oh, ow = h // k, w // k
    xf, of = x.reshape(-1), out.reshape(-1)
    if n == 1 and k == 2 and is_max:  # the common case, unrolled: LeNet's and VGG's pools
        for c in range(c_in):
            for r in range(oh):
                a, o = (c * h + 2 * r) * w, (c * oh + r) * ow
                for q in range(ow):
                    f = a + 2 * q
                    m1 = max(xf[f], xf[f + 1])
                    m2 = max(xf[f + w], xf[f + w + 1])
                    of[o + q] = max(m1, m2)
        return out
    if n == 1:                        # one sample: plain scalar loops, no slices to build
        for c in range(c_in):
            for r in range(oh):
                for q in range(ow):
                    first = (c * h + r * k) * w + q * k
                    acc = xf[first]
                    for i in range(k):
                        for j in range(k):
                            v = xf[first + i * w + j]
                            if is_max:
                                acc = max(acc, v)
                            elif i or j:
                                acc += v
                    of[(c * oh + r) * ow + q] = acc if is_max else acc / (k * k)
        return out
    for c in range(c_in):
        for r in range(oh):
            for q in range(ow):
                d0 = ((c * oh + r) * ow + q) * n
                first = ((c * h + r * k) * w + q * k) * n
                d = of[d0:d0 + n]
                src = xf[first:first + n]
                for b in range(n):
                    d[b] = src[b]
                for i in range(k):
                    for j in range(k):
                        if i == 0 and j == 0:
                            continue
                        s0 = ((c * h + r * k + i) * w + q * k + j) * n
                        src = xf[s0:s0 + n]
                        if is_max:
                            for b in range(n):
                                if src[b] > d[b]:
                                    d[b] = src[b]
                        else:
                            for b in range(n):
                                d[b] += src[b]
                if not is_max:
                    for b in range(n):
                        d[b] /= k * k
    return out


def pool_numpy(x, k, stride, pad, is_max):
    c_in, h, w, n = x.shape
    oh, ow = _out(h, k, stride, pad), _out(w, k, stride, pad)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)),
                constant_values=-np.inf if is_max else 0.0)
    windows = np.stack([xp[:, i:i + stride * oh:stride, j:j + stride * ow:stride]
                        for i in range(k) for j in range(k)])
    return windows.max(axis=0) if is_max else windows.sum(axis=0) / (k * k)
