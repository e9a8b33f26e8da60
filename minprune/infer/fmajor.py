"""The feature-major plan: the lowered ops run on arrays stored features first, batch last -
images (C, H, W, N), vectors (F, N) - so that every weighted op is one product W @ x whose
result is already in place (see ``fm_kernels``). Dense convolutions are im2col and one BLAS
product; sparse and grouped ones run as direct convolutions; fully connected layers chain
without a transpose between them. ``plan(x)`` takes and returns the usual (N, ...) arrays."""
from __future__ import annotations

import math

import numpy as np

from ..sparse.csr import CSR
from ..sparse.kernels import matmul as csr_matmul
from . import direct as D
from . import direct_dense as DD
from . import fm_kernels as K
from .lower import Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted

NO_BIAS = np.zeros(0, dtype=np.float32)


class _Step:
    """Output buffers per shape (the first call of a shape allocates) and the fused
    activation."""
    activation = None

    def buffer(self, shape, dtype, use=""):
        """A buffer per shape (and ``use``: two buffers of one shape that must not be one)."""
        buffers = self.__dict__.setdefault("_buffers", {})
        out = buffers.get((use, shape))
        if out is None:
            out = buffers[use, shape] = np.empty(shape, dtype=dtype)
        return out

    def zeroed(self, shape, dtype):
        """A buffer per shape that starts as zeros (a padded input: only its middle is
        written)."""
        zeroed = self.__dict__.setdefault("_zeroed", {})
        out = zeroed.get(shape)
        if out is None:
            out = zeroed[shape] = np.zeros(shape, dtype=dtype)
        return out

    def finish(self, y):
        if self.activation is None:
            return y
        if self.activation == "ReLU":
            return np.maximum(y, 0, out=y)
        if self.activation == "Tanh":
            return np.tanh(y, out=y)
        return np.divide(1.0, 1.0 + np.exp(-y, out=y), out=y)


def _bias(op):
    return NO_BIAS.astype(op.dtype) if op.bias is None else np.ascontiguousarray(op.bias)


class Conv(_Step):
    """A convolution on (C, H, W, N). Dense weights: im2col and one BLAS product. Sparse (CSR,
    N:M) and grouped weights can run three ways - that product on the densified weight, the
    CSR kernels on the columns, or a direct sparse convolution with no columns at all
    (``direct_conv_padded``, over the input padded once) - and
    which is fastest depends on the density, the shapes and the batch size: the first call of
    each batch size times all three on its input and keeps the fastest (``ways`` records the
    choice; every way computes the same convolution)."""

    WAYS = ("gemm", "csr", "direct")

    def __init__(self, op):
        self.k, self.stride, self.pad = op.conv
        self.bias, self.activation = _bias(op), op.activation
        self.out_channels, self.dtype = op.weight.shape[0], op.dtype
        self.relu = op.activation == "ReLU"
        self.sparse = not isinstance(op.weight, np.ndarray) or op.groups != 1
        self.weight, self.groups = op.weight, op.groups
        self.ways = {}                                # batch size -> the way chosen
        self.bands = {}                       # batch size -> output rows per band, or "wide"
        self._forms = None

    def forms(self, c_in):
        """The weight as the three ways read it: (dense matrix, CSR arrays, direct taps)."""
        if self._forms is None:
            weight = self.weight
            if self.groups != 1:
                weight = _grouped_as_full(weight, self.groups, self.k, c_in)
            csr = weight if isinstance(weight, CSR) else \
                CSR.from_dense(weight, weight != 0) if isinstance(weight, np.ndarray) \
                else weight.to_csr()
            indices = csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16 else csr.indices
            self._forms = (csr.to_dense().astype(self.dtype),
                           (csr.indptr, indices, csr.values), D.taps(csr, self.k, c_in))
        return self._forms

    def __call__(self, x):
        c_in, h, w, n = x.shape
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        out = self.buffer((self.out_channels, oh, ow, n), self.dtype)
        if not self.sparse:
            self._product(x, self.weight, out)
        else:
            way = self.ways.get(n) or _fastest(self, self.WAYS, x, out)
            getattr(self, f"_{way}")(x, out)
        return out if self.relu else self.finish(out)

    def _columns(self, x, out):
        c_in = x.shape[0]
        rows = self.k * self.k * c_in
        return K.im2col(x, self.k, self.stride, self.pad,
                        self.buffer((rows, out.size // self.out_channels), self.dtype))

    def _product(self, x, weight, out):
        """The dense convolution, one of three ways. W @ columns in bands of output rows: the
        band's columns are still in cache when the product reads them (measured on resnet8's
        first stage at batch 64: 7.3 ms in one product, 4.3 ms in bands of 2 MB). Or, with
        stride 1, over *wide* columns (``_wide``): fewer, longer copies at the price of a
        slightly larger product - what pays at small batches, where im2col's runs are short.
        Or, with stride 1 and 3x3 or 5x5 filters, no columns at all (``_direct_dense``): what
        pays where the columns cost as much as the product (few input channels, long rows;
        resnet8's first stage at batch 64: 4.5 -> 2.9 ms). Which way and band size is timed
        per batch size on the first call (``bands``: rows per band, "wide" or "direct")."""
        n = x.shape[-1]
        way = self.bands.get(n)
        if way is None:
            way = self.bands[n] = self._fastest_band(x, weight, out)
        self._dense_way(way, x, weight, out)

    def _dense_way(self, way, x, weight, out):
        if way == "wide":
            self._wide(x, weight, out)
        elif way == "direct":
            self._direct_dense(x, weight, out)
        else:
            self._banded(x, weight, out, way)

    def _banded(self, x, weight, out, rows):
        oc, oh, ow, n = out.shape
        taps, per = self.k * self.k * x.shape[0], ow * n
        y = out.reshape(oc, -1)
        flat = self.buffer((taps * min(rows, oh) * per,), self.dtype)
        for r0 in range(0, oh, rows):
            r1 = min(oh, r0 + rows)
            cols = flat[:taps * (r1 - r0) * per].reshape(taps, (r1 - r0) * per)
            K.im2col_rows(x, self.k, self.stride, self.pad, r0, r1, cols)
            np.matmul(weight, cols, out=y[:, r0 * per:r1 * per])
        K.bias_act(y, self.bias, self.relu)

    def _wide(self, x, weight, out):
        """A stride-1 convolution as one product over ``wide_columns`` of the padded input,
        the throw-away pixels dropped as bias and ReLU are added. A 1x1 convolution without
        padding needs no columns at all: they are the input itself."""
        c_in = x.shape[0]
        oc, oh, ow, n = out.shape
        xp = self._padded(x)
        wp = xp.shape[2]
        if wp == ow:                                  # 1x1, no padding
            y = out.reshape(oc, -1)
            np.matmul(weight, xp.reshape(c_in, -1), out=y)
            K.bias_act(y, self.bias, self.relu)
            return
        span = ((oh - 1) * wp + ow) * n
        cols = K.wide_columns(xp, self.k, self.buffer((self.k * self.k * c_in, span),
                                                      self.dtype))
        wide = np.matmul(weight, cols, out=self.buffer((oc, span), self.dtype, "wide"))
        K.narrow_bias_act(wide, wp, self.bias, self.relu, out)

    def _direct_dense(self, x, weight, out):
        """The dense direct convolution (``direct_dense``: no columns) of the padded input."""
        cached = self.__dict__.get("_filters")
        if cached is None or cached[0] is not weight:
            cached = self._filters = (weight, DD.filters(weight, self.k, x.shape[0]))
        xp = self._padded(x)
        rows = DD.band_rows(xp.shape[2], xp.shape[3])
        acc = self.buffer((4, rows * xp.shape[2] * xp.shape[3]), self.dtype, "wide")
        DD.direct_dense(xp, cached[1], self.bias, self.relu, rows, acc, out)

    def _fastest_band(self, x, weight, out):
        """Rows per band - one row, about 1 MB or 2 MB of columns, or all rows - or, with
        stride 1, wide columns or the dense direct convolution (3x3 and 5x5 filters), timed."""
        oh, row_bytes = out.shape[1], self.k * self.k * x.shape[0] * out[0, 0].nbytes
        if row_bytes == 0:                            # an empty batch: nothing to time
            return max(oh, 1)
        candidates = sorted({1, oh, *(min(oh, max(1, size // row_bytes))
                                      for size in (1 << 20, 2 << 20))})
        candidates += ["wide"] if self.stride == 1 else []
        candidates += ["direct"] if self.stride == 1 and self.k in DD.SIZES else []
        return _quickest(candidates, lambda way: self._dense_way(way, x, weight, out))

    def _gemm(self, x, out):
        self._product(x, self.forms(x.shape[0])[0], out)

    def _csr(self, x, out):
        y = out.reshape(self.out_channels, -1)
        csr_matmul(*self.forms(x.shape[0])[1], self._columns(x, out), y)
        K.bias_act(y, self.bias, self.relu)

    def _direct(self, x, out):
        xp = self._padded(x)
        D.direct_conv_padded(xp, *self.forms(x.shape[0])[2], self.bias, self.stride,
                             self.relu, self.buffer((xp[0].size,), self.dtype, "wide"), out)

    def _padded(self, x):
        """x with its padding as zeros around it (x itself without padding)."""
        if not self.pad:
            return x
        c_in, h, w, n = x.shape
        p = self.pad
        return K.pad_into(x, p, self.zeroed((c_in, h + 2 * p, w + 2 * p, n), x.dtype))

    def __repr__(self):
        if not self.sparse:
            bands = ", ".join(f"batch {n}: " + _BAND_NAMES.get(r, f"{r} rows")
                              for n, r in sorted(self.bands.items()))
            kind = "dense" + (f" ({bands})" if bands else "")
        else:
            kind = "sparse: " + (", ".join(f"batch {n}: {w}" for n, w in sorted(self.ways.items()))
                                 or "the fastest way, chosen on first call")
        return f"Conv({self.out_channels} filters {self.k}x{self.k}{_act(self.activation)}; {kind})"


_BAND_NAMES = {"wide": "wide columns", "direct": "direct, no columns"}


def _grouped_as_full(weight, groups, k, c_in):
    """A grouped conv's (out, k·k·C/groups) weight as the (out, k·k·C) weight of the same
    convolution, zero outside each filter's group."""
    out_channels, per = weight.shape[0], c_in // groups
    full = np.zeros((out_channels, k * k, c_in), dtype=weight.dtype)
    w = weight.reshape(out_channels, k * k, per)
    per_out = out_channels // groups
    for g in range(groups):
        rows = slice(g * per_out, (g + 1) * per_out)
        full[rows, :, g * per:(g + 1) * per] = w[rows]
    return full.reshape(out_channels, k * k * c_in)


class Linear(_Step):
    """y (out, N) = W @ x (in, N) + b. Dense weights through BLAS; sparse (CSR, N:M) ones
    either through the CSR kernels or, where they keep many weights, as a dense product on the
    densified weight - which of the two is faster is timed on the first call of each batch
    size, as for convolutions (``ways``)."""

    def __init__(self, op):
        self.weight, self.bias, self.activation = op.weight, _bias(op), op.activation
        self.relu, self.dtype = op.activation == "ReLU", op.dtype
        self.sparse = not isinstance(op.weight, np.ndarray)
        if self.sparse:
            csr = op.weight if isinstance(op.weight, CSR) else op.weight.to_csr()
            indices = csr.indices.astype(np.uint16) if csr.shape[1] <= 1 << 16 else csr.indices
            self.arrays = (csr.indptr, indices, csr.values)
            self.dense = csr.to_dense().astype(self.dtype)
        self.rows = op.weight.shape[0]
        self.kind = ("dense" if not self.sparse else "sparse CSR" if isinstance(op.weight, CSR)
                     else "sparse 2:4, run as CSR")
        self.ways = {}

    def _gemm(self, x, y):
        np.matmul(self.dense if self.sparse else self.weight, x, out=y)

    def _csr(self, x, y):
        csr_matmul(*self.arrays, x, y)

    def __call__(self, x):
        y = self.buffer((self.rows, x.shape[1]), self.dtype)
        if not self.sparse:                           # (BLAS reads a transposed x as it is)
            self._gemm(x, y)
        else:
            x = np.ascontiguousarray(x)
            way = self.ways.get(x.shape[1]) or _fastest(self, ("gemm", "csr"), x, y)
            getattr(self, f"_{way}")(x, y)
        K.bias_act(y, self.bias, self.relu)
        return y if self.relu else self.finish(y)

    def __repr__(self):
        return f"Linear({self.kind}, {self.rows} outputs{_act(self.activation)})"


def _quickest(options, run, rounds=3):
    """The option for which ``run(option)`` takes least time: each run once (a warm-up), then
    ``rounds`` rounds of all in turns, the best time of each kept - in turns, so that a burst
    of other work on the machine slows every option, not the one it falls on."""
    import time
    for option in options:
        run(option)
    best = {option: math.inf for option in options}
    for _ in range(rounds):
        for option in options:
            t0 = time.perf_counter()
            run(option)
            best[option] = min(best[option], time.perf_counter() - t0)
    return min(options, key=best.__getitem__)


def _fastest(step, ways, *args):
    """Time each way ``step._<way>(*args)``, remember the fastest for this batch size in
    ``step.ways`` and return it."""
    way = _quickest(ways, lambda w: getattr(step, f"_{w}")(*args))
    step.ways[args[0].shape[-1]] = way
    return way


class PoolStep(_Step):
    def __init__(self, op):
        self.k, self.is_max = op.kernel_size, op.kind == "max"
        self.stride = op.kernel_size if op.stride is None else op.stride
        self.pad = op.padding

    def __call__(self, x):
        c, h, w, n = x.shape
        if self.stride == self.k and not self.pad and h % self.k == 0 and w % self.k == 0:
            return K.pool_tiled(x, self.k, self.is_max,
                                self.buffer((c, h // self.k, w // self.k, n), x.dtype))
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        return K.pool(x, self.k, self.stride, self.pad, self.is_max,
                      self.buffer((c, oh, ow, n), x.dtype))

    def __repr__(self):
        return f"{'Max' if self.is_max else 'Avg'}Pool({self.k})"


class Block(_Step):
    """A residual block: body, shortcut (or the input), added, then the activation."""

    def __init__(self, op):
        self.body = [step(o) for o in op.body]
        self.shortcut = None if op.shortcut is None else [step(o) for o in op.shortcut]
        self.activation = op.activation

    def __call__(self, x):
        y = x
        for s in self.body:
            y = s(y)
        skip = x
        for s in self.shortcut or ():
            skip = s(skip)
        out = self.buffer(y.shape, y.dtype)
        relu = self.activation == "ReLU"
        K.add_act(y, np.ascontiguousarray(skip), relu, out)   # (skip: the block's input, or
        return out if relu else self.finish(out)                  # its shortcut's output)

    def __repr__(self):
        return (f"Block({len(self.body)} steps, shortcut {len(self.shortcut or ())} steps"
                f"{_act(self.activation)})")


class Elementwise(_Step):
    """Scale (an unfolded BatchNorm), an activation, Flatten or global pooling."""

    def __init__(self, name, fn):
        self.name, self.fn = name, fn

    def __call__(self, x):
        return self.fn(x)

    def __repr__(self):
        return self.name


def _scale(op):
    act = _Step()
    act.activation = op.activation

    def run(x):
        shape = (-1,) + (1,) * (x.ndim - 1)
        return act.finish(x * op.scale.reshape(shape) + op.shift.reshape(shape))
    return run


def _act(activation):
    return "" if activation is None else f", {activation}"


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
        pooled = _Step()
        return Elementwise("GlobalAvgPool", lambda x: K.global_mean(
            x, pooled.buffer((x.shape[0], x.shape[-1]), x.dtype)))
    if isinstance(op, Flatten):
        return Elementwise("Flatten", lambda x: x if x.ndim == 2
                           else x.reshape(math.prod(x.shape[:-1]), x.shape[-1]))
    assert isinstance(op, Activation), op
    act = _Step()
    act.activation = op.name
    return Elementwise(op.name, lambda x: act.finish(np.array(x)))


class FeatureMajor:
    """The ops as feature-major steps; call it on (N, C, H, W) or (N, F) arrays."""

    def __init__(self, ops):
        self.steps = [step(op) for op in ops]
        # Flatten, then a dense Linear: the product reads the batch transposed as it is
        # (one copy fewer: LeNet-300-100 at batch 64, 19 us saved for 13 us more in BLAS)
        self.reads_batch_first = (len(ops) > 1 and isinstance(ops[0], Flatten)
                                  and isinstance(ops[1], Weighted) and ops[1].conv is None
                                  and isinstance(ops[1].weight, np.ndarray))

    def run(self, x, stop=None):
        """The feature-major array after the steps before ``stop`` (all: None) for the
        (N, ...) array x."""
        x = np.moveaxis(x, 0, -1)                             # (features..., N)
        if not self.reads_batch_first:
            x = np.ascontiguousarray(x)
        for s in self.steps[:stop]:
            x = s(x)
        return x

    def __call__(self, x):
        """(N, ...) -> (N, ...): a new array, never one of the steps' buffers (at one sample
        the moved axes are already contiguous, and ``ascontiguousarray`` would not copy)."""
        return np.moveaxis(self.run(x), -1, 0).copy()

    def __repr__(self):
        return "FeatureMajor(\n" + "\n".join(f"  {s!r}" for s in self.steps) + "\n)"
