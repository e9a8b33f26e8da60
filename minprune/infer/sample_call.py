"""A resnet's samples run channels last in one compiled call: the kernels of
``channels_last``'s steps, in the ways their first call chose, replayed from a program.

The steps call a kernel per convolution, each from Python (some 4 us of Python and Numba's
dispatch per convolution: resnet8's nine convolutions took 119 us in their kernels and 163
us as steps). Once every convolution's way is chosen, ``SampleCall`` writes down what the
steps do as rows of numbers - which kernel, which buffers it reads and writes, which
filters and bias - and ``run`` carries the rows out in one compiled call, sample after
sample: the sample loaded channels last into the first padded buffer, each convolution into
a buffer of its own (copied into a padded one for the next where that one pads: the kernels
read a padded input), residual blocks joined in the last convolution (Winograd's) or after
it, the global average pooling and the fully connected layers after it at the end
(``run_split``: the batch's parts on Numba's pool). Every buffer lies in one array
(``arena``; buffers of one shape take turns in one place), every filter and bias in another
(``weights``), at offsets a cache line apart: the call takes a few arrays, not fifty.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ..jit import njit
from .. import vec
from ..autograd.tiles import conv_pixels_nhwc, conv_pixels_nhwc_numpy
from . import fm_kernels as K
from . import winograd4_pixels as WP4
from . import winograd_pixels as WP
from .fm_step import aligned
from .winograd4_pixels import conv_winograd4_pixels, conv_winograd4_pixels_numpy
from .winograd_pixels import conv_winograd_pixels, conv_winograd_pixels_numpy

# what a row does; its columns: what, source, destination, skip, filters, bias, stride, pad,
# relu (a buffer, filters or bias is a row of ``buffers``, ``filters``, ``biases``)
LOAD, PAD, PIXELS, WINOGRAD, WINOGRAD4, JOIN, MEAN, LINEAR = range(8)
WAYS = {"pixels": PIXELS, "winograd": WINOGRAD, "winograd4": WINOGRAD4}
STEP = 16                           # numbers between offsets: a cache line or two


@njit(inline="always")
def _buffer(arena, buffers, i):
    """Buffer i of the arena: (H, W, C) from its row (offset, H, W, C); -1: none (empty)."""
    if i < 0:
        return arena[:0].reshape((0, 0, 0))
    at, h, w, c = buffers[i, 0], buffers[i, 1], buffers[i, 2], buffers[i, 3]
    return arena[at:at + h * w * c].reshape((h, w, c))


@njit(cache=True, nogil=True)
def run(program, buffers, filters, biases, arena, weights, work, x, out):
    """Every sample of x (N, C, H, W) through the ``program``'s rows (see the module
    docstring), one after another: out (C', N) the last buffer of each."""
    at, c = buffers[-1, 0], buffers[-1, 3]
    for n in range(len(x)):
        _sample(program, buffers, filters, biases, arena, weights, work, x[n])
        for j in range(c):
            out[j, n] = arena[at + j]


@njit(cache=True, nogil=True, parallel=True)
def run_split(program, buffers, filters, biases, arenas, weights, works, x, out):
    """``run`` with the batch in len(arenas) parts, one per thread of Numba's pool, each
    in its own arena and work."""
    parts, at, c = len(arenas), buffers[-1, 0], buffers[-1, 3]
    for p in prange(parts):
        for n in range(p * len(x) // parts, (p + 1) * len(x) // parts):
            _sample(program, buffers, filters, biases, arenas[p], weights, works[p], x[n])
            for j in range(c):
                out[j, n] = arenas[p, at + j]


@njit(cache=True, nogil=True)
def _sample(program, buffers, filters, biases, arena, weights, work, x):
    """The rows on one sample x (C, H, W); the results stay in the arena's buffers."""
    for r in range(len(program)):
        what, a, b, s = program[r, 0], program[r, 1], program[r, 2], program[r, 3]
        pad, relu = program[r, 7], program[r, 8] != 0
        out = _buffer(arena, buffers, b)
        if what == LOAD:                             # (C, H, W) -> the middle of (H, W, C)
            c_in, h, w = x.shape
            for i in range(h):
                for j in range(w):
                    for c in range(c_in):
                        out[pad + i, pad + j, c] = x[c, i, j]
            continue
        src = _buffer(arena, buffers, a)
        if what == PAD:                              # a row of pixels at a time
            h, w, c = src.shape
            sf, of, lanes = src.reshape(-1), out.reshape(-1), vec.width(src)
            for i in range(h):
                at = ((pad + i) * (w + 2 * pad) + pad) * c
                for j in range(0, w * c, lanes):
                    m = min(lanes, w * c - j)
                    vec.store(of, at + j, vec.load(sf, i * w * c + j, m), m)
        elif what == JOIN:
            K.add_act(out, src, relu, out)
        elif what == MEAN:
            h, w, c = src.shape
            K.global_mean(src.reshape((1, h, w, c)), out.reshape((1, c)))
        else:                                        # a weighted row: its filters and bias
            f = filters[program[r, 4]]
            at, size = biases[program[r, 5], 0], biases[program[r, 5], 1]
            bias = weights[at:at + size]
            if what == LINEAR:                       # (R, C) @ the (1, 1, C) vector
                matrix = weights[f[0]:f[0] + f[1] * f[2]].reshape((f[1], f[2]))
                v, y = src.reshape(-1), out.reshape(-1)
                for o in range(f[1]):
                    total = bias[o] if size else 0.0
                    for c in range(f[2]):
                        total += matrix[o, c] * v[c]
                    y[o] = max(total, 0.0) if relu else total
            elif what == PIXELS:
                w = weights[f[0]:f[0] + f[1] * f[2] * f[3] * f[4] * f[5]]
                conv_pixels_nhwc(src.reshape((1,) + src.shape), w.reshape((f[1], f[2], f[3],
                                 f[4], f[5])), bias, program[r, 6],
                                 out.reshape((1,) + out.shape), relu)
            else:
                u = weights[f[0]:f[0] + f[1] * f[2] * f[3] * f[4]].reshape((f[1], f[2], f[3],
                                                                           f[4]))
                skip = _buffer(arena, buffers, s)
                if what == WINOGRAD:
                    conv_winograd_pixels(src, u, bias, relu, skip, work, out)
                else:
                    conv_winograd4_pixels(src, u, bias, relu, skip, work, out)


def run_numpy(program, buffers, filters, biases, arena, weights, x):
    """``run`` in NumPy, each row by the kernels' NumPy twins: the pooled (C', N)."""
    at, c = buffers[-1][0], buffers[-1][3]
    out = np.empty((c, len(x)), arena.dtype)
    for n in range(len(x)):
        _sample_numpy(program, buffers, filters, biases, arena, weights, x[n])
        out[:, n] = arena[at:at + c]
    return out


def _sample_numpy(program, buffers, filters, biases, arena, weights, x):
    def buffer(i):
        at, h, w, c = buffers[i]
        return arena[at:at + h * w * c].reshape(h, w, c)
    for what, a, b, s, f, bi, stride, pad, relu in program:
        out = buffer(b)
        if what == LOAD:
            out[pad:pad + x.shape[1], pad:pad + x.shape[2]] = x.transpose(1, 2, 0)
            continue
        src = buffer(a)
        if what == PAD:
            out[pad:pad + src.shape[0], pad:pad + src.shape[1]] = src
        elif what == JOIN:
            out[...] = K.add_act_numpy(out, src, relu)
        elif what == MEAN:
            out[...] = src.mean(axis=(0, 1))
        elif what == LINEAR:
            at, rows, cols = filters[f][:3]
            y = weights[at:at + rows * cols].reshape(rows, cols) @ src.reshape(-1)
            y = y + weights[biases[bi][0]:][:biases[bi][1]]
            out[...] = (np.maximum(y, 0) if relu else y).reshape(out.shape)
        else:
            shape = filters[f][1:6] if what == PIXELS else filters[f][1:5]
            w = weights[filters[f][0]:][:np.prod(shape)].reshape(shape)
            bias = weights[biases[bi][0]:][:biases[bi][1]]
            if what == PIXELS:
                conv_pixels_nhwc_numpy(src[None], w, bias, stride, out[None])
                if relu:
                    np.maximum(out, 0, out=out)
            else:
                twin = (conv_winograd_pixels_numpy if what == WINOGRAD
                        else conv_winograd4_pixels_numpy)
                twin(src, w, bias, bool(relu), buffer(s) if s >= 0 else np.zeros((0, 0, 0)),
                     out)


class SampleCall:
    """The program of ``channels_last.OneSample``'s steps for a sample of shape (C, H, W),
    every convolution in the fastest of its dense ways (``Conv.dense_way``), then ``tail``
    (fully connected ops after the pooling): ``call(x)`` of a batch (N, C, H, W) returns the
    pooled (C', N) vectors, or the tail's outputs (R, N)."""

    def __init__(self, steps, shape, dtype, tail=()):
        self.dtype = np.dtype(dtype)
        self._rows, self._buffers, self._filters, self._biases = [], [], [], []
        self._weights, self._size, self._work = [], 0, 0
        self._padded = {}                        # (buffer, pad) -> that buffer padded
        c, h, w = shape
        p = getattr(steps[0], "pad", 0)     # (a convolution first: loaded into its padding)
        src = self._new((h + 2 * p, w + 2 * p, c))
        self._row(LOAD, -1, src, pad=p)
        self._padded[src, p] = src
        last = self._steps(steps, src)
        src = self._new((1, 1, self._buffers[last][3]))
        self._row(MEAN, last, src)
        for op in tail:                              # fully connected: (R, C) @ the vector
            out = self._new((1, 1, op.weight.shape[0]))
            self._row(LINEAR, src, out, -1, self._weight(op.dense),
                      self._bias(op.bias if op.bias is not None else np.zeros(0)),
                      relu=op.activation == "ReLU")
            src = out
        self._place()
        self.program = np.array(self._rows, np.int64)
        self.buffers = np.array(self._buffers, np.int64)
        self.filters = np.array(self._filters or [(0,) * 6], np.int64)
        self.biases = np.array(self._biases, np.int64)
        self.weights = aligned((max(1, self._weights_size()),), self.dtype)
        for at, w in self._weights:
            self.weights[at:at + len(w)] = w
        self._work = -(-max(1, self._work) // STEP) * STEP
        self._scratch, self._outs = {}, {}         # parts -> (arenas, works); batch -> out
        self.arena = self.scratch(1)[0][0]

    def scratch(self, parts):
        """(arenas, works) for ``parts`` threads: a row of each per part, the arenas zeroed
        (their padded buffers' borders stay so: only the middles are written)."""
        if parts not in self._scratch:
            self._scratch[parts] = (aligned((parts, self._size), self.dtype, zero=True),
                                    aligned((parts, self._work), self.dtype))
        return self._scratch[parts]

    def __call__(self, x, parts=1):
        """The pooled (C', N) vectors of the batch x (N, C, H, W): one of the call's buffers,
        overwritten by its next call. ``parts`` > 1: split over Numba's pool."""
        out = self._outs.get(len(x))
        if out is None:
            out = self._outs[len(x)] = aligned((self.buffers[-1, 3], len(x)), self.dtype)
        arenas, works = self.scratch(parts)
        if parts == 1:
            run(self.program, self.buffers, self.filters, self.biases, arenas[0], self.weights,
                works[0], x, out)
        else:
            run_split(self.program, self.buffers, self.filters, self.biases, arenas,
                      self.weights, works, x, out)
        return out

    # building the program
    def _steps(self, steps, src):
        for s in steps:                  # (a residual block has a body, a convolution not)
            src = self._block(s, src) if hasattr(s, "body") else self._conv(s, src)
        return src

    def _block(self, block, src):
        y = src
        for conv in block.body[:-1]:
            y = self._conv(conv, y)
        skip = src
        for conv in block.shortcut:
            skip = self._conv(conv, skip)
        return self._conv(block.body[-1], y, skip, block.relu)

    def _conv(self, conv, src, skip=-1, join_relu=False):
        """Rows for a convolution of buffer ``src``, then its join with ``skip`` (a buffer,
        -1: none) and ReLU if ``join_relu``: the output's buffer."""
        x = self._unpadded(src, conv.pad)
        hp, wp, c_in = self._buffers[x][1:]
        oh = (hp - conv.k) // conv.stride + 1
        ow = (wp - conv.k) // conv.stride + 1
        out = self._new((oh, ow, conv.out_channels))
        bias = self._bias(conv.bias)
        way = conv.dense_way
        if way == "pixels":
            filters = self._weight(conv.lanes(c_in))
        else:
            u = conv.transformed(way, c_in)
            filters = self._weight(u)
            module = WP if way == "winograd" else WP4
            self._work = max(self._work, module.work_size(oh, ow, c_in, conv.out_channels,
                                                          u.shape[-1]))
        fused = skip >= 0 and way != "pixels" and not conv.relu
        self._row(WAYS[way], x, out, skip if fused else -1, filters, bias, conv.stride,
                  relu=join_relu if fused else conv.relu)
        if skip >= 0 and not fused:
            self._row(JOIN, skip, out, relu=join_relu)
        return out

    def _unpadded(self, src, pad):
        """``src`` padded by ``pad`` for a convolution: itself where pad is 0, else a
        zeroed buffer with a row copying src into its middle (one per source and pad)."""
        if not pad:
            return src
        if (src, pad) not in self._padded:
            h, w, c = self._buffers[src][1:]
            xp = self._padded[src, pad] = self._new((h + 2 * pad, w + 2 * pad, c))
            self._row(PAD, src, xp, pad=pad)
        return self._padded[src, pad]

    def _new(self, shape):
        self._buffers.append((-1, *shape))            # (its place: ``_place``)
        return len(self._buffers) - 1

    def _place(self):
        """Each buffer's offset in the arena: buffers of one shape and kind (padded or not)
        share a place where one's last row comes before the other's first - a padded one's
        border stays the zeros it began as, only middles are written (resnet8's buffers: 514
        KB apart, 284 KB so, which the caches keep better between calls)."""
        first, last = {}, {}
        for r, row in enumerate(self._rows):
            for b in row[1:4]:
                if b >= 0:
                    first.setdefault(b, r)
                    last[b] = r
        padded = {xp for (_, pad), xp in self._padded.items() if pad}
        free, offsets = {}, {}
        for r in range(len(self._rows)):
            for b in (b for b, f in first.items() if f == r):
                key = (self._buffers[b][1:], b in padded)
                if free.get(key):
                    offsets[b] = free[key].pop()
                else:
                    offsets[b] = self._size
                    self._size += -(-int(np.prod(key[0])) // STEP) * STEP
            for b in (b for b, f in last.items() if f == r):
                free.setdefault((self._buffers[b][1:], b in padded), []).append(offsets[b])
        self._buffers = [(offsets[b], *shape) for b, (_, *shape) in enumerate(self._buffers)]

    def _weights_size(self):
        return sum(-(-len(w) // STEP) * STEP for _, w in self._weights)

    def _weight(self, array):
        """Filters into the weights: their row of ``filters`` (offset, shape padded to 5)."""
        at = self._weights_size()
        self._weights.append((at, np.ascontiguousarray(array, self.dtype).reshape(-1)))
        self._filters.append((at, *array.shape, *(1,) * (5 - array.ndim)))
        return len(self._filters) - 1

    def _bias(self, bias):
        """A bias into the weights: its row of ``biases`` (offset, length)."""
        at = self._weights_size()
        self._weights.append((at, np.ascontiguousarray(bias, self.dtype).reshape(-1)))
        self._biases.append((at, len(bias)))
        return len(self._biases) - 1

    def _row(self, what, src, dst, skip=-1, filters=0, bias=0, stride=1, pad=0, relu=False):
        self._rows.append((what, src, dst, skip, filters, bias, stride, pad, int(relu)))

