"""The feature-major plan: the lowered ops run on arrays stored features first, batch last -
images (C, H, W, N), vectors (F, N) - so that every weighted op is one product W @ x whose
result is already in place (see ``fm_kernels``). Convolutions are the step of ``fm_conv``;
fully connected layers chain without a transpose between them. ``plan(x)`` takes and
returns the usual (N, ...) arrays."""
from __future__ import annotations

import math

import numpy as np

from .. import threads
from ..sparse.csr import CSR
from ..sparse.kernels import matmul as csr_matmul
from . import fm_kernels as K
from . import layout as L
from . import sparse_tiles as S
from . import tiles as T
from .. import vec
from .fm_conv import Conv
from .fm_step import Step, act_text, aligned, bias_of, quickest
from .lower import Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted


class Linear(Step):
    """y (out, N) = W @ x (in, N) + b. Dense weights through BLAS or, from a register of
    samples on, in register tiles (``tiles.conv_tiles`` of a 1x1 image: eight outputs at two
    registers of samples, the sums in registers - LeNet-300-100's 784 -> 300 at batch 64: 54
    GMAC/s against OpenBLAS's 45 on the transposed input); sparse (CSR, N:M) ones through
    the CSR kernels, the sparse register tiles (``sparse_tiles.linear_sparse_tiles``: a row
    at four registers of samples) or, where they keep many weights, one of those dense ways
    on the densified weight. Which way is faster is timed on the first call of each batch
    size and thread setting (BLAS may run on more threads than the tiles), as for
    convolutions (``ways``: (batch, threads) -> way)."""

    def __init__(self, op):
        self.weight, self.bias, self.activation = op.weight, bias_of(op), op.activation
        self.relu, self.dtype = op.activation == "ReLU", op.dtype
        self.sparse = not isinstance(op.weight, np.ndarray)
        if self.sparse:
            csr = op.weight if isinstance(op.weight, CSR) else op.weight.to_csr()
            indices = csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16 else csr.indices
            self.arrays = (csr.indptr, indices, csr.values)
            self.dense = csr.to_dense().astype(self.dtype)
        else:
            self.dense = op.weight
        self.rows = op.weight.shape[0]
        self.kind = ("dense" if not self.sparse else "sparse CSR" if isinstance(op.weight, CSR)
                     else "sparse 2:4, run as CSR")
        self.ways = {}
        self._filters8 = None

    def _gemm(self, x, y):                            # (BLAS reads a transposed x as it is)
        np.matmul(self.dense, x, out=y)
        K.bias_act(y, self.bias, self.relu)

    def _csr(self, x, y):
        csr_matmul(*self.arrays, np.ascontiguousarray(x), y)
        K.bias_act(y, self.bias, self.relu)

    def _csr_tiles(self, x, y):
        S.linear_sparse_tiles(*self.arrays, np.ascontiguousarray(x), self.bias, self.relu, y)

    def _tiles(self, x, y):
        if self._filters8 is None:
            self._filters8 = T.filters8(self.dense, 1, self.dense.shape[1])
        x = np.ascontiguousarray(x)
        T.conv_tiles(x.reshape(len(x), 1, 1, -1), self._filters8, self.bias, 1, self.relu,
                     y.reshape(len(y), 1, 1, -1))

    def __call__(self, x):
        n = x.shape[1]
        y = self.buffer((self.rows, n), self.dtype)
        key = (n, threads.asked() or 1)          # (BLAS may have more threads than the tiles)
        way = self.ways.get(key)
        if way is None:
            ways = ("gemm", "csr") if self.sparse else ("gemm",)
            if n >= vec.lanes(self.dtype):
                ways += ("tiles", "csr_tiles") if self.sparse else ("tiles",)
            way = self.ways[key] = (quickest(ways, lambda w: getattr(self, f"_{w}")(x, y))
                                    if len(ways) > 1 else ways[0])
        getattr(self, f"_{way}")(x, y)
        return y if self.relu else self.finish(y)

    def __repr__(self):
        return f"Linear({self.kind}, {self.rows} outputs{act_text(self.activation)})"


class PoolStep(Step):
    def __init__(self, op):
        self.k, self.is_max = op.kernel_size, op.kind == "max"
        self.stride = op.kernel_size if op.stride is None else op.stride
        self.pad = op.padding
        self.fused = False            # run by the convolution before it (``Conv.pool``)

    def fits_a_convolution(self):
        """Whether the convolution before may run it: max pooling, stride its size, no
        padding (and so the same after the bias and ReLU as before them)."""
        return self.is_max and self.stride == self.k and not self.pad

    def __call__(self, x):
        if self.fused:
            return x
        c, h, w, n = x.shape
        if self.stride == self.k and not self.pad and h % self.k == 0 and w % self.k == 0:
            return K.pool_tiled(x, self.k, self.is_max,
                                self.buffer((c, h // self.k, w // self.k, n), x.dtype))
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        return K.pool(x, self.k, self.stride, self.pad, self.is_max,
                      self.buffer((c, oh, ow, n), x.dtype))

    def __repr__(self):
        where = " (run by the convolution before)" if self.fused else ""
        return f"{'Max' if self.is_max else 'Avg'}Pool({self.k}){where}"


class Block(Step):
    """A residual block: body, shortcut (or the input), added, then the activation - the sum
    formed as the body's last convolution writes its outputs where it runs by Winograd's
    F(2x2, 3x3) (``Conv.winograd_join``), in a pass of its own otherwise."""

    def __init__(self, op):
        self.body = [step(o) for o in op.body]
        self.shortcut = None if op.shortcut is None else [step(o) for o in op.shortcut]
        self.activation = op.activation

    def __call__(self, x):
        y = x
        for s in self.body[:-1]:
            y = s(y)
        skip = x                                      # the block's input, or its shortcut's
        for s in self.shortcut or ():
            skip = s(skip)
        relu = self.activation == "ReLU"
        last = self.body[-1]
        out = last.winograd_join(y, skip, relu) if isinstance(last, Conv) else None
        if out is None:                               # (the join not in the last step)
            y = last(y)
            out = self.buffer(y.shape, y.dtype)
            K.add_act(y, np.ascontiguousarray(skip), relu, out)
        return out if relu else self.finish(out)

    def __repr__(self):
        return (f"Block({len(self.body)} steps, shortcut {len(self.shortcut or ())} steps"
                f"{act_text(self.activation)})")


class Elementwise(Step):
    """Scale (an unfolded BatchNorm), an activation, Flatten or global pooling."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return self.name


def _scale(op):
    act = Step()
    act.activation = op.activation

    def run(x):
        shape = (-1,) + (1,) * (x.ndim - 1)
        return act.finish(x * op.scale.reshape(shape) + op.shift.reshape(shape))
    return run


def step(op):
    """The feature-major step that runs ``op``."""
    if isinstance(op, Weighted):
        return Conv(op) if op.conv is not None else Linear(op)
    if isinstance(op, Pool):
        return PoolStep(op)
    if isinstance(op, Residual):
        return Block(op)
    if isinstance(op, Scale):
        return Elementwise("Scale", _scale(op))
    if isinstance(op, GlobalPool):
        pooled = Step()
        return Elementwise("GlobalAvgPool", lambda x: K.global_mean(
            x, pooled.buffer((x.shape[0], x.shape[-1]), x.dtype)))
    if isinstance(op, Flatten):
        return Elementwise("Flatten", lambda x: x if x.ndim == 2
                           else x.reshape(math.prod(x.shape[:-1]), x.shape[-1]))
    assert isinstance(op, Activation), op
    act = Step()
    act.activation = op.name
    return Elementwise(op.name, lambda x: act.finish(np.array(x)))


def every_step(steps):
    """The steps, those inside residual blocks too, in order."""
    for s in steps:
        yield s
        if isinstance(s, Block):
            yield from every_step(s.body)
            yield from every_step(s.shortcut or ())


class FeatureMajor:
    """The ops as feature-major steps; call it on (N, C, H, W) or (N, F) arrays."""

    def __init__(self, ops, winograd=True):
        self.steps = [step(op) for op in ops]
        for s in every_step(self.steps):
            if isinstance(s, Conv):
                s.winograd = winograd          # (False: direct sums only, see infer.compile)
        for conv, pool in zip(self.steps, self.steps[1:]):   # a convolution then its pooling
            if isinstance(conv, Conv) and isinstance(pool, PoolStep) and \
                    pool.fits_a_convolution() and conv.activation in (None, "ReLU"):
                conv.pool, pool.fused = pool.k, True
        self._inputs = {}                  # (shape, dtype) -> the feature-major input's buffer

    def run(self, x, stop=None):
        """The feature-major array after the steps before ``stop`` (all: None) for the
        (N, ...) array x."""
        x = self.feature_major(x)
        for s in self.steps[:stop]:
            x = s(x)
        return x

    def share_choices(self, other):
        """Run each step the way ``other``'s does, at every batch size: its steps' choice
        records (``ways``, ``bands``) become these steps' too (a replica of the plan for a
        thread times nothing while the others run)."""
        for mine, theirs in zip(every_step(self.steps), every_step(other.steps)):
            for record in ("ways", "bands", "fused"):
                if hasattr(theirs, record):
                    setattr(mine, record, getattr(theirs, record))

    def feature_major(self, x):
        """The (N, ...) array x as (..., N), contiguous: transposed in register blocks
        (``layout.transpose``) into a buffer of the plan's (at one sample, x as it is)."""
        n = len(x)
        if n == 1:
            return np.ascontiguousarray(np.moveaxis(x, 0, -1))
        key = (x.shape, x.dtype)
        out = self._inputs.get(key)
        if out is None:
            out = self._inputs[key] = aligned(x.shape[1:] + (n,), x.dtype)
        f = math.prod(x.shape[1:])
        L.transpose(np.ascontiguousarray(x).reshape(n, f), out.reshape(f, n))
        return out

    def __call__(self, x):
        """(N, ...) -> (N, ...): a new array, never one of the steps' buffers."""
        y = self.run(x)
        n, f = y.shape[-1], math.prod(y.shape[:-1])
        out = np.empty((n,) + y.shape[:-1], y.dtype)
        L.transpose(y.reshape(f, n), out.reshape(n, f))
        return out

    def __repr__(self):
        return "FeatureMajor(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n)"
