"""CSR (compressed sparse row) storage: from a dense or masked weight, back to dense, checked.

Row r of an (n_rows x n_cols) matrix lives in ``values[indptr[r]:indptr[r+1]]`` at the columns
``indices[indptr[r]:indptr[r+1]]`` (sorted). Only the stored entries exist: a pruned weight is
not stored at all, so the kernels never multiply by it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CSR:
    indptr: np.ndarray      # (n_rows + 1,) int64, non-decreasing, from 0 to nnz
    indices: np.ndarray     # (nnz,) uint32 column of each stored value, sorted within a row
    values: np.ndarray      # (nnz,) float32 or float64
    shape: tuple

    def __post_init__(self):
        self.indptr = np.ascontiguousarray(self.indptr, dtype=np.int64)
        indices = np.asarray(self.indices)
        if indices.size and indices.dtype.kind == "i" and indices.min() < 0:
            raise ValueError(f"CSR column indices must be non-negative, got {indices.min()}")
        self.indices = np.ascontiguousarray(indices, dtype=np.uint32)
        self.values = np.ascontiguousarray(self.values)
        self.shape = tuple(int(n) for n in self.shape)
        self.check()

    @property
    def nnz(self):
        return len(self.values)

    @property
    def density(self):
        size = self.shape[0] * self.shape[1]
        return self.nnz / size if size else 0.0

    def check(self):
        """Raise ValueError unless the arrays form a valid CSR matrix (before any kernel runs)."""
        n_rows, n_cols = self.shape
        if n_rows < 0 or n_cols < 0:
            raise ValueError(f"CSR shape must be non-negative, got {self.shape}")
        if self.indptr.shape != (n_rows + 1,):
            raise ValueError(f"CSR indptr must have n_rows + 1 = {n_rows + 1} entries, got "
                             f"{self.indptr.shape[0]}")
        if self.indptr[0] != 0 or self.indptr[-1] != len(self.indices):
            raise ValueError(f"CSR indptr must run from 0 to nnz = {len(self.indices)}, got "
                             f"{self.indptr[0]} .. {self.indptr[-1]}")
        if np.any(np.diff(self.indptr) < 0):
            raise ValueError("CSR indptr must be non-decreasing")
        if len(self.values) != len(self.indices):
            raise ValueError(f"CSR has {len(self.values)} values but {len(self.indices)} "
                             f"indices")
        if self.values.dtype not in (np.float32, np.float64):
            raise ValueError(f"CSR values must be float32 or float64, got {self.values.dtype}")
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n_cols):
            raise ValueError(f"CSR column indices must lie in [0, {n_cols}), got "
                             f"{self.indices.min()} .. {self.indices.max()}")
        rows = np.repeat(np.arange(n_rows), np.diff(self.indptr))
        if len(rows) > 1:
            step = np.diff(self.indices.astype(np.int64))
            same_row = rows[1:] == rows[:-1]
            if np.any(step[same_row] <= 0):
                raise ValueError("CSR column indices must be strictly increasing within a row")

    @classmethod
    def from_dense(cls, dense, mask=None):
        """The CSR of a 2-D array; with ``mask``, exactly the entries where it is True are
        stored (zeros included), otherwise the non-zero entries."""
        dense = np.asarray(dense)
        if dense.ndim != 2:
            raise ValueError(f"CSR.from_dense takes a 2-D array, got shape {dense.shape}")
        keep = dense != 0 if mask is None else np.asarray(mask, dtype=bool).reshape(dense.shape)
        rows, cols = np.nonzero(keep)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        dtype = dense.dtype if dense.dtype in (np.float32, np.float64) else np.float32
        return cls(indptr, cols, dense[rows, cols].astype(dtype), dense.shape)

    @classmethod
    def from_parameter(cls, param):
        """The CSR of a (possibly masked) weight; conv weights are flattened to
        (out_channels, in_channels·kh·kw) in the channels-last column order (kh, kw, c) that
        minprune's im2col uses."""
        w, mask = param.data, param.mask
        if w.ndim == 4:
            w = w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
            mask = None if mask is None else mask.transpose(0, 2, 3, 1).reshape(w.shape)
        return cls.from_dense(w, mask)

    def to_dense(self):
        dense = np.zeros(self.shape, dtype=self.values.dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        dense[rows, self.indices] = self.values
        return dense

    def scaled(self, scale):
        """Row r times scale[r] (a BatchNorm folded in), same pattern."""
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        return CSR(self.indptr, self.indices,
                   (self.values * scale[rows]).astype(self.values.dtype), self.shape)

    def transpose(self):
        """(CSR of the transpose, perm) with ``transpose.values == values[perm]``: the
        backward pass keeps perm and re-gathers values after every update."""
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        perm = np.lexsort((rows, self.indices)).astype(np.int64)   # by column, then row
        indptr = np.zeros(self.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.shape[1]), out=indptr[1:])
        return CSR(indptr, rows[perm], self.values[perm], self.shape[::-1]), perm
