"""Sliced storage: a sparse matrix laid out for one-sample products at SIMD speed.

At batch 1 a sparse product is a gather per stored weight, and scalar gathers cap the speed
of the CSR loop. ``Sliced`` trades a little padding for SIMD:

- rows are taken in *slices* of L (16 float32 or 8 float64: one 64-byte register of sums),
  grouped so that rows whose weights fall in the same windows share a slice (``order``; or
  in their own order, ``sort_rows=False``);
- columns are cut into *windows* of 2L, so that the inputs of a window fit in two registers;
- for a slice and a window, *step* j holds, for every row l of the slice, the row's j-th
  stored weight in that window and its offset in the window (one byte) - or a zero;
- a slice's product is then, window by window, ``simd.slice_fma``: per step one load of L
  weights, one permute that picks their L inputs out of the two registers, one multiply-add.

The price is the padding: a (slice, window) takes as many steps as its fullest row needs.
``padding`` reports stored slots per weight: about 2 for unstructured weights at 90% sparsity,
1.3 at 50%, and exactly 1 for 2:4 weights, whose every row holds the same number in a window.
The kernel writes its results in slice order (row ``order[i]`` at i), with the bias added and
a ReLU applied in the same pass when asked: contiguous stores. ``product`` puts them back in
the rows' own places; a chain of layers (``infer.chain``) instead reads the next layer's
columns in the same order, which costs nothing.

``Pairs`` is the same layout for 2:4 weights, where it needs no bookkeeping at all: every row
holds exactly two weights in each group of four columns, so a window of 2L columns is L steps
in every slice, step j reads group j // 2, and all that varies is the column within the group,
two bits: one 32-bit word per row and window holds its L steps' offsets. A step then reads
L weights and no offsets (4.25 bytes per weight against 5 through ``Sliced``).

Each kernel is compiled twice from its source (``sparse.variants``): with the SIMD intrinsics
as its inner loop (``sliced_matvec``, ``pairs_matvec``) and with the plain Numba loops
(``sliced_matvec_numba``, ``pairs_matvec_numba``); ``simd.resolve`` says which runs.
``sliced_matvec_numpy`` and ``pairs_matvec_numpy`` are the plain NumPy twins the kernels are
tested against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..jit import njit
from . import simd
from .csr import CSR
from .simd import pairs_fma, pairs_fma_numba, slice_fma, slice_fma_numba
from .variants import variant


@dataclass
class Sliced:
    slice_ptr: np.ndarray    # (slices + 1,) int64: a slice's entries
    windows: np.ndarray      # (entries,) int64: an entry's window
    step_ptr: np.ndarray     # (entries + 1,) int64: an entry's steps
    values: np.ndarray       # (steps, L) the weights, zero in a padding slot
    offsets: np.ndarray      # (steps, L) uint8, offset in the window (below 2L)
    order: np.ndarray        # (rows,) int64: slice row i is matrix row order[i]
    shape: tuple             # (rows, columns)

    @classmethod
    def from_csr(cls, indptr, indices, values, shape, sort_rows=True):
        """From CSR arrays."""
        rows, cols = shape
        values = np.asarray(values)
        n = simd.lanes(values.dtype)
        width = 2 * n
        n_windows = max(1, -(-cols // width))
        row = np.repeat(np.arange(rows), np.diff(indptr))
        col = np.asarray(indices, dtype=np.int64)
        if len(col) > 1 and np.any((np.diff(row) == 0) & (np.diff(col) < 0)):
            by_column = np.lexsort((col, row))          # sort each row's weights by column
            col, values = col[by_column], values[by_column]
        window = col // width
        if sort_rows:
            per_window = np.bincount(row * n_windows + window, minlength=rows * n_windows)
            order = _grouped(per_window.reshape(rows, n_windows), n)
        else:
            order = np.arange(rows, dtype=np.int64)
        place = np.empty(rows, dtype=np.int64)
        place[order] = np.arange(rows)
        # rank of each weight among its row's weights in the same window (CSR keeps rows
        # sorted, so a (row, window) run is contiguous)
        key = row * n_windows + window
        first = np.searchsorted(key, key, side="left")
        rank = np.arange(len(key)) - first
        n_slices = -(-rows // n)
        slot_entry = place[row] // n * n_windows + window            # (slice, window)
        steps = np.zeros(n_slices * n_windows, dtype=np.int64)
        np.maximum.at(steps, slot_entry, rank + 1)
        used = np.flatnonzero(steps)
        # within a slice, entries of equal length together: the step loop then ends after the
        # same count many times running, which the branch predictor learns
        used = used[np.lexsort((used, steps[used], used // n_windows))]
        entry_of = np.full(len(steps), -1, dtype=np.int64)
        entry_of[used] = np.arange(len(used))
        step_ptr = np.zeros(len(used) + 1, dtype=np.int64)
        np.cumsum(steps[used], out=step_ptr[1:])
        slice_ptr = np.searchsorted(used // n_windows, np.arange(n_slices + 1)).astype(np.int64)
        stored = np.zeros((step_ptr[-1], n), dtype=values.dtype)
        offsets = np.zeros((step_ptr[-1], n), dtype=np.uint8)
        at = step_ptr[entry_of[slot_entry]] + rank
        lane = place[row] % n
        stored[at, lane] = values
        offsets[at, lane] = col % width
        return cls(slice_ptr, (used % n_windows).astype(np.int64), step_ptr, stored, offsets,
                   order, (rows, cols))

    @classmethod
    def from_dense(cls, w, sort_rows=True):
        csr = CSR.from_dense(np.asarray(w))
        return cls.from_csr(csr.indptr, csr.indices, csr.values, csr.shape, sort_rows)

    def to_dense(self):
        """The (rows, columns) matrix the slots hold."""
        rows, cols = self.shape
        n = self.values.shape[1]
        entry = np.repeat(np.arange(len(self.windows)), np.diff(self.step_ptr))
        slice_of = np.repeat(np.arange(len(self.slice_ptr) - 1), np.diff(self.slice_ptr))
        position = slice_of[entry][:, None] * n + np.arange(n)[None, :]      # (steps, lanes)
        col = self.windows[entry][:, None] * 2 * n + self.offsets.astype(np.int64)
        keep = (position < rows) & (self.values != 0)
        dense = np.zeros((rows, cols), dtype=self.values.dtype)
        dense[self.order[position[keep]], col[keep]] = self.values[keep]
        return dense

    @property
    def padding(self):
        """Stored slots per nonzero weight (1.0: no padding)."""
        nonzero = np.count_nonzero(self.values)
        return self.values.size / nonzero if nonzero else 1.0

    def product(self, x, out, bias=None, relu=False, kernels="auto"):
        """out (rows,) = W @ x (+ bias, then ReLU) for one sample x (columns,); ``kernels``
        as in ``simd.resolve``."""
        rows, cols = self.shape
        dtype = self.values.dtype
        if len(x) != cols:
            raise ValueError(f"x must hold {cols} values, got {len(x)}")
        padded = np.zeros(simd.padded_length(cols, dtype), dtype)
        padded[:cols] = x
        bias = np.zeros(rows, dtype) if bias is None else np.asarray(bias, dtype)
        in_order = np.empty(rows, dtype)
        if rows:
            matvec = SLICED_MATVEC[simd.resolve(kernels)]
            matvec(self.slice_ptr, self.windows, self.step_ptr, self.values, self.offsets,
                   padded, bias[self.order], relu, in_order)
        out[self.order] = in_order
        return out


def _grouped(per_window, n, candidates=8):
    """Rows in slices of ``n``, each slice filled greedily: it starts from the longest row
    left, then takes, among the ``candidates`` x ``n`` longest rows left, the one that adds
    fewest steps (a slice's steps in a window are its fullest row's weights there). At 90%
    sparsity this stores 12% fewer slots than slices of rows sorted by length."""
    left = list(np.argsort(-per_window.sum(axis=1), kind="stable"))
    order = []
    while left:
        profile = per_window[left[0]].copy()
        order.append(left.pop(0))
        for _ in range(min(n - 1, len(left))):
            pool = np.array(left[:candidates * n])
            added = np.maximum(per_window[pool] - profile, 0).sum(axis=1)
            pick = int(np.argmin(added))
            profile = np.maximum(profile, per_window[pool[pick]])
            order.append(left.pop(pick))
    return np.array(order, dtype=np.int64)


def _sliced_matvec(slice_ptr, windows, step_ptr, values, offsets, x, bias, relu, out):
    """out[i] = (W @ x)[order[i]] + bias[i], then max(., 0) if ``relu``: results and ``bias``
    in slice order; ``x`` padded with zeros to ``simd.padded_length``."""
    n = values.shape[1]
    acc = np.empty(n, dtype=values.dtype)
    for s in range(len(slice_ptr) - 1):
        slice_fma(values, offsets, x, windows, step_ptr, slice_ptr[s], slice_ptr[s + 1], acc)
        _put(acc, bias, relu, out, s * n)


@njit(cache=True, inline="always")
def _put(acc, bias, relu, out, first):
    """A slice's results: out[first + l] = acc[l] + bias[first + l], then ReLU if asked."""
    for lane in range(min(len(acc), len(out) - first)):
        y = acc[lane] + bias[first + lane]
        out[first + lane] = max(y, 0) if relu else y


def matvec_numpy(matrix, x, bias=None, relu=False):
    """The twin of both kernels: the dense matrix rebuilt from the storage, times x."""
    y = matrix.to_dense() @ x + (0 if bias is None else bias)
    return np.maximum(y, 0) if relu else y


sliced_matvec_numpy = pairs_matvec_numpy = matvec_numpy


@dataclass
class Pairs:
    values: np.ndarray       # (slices · windows · L, L): step j of window w of slice s in
    #                          row (s · windows + w) · L + j
    codes: np.ndarray        # (slices · windows, 4L) uint8: per lane, a 32-bit word of two-bit
    #                          offsets, step j's in bits 2j and 2j + 1
    n_windows: int
    shape: tuple             # (rows, columns)

    @classmethod
    def from_nm(cls, nm):
        """From ``sparse.patterns.NM`` storage of 2:4 weights."""
        if (nm.m, nm.values.shape[2]) != (4, 2):
            raise ValueError(f"Pairs stores 2:4 weights, got {nm.values.shape[2]}:{nm.m}")
        rows, cols = nm.shape
        dtype = nm.values.dtype
        n = simd.lanes(dtype)
        per_window = n // 2                              # groups of four in 2n columns
        groups = nm.values.shape[1]
        n_windows = max(1, -(-groups // per_window))
        n_slices = -(-rows // n)
        values = np.zeros((n_slices * n, n_windows * per_window, 2), dtype)
        offsets = np.zeros((n_slices * n, n_windows * per_window, 2), np.uint32)
        values[:rows, :groups], offsets[:rows, :groups] = nm.values, nm.offsets
        # (slice, lane, window, step) -> (slice, window, step, lane)
        values = values.reshape(n_slices, n, n_windows, n).transpose(0, 2, 3, 1)
        words = (offsets.reshape(n_slices, n, n_windows, n)
                 << (2 * np.arange(n, dtype=np.uint32))).sum(axis=3, dtype=np.uint32)
        codes = np.ascontiguousarray(words.transpose(0, 2, 1)).view(np.uint8)
        return cls(np.ascontiguousarray(values).reshape(-1, n),
                   codes.reshape(n_slices * n_windows, 4 * n), n_windows, (rows, cols))

    def to_dense(self):
        rows, cols = self.shape
        n = self.values.shape[1]
        n_slices = len(self.codes) // self.n_windows
        words = self.codes.view(np.uint32).reshape(n_slices, self.n_windows, n).astype(np.int64)
        step = np.arange(n)
        column = (np.arange(self.n_windows)[None, :, None, None] * 2 * n
                  + 4 * (step // 2)[None, None, :, None]
                  + ((words[:, :, None, :] >> (2 * step)[None, None, :, None]) & 3))
        row = (np.arange(n_slices)[:, None, None, None] * n
               + np.arange(n)[None, None, None, :])
        values = self.values.reshape(n_slices, self.n_windows, n, n)
        row, column = np.broadcast_arrays(row, column)
        keep = (values != 0) & (row < rows)
        dense = np.zeros((rows, self.n_windows * 2 * n), self.values.dtype)   # whole windows
        dense[row[keep], column[keep]] = values[keep]
        return dense[:, :cols]

    def product(self, x, out, bias=None, relu=False, kernels="auto"):
        """out (rows,) = W @ x (+ bias, then ReLU) for one sample x (columns,); ``kernels``
        as in ``simd.resolve``."""
        rows, cols = self.shape
        dtype = self.values.dtype
        padded = np.zeros(self.n_windows * 2 * self.values.shape[1], dtype)
        padded[:cols] = x
        bias = np.zeros(rows, dtype) if bias is None else np.asarray(bias, dtype)
        if rows:
            matvec = PAIRS_MATVEC[simd.resolve(kernels)]
            matvec(self.values, self.codes, self.n_windows, padded, bias, relu, out)
        return out


def _pairs_matvec(values, codes, n_windows, x, bias, relu, out):
    """out = W @ x + bias (then max(., 0) if ``relu``) for 2:4 weights in ``Pairs`` storage;
    ``x`` padded with zeros to whole windows."""
    n = values.shape[1]
    acc = np.empty(n, dtype=values.dtype)
    for s in range(len(codes) // n_windows):
        pairs_fma(values, codes, x, s * n_windows, n_windows, acc)
        _put(acc, bias, relu, out, s * n)


sliced_matvec = njit(cache=True)(_sliced_matvec)
sliced_matvec_numba = njit(cache=True)(variant(_sliced_matvec, "_numba",
                                               slice_fma=slice_fma_numba))
pairs_matvec = njit(cache=True)(_pairs_matvec)
pairs_matvec_numba = njit(cache=True)(variant(_pairs_matvec, "_numba",
                                              pairs_fma=pairs_fma_numba))
SLICED_MATVEC = {"simd": sliced_matvec, "numba": sliced_matvec_numba}
PAIRS_MATVEC = {"simd": pairs_matvec, "numba": pairs_matvec_numba}
