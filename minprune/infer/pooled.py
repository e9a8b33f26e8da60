"""A convolution, its bias and ReLU, and the max pooling after it, in one pass of register
tiles: the convolution's full-size output is never written.

LeNet-5's first convolution at batch 64 writes 20 x 24 x 24 x 64 numbers (2.9 MB, more than
the second-level cache) for the pooling to read straight back and keep a quarter of. Here
the tiles of ``tiles.conv_tiles`` (eight filters at one output pixel and two registers of
samples, the sums in registers; a last group of four filters or fewer at four registers of
samples, ``_pool_four``) walk the output one pooling window at a time: the window's
first pixel stores its sums where the pooled pixel goes, each further pixel keeps the larger
of its sums and those (in the first-level cache), and the bias and ReLU are added once, when
the window is done. That is the same as pooling the biased, rectified outputs: adding a
number and taking max(., 0) both keep the order of what they are applied to.

The pooling is PyTorch's MaxPool2d(p) (stride p, no padding): an image whose size p does not
divide loses its last rows and columns, whose convolution is then not computed at all.
``conv_tiles_maxpool_numpy`` is the twin.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from .. import vec
from .tiles import GROUP, _four_at, _sums, _tap_offsets, conv_tiles_numpy
from ..vec import get


@njit(cache=True, nogil=True)
def conv_tiles_maxpool(xp, w, bias, stride, relu, pool, out):
    """out (OC, OH // pool, OW // pool, N) = max pooling (pool x pool, stride pool) of the
    convolution at ``stride`` of the padded xp (C, Hp, Wp, N) by the filters w (OC / 8, C,
    k, k, 8) (``tiles.filters8``), plus bias (if given), then ReLU."""
    c_in, hp, wp, n = xp.shape
    n_out, ph, pw, _ = out.shape
    k = w.shape[2]
    if w.shape[1] != c_in or w.shape[4] != GROUP or len(w) * GROUP < n_out:
        raise ValueError("conv_tiles_maxpool: filters must be (OC / 8, C, k, k, 8)")
    if pool < 1 or ph * pool > (hp - k) // stride + 1 or pw * pool > (wp - k) // stride + 1:
        raise ValueError("conv_tiles_maxpool: out must be the pooled convolution's shape")
    xf, of, wf = xp.reshape(-1), out.reshape(-1), w.reshape(-1)
    lanes = vec.width(xf)
    plane = ph * pw * n
    taps = _tap_offsets(c_in, k, hp * wp * n, wp * n, n)
    biases = np.zeros(len(w) * GROUP, xf.dtype)
    biases[:len(bias)] = bias
    for py in range(ph):
        for px in range(pw):
            for g in range(len(w)):
                q = g * len(taps) * GROUP
                if n_out - g * GROUP <= 4:             # the last group, four filters or fewer
                    _pool_four(xf, wf, q, taps, lanes, n, of, py, px, pw, pool, stride, wp,
                               plane, g * GROUP, n_out, biases, relu)
                    continue
                for n0 in range(0, n, 2 * lanes):
                    m0, m1 = n - n0, n - n0 - lanes
                    to = (py * pw + px) * n + n0
                    for d in range(pool * pool):      # the window's pixels, row by row
                        oy, ox = py * pool + d // pool, px * pool + d % pool
                        at = (oy * stride * wp + ox * stride) * n + n0
                        s = _sums(xf, wf, at, q, taps, lanes, m0, m1)
                        for t in range(min(GROUP, n_out - g * GROUP)):
                            a = (g * GROUP + t) * plane + to
                            if d == 0:
                                vec.store(of, a, s[t][0], m0)
                                vec.store(of, a + lanes, s[t][1], m1)
                            else:
                                vec.store(of, a, vec.maximum(s[t][0], vec.load(of, a, m0)), m0)
                                vec.store(of, a + lanes,
                                          vec.maximum(s[t][1], vec.load(of, a + lanes, m1)), m1)
                    for t in range(min(GROUP, n_out - g * GROUP)):
                        a, b = (g * GROUP + t) * plane + to, get(biases, g * GROUP + t)
                        vec.store(of, a, vec.bias_act(vec.load(of, a, m0), b, relu), m0)
                        vec.store(of, a + lanes, vec.bias_act(vec.load(of, a + lanes, m1), b,
                                                              relu), m1)
    return out


@njit(inline="always")
def _pool_four(xf, wf, q, taps, lanes, n, of, py, px, pw, pool, stride, wp, plane, o0, n_out,
               biases, relu):
    """Pooled pixel (py, px) of the last group's filters o0 .. n_out - 1 (four or fewer) in
    the tiles of ``tiles._four``: each window pixel's sums, the larger kept where the pooled
    pixel goes, then the bias and ReLU."""
    for n0 in range(0, n, 4 * lanes):
        m = n - n0
        to = (py * pw + px) * n + n0
        for d in range(pool * pool):
            oy, ox = py * pool + d // pool, px * pool + d % pool
            s = _four_at(xf, wf, (oy * stride * wp + ox * stride) * n + n0, q, taps, lanes, m)
            for t in range(min(4, n_out - o0)):
                for r in range(4):
                    a, k = (o0 + t) * plane + to + r * lanes, m - r * lanes
                    v = s[t][r] if d == 0 else vec.maximum(s[t][r], vec.load(of, a, k))
                    vec.store(of, a, v, k)
        for t in range(min(4, n_out - o0)):
            b = get(biases, o0 + t)
            for r in range(4):
                a, k = (o0 + t) * plane + to + r * lanes, m - r * lanes
                vec.store(of, a, vec.bias_act(vec.load(of, a, k), b, relu), k)


def conv_tiles_maxpool_numpy(xp, w, bias, stride, relu, pool, out):
    """``conv_tiles_maxpool`` in NumPy: the convolution (``tiles.conv_tiles_numpy``), then the
    maximum of each window."""
    n_out, ph, pw, n = out.shape
    k = w.shape[2]
    oh, ow = (xp.shape[1] - k) // stride + 1, (xp.shape[2] - k) // stride + 1
    full = conv_tiles_numpy(xp, w, bias, stride, relu, np.empty((n_out, oh, ow, n), xp.dtype))
    windows = full[:, :ph * pool, :pw * pool].reshape(n_out, ph, pool, pw, pool, n)
    out[...] = windows.max(axis=(2, 4))
    return out
