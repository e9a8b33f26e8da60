"""Sliced storage: a sparse matrix laid out for one-sample products at SIMD speed.

At batch 1 a sparse product is a gather per stored weight, and a scalar gather caps the CSR
loop at about half a nanosecond per weight. ``Sliced`` trades a little padding for SIMD:

- rows are taken in *slices* of L (16 float32 or 8 float64: one 64-byte register of sums),
  the longest rows first (``order``), so rows of like length share a slice (or in their own
  order, ``sort_rows=False``);
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

``sliced_matvec_numpy`` is the plain NumPy twin the kernel is tested against.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from . import simd


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
        lengths = np.diff(indptr)
        order = (np.argsort(-lengths, kind="stable").astype(np.int64) if sort_rows
                 else np.arange(rows, dtype=np.int64))
        place = np.empty(rows, dtype=np.int64)
        place[order] = np.arange(rows)
        row = np.repeat(np.arange(rows), lengths)
        col = np.asarray(indices, dtype=np.int64)
        if len(col) > 1 and np.any((np.diff(row) == 0) & (np.diff(col) < 0)):
            by_column = np.lexsort((col, row))          # sort each row's weights by column
            col, values = col[by_column], values[by_column]
        # rank of each weight among its row's weights in the same window (CSR keeps rows
        # sorted, so a (row, window) run is contiguous)
        key = row * n_windows + col // width
        first = np.searchsorted(key, key, side="left")
        rank = np.arange(len(key)) - first
        n_slices = -(-rows // n)
        slot_entry = place[row] // n * n_windows + col // width      # (slice, window)
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
        from .csr import CSR
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

    def product(self, x, out, bias=None, relu=False):
        """out (rows,) = W @ x (+ bias, then ReLU) for one sample x (columns,)."""
        rows, cols = self.shape
        dtype = self.values.dtype
        if len(x) != cols:
            raise ValueError(f"x must hold {cols} values, got {len(x)}")
        padded = np.zeros(simd.padded_length(cols, dtype), dtype)
        padded[:cols] = x
        bias = np.zeros(rows, dtype) if bias is None else np.asarray(bias, dtype)
        in_order = np.empty(rows, dtype)
        if rows:
            sliced_matvec(self.slice_ptr, self.windows, self.step_ptr, self.values,
                          self.offsets, padded, bias[self.order], relu, in_order)
        out[self.order] = in_order
        return out


@njit(cache=True)
def sliced_matvec(slice_ptr, windows, step_ptr, values, offsets, x, bias, relu, out):
    """out[i] = (W @ x)[order[i]] + bias[i], then max(., 0) if ``relu``: results and ``bias``
    in slice order; ``x`` padded with zeros to ``simd.padded_length``."""
    n = values.shape[1]
    acc = np.empty(n, dtype=values.dtype)
    rows = len(out)
    for s in range(len(slice_ptr) - 1):
        simd.slice_fma(values, offsets, x, windows, step_ptr, slice_ptr[s], slice_ptr[s + 1],
                       acc)
        first = s * n
        for lane in range(min(n, rows - first)):
            y = acc[lane] + bias[first + lane]
            out[first + lane] = max(y, 0) if relu else y


def sliced_matvec_numpy(matrix, x, bias=None, relu=False):
    """The twin: the dense matrix rebuilt from the slots, times x."""
    y = matrix.to_dense() @ x + (0 if bias is None else bias)
    return np.maximum(y, 0) if relu else y
