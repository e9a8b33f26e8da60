"""The feature-major convolution step: a convolution on (C, H, W, N), dense in one of seven
ways (im2col and BLAS in bands of rows, wide columns, the direct dense kernel, register
tiles of samples or, at one sample, of pixels, Winograd's F(2x2, 3x3) and F(4x4, 3x3) from a
register of samples on), sparse or grouped in one of four others
(GEMM on the densified weight, CSR on the columns, the direct sparse kernel, sparse register
tiles), each timed on the first call of a batch size."""
from __future__ import annotations

import numpy as np

from ..sparse.csr import CSR
from ..sparse.kernels import matmul as csr_matmul
from . import direct as D
from . import direct_dense as DD
from . import fm_kernels as K
from . import pooled as P
from . import shifted as SH
from . import sparse_pooled as SP
from . import sparse_tiles as S
from ..sparse import conv_tiles as CT
from . import tiles as T
from . import winograd as WG
from . import winograd4 as WG4
from .. import vec
from .fm_step import Step, act_text, bias_of, fastest, quickest


class Conv(Step):
    """A convolution on (C, H, W, N). Dense weights: the dense product, in one of the ways of
    ``_product`` (bands of im2col rows, wide columns, the direct dense kernel, register tiles
    of samples or of pixels). Sparse (CSR, N:M) and grouped weights can run four ways - that
    dense product on the densified weight, the CSR kernels on the columns, a direct sparse
    convolution with no columns at all (``direct_conv_padded``, over the input padded once),
    or the stored weights in register tiles (``sparse_tiles``: of samples from a register of
    them on, of pixels along the padded rows at one sample and stride 1) - and which is
    fastest depends on the density, the shapes and the batch size: the first call of each
    batch size times them on its input and keeps the fastest (``ways`` records the choice;
    every way computes the same convolution)."""

    WAYS = ("gemm", "csr", "direct")
    winograd = True                 # whether Winograd's ways are among those timed
    pool = 0        # the size of a max pooling that follows, run here (``FeatureMajor``)

    def __init__(self, op):
        self.k, self.stride, self.pad = op.conv
        self.bias, self.activation = bias_of(op), op.activation
        self.out_channels, self.dtype = op.weight.shape[0], op.dtype
        self.relu = op.activation == "ReLU"
        self.sparse = not isinstance(op.weight, np.ndarray) or op.groups != 1
        self.weight, self.groups = op.weight, op.groups
        self.ways = {}                                # batch size -> the way chosen
        self.bands = {}          # batch size -> rows per band, "wide", "direct", "tiles"...
        self._forms = self._filters = self._filters8 = self._by_lanes = None
        self._winograd = {}                           # way -> the transformed filters
        self._entries = {}                            # input shape -> offsets of the stored weights
        self.fused = {}           # batch size -> whether the pooling runs in the tiles

    def _sparse_ways(self, n):
        """The sparse ways a batch of n can take (the register tiles only where they fit)."""
        return self.WAYS + (("tiles",) if n >= vec.lanes(self.dtype) else ()) + (
            ("pixels", "shifted") if n == 1 and self.stride == 1 else ())

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
        if self.pool:
            return self._pooled(x, out)
        return self._convolved(x, out)

    def _convolved(self, x, out):
        if not self.sparse:
            self._product(x, self.weight, out)
        else:
            n = x.shape[-1]
            way = self.ways.get(n) or fastest(self, self._sparse_ways(n), x, out)
            getattr(self, f"_{way}")(x, out)
        return out if self.relu else self.finish(out)

    def _pooled(self, x, out):
        """The convolution's max pooling (``pool`` x ``pool``, stride ``pool``): the
        convolution's output pooled, or - from a register of samples on - both in one pass
        of register tiles (``pooled``; a sparse weight densified there, or its stored weights
        in ``sparse_pooled``'s tiles), whichever the first call of the batch size timed
        faster."""
        p, n = self.pool, x.shape[-1]
        pooled = self.buffer((self.out_channels, out.shape[1] // p, out.shape[2] // p, n),
                             self.dtype, "pooled")
        fused = self.fused.get(n)
        if fused is None:
            ways = (False, True, "sparse") if self.sparse else (False, True)
            fused = self.fused[n] = n >= vec.lanes(self.dtype) and quickest(
                ways, lambda f: self._pool_by(f, x, out, pooled))
        self._pool_by(fused, x, out, pooled)
        return pooled

    def _pool_by(self, fused, x, out, pooled):
        p = self.pool
        if fused == "sparse":                   # the stored weights' tiles, pooled in them
            xp = self._padded(x)
            sums = self.buffer((self.out_channels, pooled.shape[1] * p, pooled.shape[2] * p,
                                pooled.shape[3]), self.dtype, "sums")
            SP.conv_sparse_groups_maxpool(xp, *self._groups(xp), self.bias, self.k,
                                          self.stride, self.relu, p, sums, pooled)
        elif fused:
            if self._filters8 is None:          # (a step's dense weight never changes)
                weight = self.forms(x.shape[0])[0] if self.sparse else self.weight
                self._filters8 = T.filters8(weight, self.k, x.shape[0])
            P.conv_tiles_maxpool(self._padded(x), self._filters8, self.bias, self.stride,
                                 self.relu, p, pooled)
        elif out.shape[1] % p == 0 and out.shape[2] % p == 0:
            K.pool_tiled(self._convolved(x, out), p, True, pooled)
        else:
            K.pool(self._convolved(x, out), p, p, 0, True, pooled)

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
        resnet8's first stage at batch 64: 4.5 -> 2.9 ms). Or, from a register of samples on,
        any filter and stride, in register tiles (``_dense_tiles``: no columns, no sums in memory;
        resnet8's convolutions at batch 64: 47-56 GMAC/s, against 36-44 for the others) - or,
        at one sample, in register tiles of output channels at eight pixels (``_dense_pixels``;
        resnet8's at one sample: 45-51 GMAC/s, against 20-34). Or, 3x3 at stride 1 from a
        register of samples on, by Winograd's minimal filtering (``_dense_winograd``: 16 or 36
        multiplications per 2x2 or 4x4 block of outputs where the direct sums take 36 or 144;
        resnet8's at batch 64: 1.1-1.9x faster than the tiles). Which way and band size is
        timed per batch size on the first call (``bands``: rows per band, "wide", "direct",
        "tiles", "pixels", "winograd" or "winograd4")."""
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
        elif way == "tiles":
            self._dense_tiles(x, weight, out)
        elif way == "pixels":
            self._dense_pixels(x, weight, out)
        elif way == "shifted":
            self._shifted(x, out)
        elif way in WINOGRAD:
            self._dense_winograd(x, weight, out, way)
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
        if self._filters is None:               # (a step's dense weight never changes)
            self._filters = DD.filters(weight, self.k, x.shape[0])
        xp = self._padded(x)
        rows = DD.band_rows(xp.shape[2], xp.shape[3])
        acc = self.buffer((4, rows * xp.shape[2] * xp.shape[3]), self.dtype, "wide")
        DD.direct_dense(xp, self._filters, self.bias, self.relu, rows, acc, out)

    def _dense_tiles(self, x, weight, out):
        """The convolution in register tiles (``tiles.conv_tiles``) of the padded input."""
        if self._filters8 is None:              # (a step's dense weight never changes)
            self._filters8 = T.filters8(weight, self.k, x.shape[0])
        T.conv_tiles(self._padded(x), self._filters8, self.bias, self.stride, self.relu, out)

    def _dense_pixels(self, x, weight, out):
        """One sample's convolution in register tiles of output channels and pixels
        (``tiles.conv_pixels``) of the padded input."""
        if self._by_lanes is None:
            self._by_lanes = T.filters_lanes(weight, self.k, x.shape[0], self.dtype)
        T.conv_pixels(self._padded(x), self._by_lanes, self.bias, self.stride, self.relu, out)

    def _dense_winograd(self, x, weight, out, way, skip=None, relu=None):
        """The 3x3 stride-1 convolution by Winograd's F(2x2, 3x3) or F(4x4, 3x3) (``way``:
        "winograd", "winograd4"; ``winograd``, ``winograd4``) of the padded input; with
        ``skip``, a residual block's shortcut added before ``relu``."""
        module, kernel = WINOGRAD[way]
        u = self._winograd.get(way)
        if u is None:                           # (a step's dense weight never changes)
            u = self._winograd[way] = module.filters(weight, x.shape[0])
        c_in, n = x.shape[0], x.shape[-1]
        work = self.buffer((module.work_size(c_in, self.out_channels, n),), self.dtype, way)
        kernel(self._padded(x), u, self.bias, self.relu if relu is None else relu,
               _NO_SKIP[self.dtype.type] if skip is None else skip, work, out)

    def winograd_join(self, x, skip, relu):
        """act(this convolution of x + skip), the sum formed as the outputs are (a residual
        block's join, ``relu`` its ReLU), where the way this batch size runs is Winograd's
        (this convolution with no activation of its own); else None."""
        n = x.shape[-1]
        dense = not self.sparse or self.ways.get(n) == "gemm"
        way = self.bands.get(n)
        if self.activation is not None or not dense or way not in WINOGRAD:
            return None
        out = self.buffer((self.out_channels,) + x.shape[1:], self.dtype)
        weight = self.weight if not self.sparse else self.forms(x.shape[0])[0]
        self._dense_winograd(x, weight, out, way, np.ascontiguousarray(skip), relu)
        return out

    def _fastest_band(self, x, weight, out):
        """Rows per band - one row, about 1 MB or 2 MB of columns, or all rows - or, with
        stride 1, wide columns or the dense direct convolution (3x3 and 5x5 filters), or
        register tiles (of samples from a register of them on, of pixels at one sample):
        timed."""
        oh, row_bytes = out.shape[1], self.k * self.k * x.shape[0] * out[0, 0].nbytes
        if row_bytes == 0:                            # an empty batch: nothing to time
            return max(oh, 1)
        candidates = sorted({1, oh, *(min(oh, max(1, size // row_bytes))
                                      for size in (1 << 20, 2 << 20))})
        candidates += ["wide"] if self.stride == 1 else []
        candidates += ["direct"] if self.stride == 1 and self.k in DD.SIZES else []
        candidates += ["tiles"] if x.shape[-1] >= vec.lanes(self.dtype) else []
        candidates += ["pixels"] if x.shape[-1] == 1 else []
        candidates += ["shifted"] if x.shape[-1] == 1 and self.stride == 1 else []
        candidates += list(WINOGRAD) if self._winograd_fits(x) else []
        return quickest(candidates, lambda way: self._dense_way(way, x, weight, out))

    def _winograd_fits(self, x):
        """Whether Winograd's ways may run: asked for, and a 3x3 stride-1 convolution of a
        register of samples or more."""
        return (self.winograd and self.k == 3 and self.stride == 1
                and x.shape[-1] >= vec.lanes(self.dtype))

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

    def _tiles(self, x, out):
        """The stored weights in register tiles of samples, in groups of input channels
        (``conv_tiles.conv_sparse_groups``)."""
        xp = self._padded(x)
        CT.conv_sparse_groups(xp, *self._groups(xp), self.bias, self.stride, self.relu, out)

    def _pixels(self, x, out):
        """One sample's stored weights in register tiles of pixels (``sparse_tiles``)."""
        xp = self._padded(x)
        wide = self.buffer((out.shape[1] * xp.shape[2] + 4 * vec.lanes(self.dtype),),
                           self.dtype, "wide")
        S.conv_sparse_pixels(xp, *self._stored(xp), self.bias, self.relu, wide, out)

    def _shifted(self, x, out):
        """One sample's stored weights (every weight, dense) over k shifted copies of its
        input, each tap's window one run of them (``shifted``)."""
        c_in, h, w, _ = x.shape
        shape = SH.copies_shape(c_in, h, w, self.k, self.pad)
        xs = SH.shift_copies(x.reshape(c_in, h, w), self.pad,
                             self.zeroed(shape, self.dtype, "shifted"))
        indptr, indices, values = self.forms(c_in)[1]
        offsets = self._entries.get(("shifted", shape))
        if offsets is None:
            offsets = self._entries["shifted", shape] = SH.entries(indices, self.k, c_in,
                                                                   shape[2], shape[3])
        SH.conv_shifted(xs, indptr, offsets, values, self.bias, self.relu,
                        out.reshape(out.shape[:3]))

    def _stored(self, xp):
        """(indptr, offsets in the padded input xp, values) of the stored weights."""
        indptr, indices, values = self.forms(xp.shape[0])[1]
        offsets = self._entries.get(xp.shape)
        if offsets is None:
            offsets = self._entries[xp.shape] = CT.entries(indices, self.k, *xp.shape)
        return indptr, offsets, values

    def _groups(self, xp):
        """(indptr2, offsets in the padded input xp, values) of the stored weights in groups
        of input channels (``conv_tiles.grouped_entries``)."""
        stored = self._entries.get(("groups", xp.shape))
        if stored is None:
            indptr, indices, values = self.forms(xp.shape[0])[1]
            indptr2, offsets, order = CT.grouped_entries(indptr, indices, self.k, xp.shape,
                                                         self.stride, xp.dtype)
            stored = self._entries["groups", xp.shape] = (indptr2, offsets, values[order])
        return stored

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
        size = f"{self.k}x{self.k}"
        fused = [n for n, f in sorted(self.fused.items()) if f]
        pool = (f"; max pooling {self.pool}x{self.pool}" + (
            f" in the tiles at batch {', '.join(map(str, fused))}" if fused else "")
            if self.pool else "")
        return (f"Conv({self.out_channels} filters {size}{act_text(self.activation)}; "
                f"{kind}{pool})")


_NO_SKIP = {t: np.zeros((0, 0, 0, 0), t) for t in (np.float32, np.float64)}
WINOGRAD = {"winograd": (WG, WG.conv_winograd), "winograd4": (WG4, WG4.conv_winograd4)}
_BAND_NAMES = {"wide": "wide columns", "direct": "direct, no columns",
               "winograd": "Winograd F(2x2, 3x3)", "winograd4": "Winograd F(4x4, 3x3)",
               "tiles": "register tiles, no columns",
               "pixels": "register tiles of pixels, no columns",
               "shifted": "shifted copies, no columns"}


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
