"""Storage for N:M weights: the regularity the pattern promises, kept.

``NM`` keeps, for every row and every group of M consecutive columns, exactly N slots: the
values and their offsets within the group (one byte each; a group with fewer kept weights
holds zeros). No row pointers, no column indices: the position of group g is g·M.

It is the form 2:4 weights are lowered to by ``infer`` because they have a kernel of their own
at one sample (``sparse.sliced.Pairs``, built from it); for a batch, and for every other N:M
pattern, the CSR kernels of ``kernels.py`` run on ``to_csr()``. Direct loops over this storage
and over R x C blocks were tried and were slower at every batch size than those two
(``minprune bench latency`` shows the pattern rows); blocks are therefore lowered to CSR. The
weight's matrix is ``prune.patterns.as_matrix`` of it (conv weights channels-last, the order of
im2col's columns).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..prune import patterns
from . import kernels
from .csr import CSR


@dataclass
class NM:
    values: np.ndarray       # (rows, groups, n)
    offsets: np.ndarray      # (rows, groups, n) uint8, in [0, m)
    m: int
    shape: tuple             # (rows, columns) of the matrix

    @classmethod
    def from_matrix(cls, w, keep, pattern):
        """From a matrix and its keep mask (which must obey the N:M ``pattern``)."""
        n, m = pattern.n, pattern.m
        w, keep = np.asarray(w), np.asarray(keep, dtype=bool)
        if not patterns.satisfies(keep, pattern):
            raise ValueError(f"the weight does not obey {pattern.name}: some group of {m} "
                             f"keeps more than {n}")
        rows, cols = w.shape
        g = -(-cols // m)
        wp = np.zeros((rows, g * m), dtype=w.dtype)
        kp = np.zeros((rows, g * m), dtype=bool)
        wp[:, :cols], kp[:, :cols] = w, keep
        wp, kp = wp.reshape(rows, g, m), kp.reshape(rows, g, m)
        pos = np.argsort(~kp, axis=2, kind="stable")[:, :, :n]     # the kept ones first
        used = np.take_along_axis(kp, pos, axis=2)
        values = np.take_along_axis(wp, pos, axis=2) * used
        # an unused slot points at the group's first column: always inside the matrix
        return cls(np.ascontiguousarray(values), np.where(used, pos, 0).astype(np.uint8), m,
                   (rows, cols))

    def columns(self):
        """(rows, groups, n) int64: the matrix column of every slot."""
        g = self.values.shape[1]
        return (np.arange(g) * self.m)[None, :, None] + self.offsets.astype(np.int64)

    def to_dense(self):
        rows, cols = self.shape
        dense = np.zeros((rows, self.values.shape[1] * self.m), dtype=self.values.dtype)
        np.add.at(dense, (np.arange(rows)[:, None, None], self.columns()), self.values)
        return dense[:, :cols]

    def to_csr(self):
        """The same weights in CSR (slots holding zero are not stored): read off the slots,
        which are already in column order within each row."""
        keep = self.values != 0
        counts = keep.sum(axis=(1, 2))
        indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return CSR(indptr, self.columns()[keep], self.values[keep], self.shape)

    def scaled(self, scale):
        """Row r times scale[r] (a BatchNorm folded in)."""
        return NM((self.values * scale[:, None, None]).astype(self.values.dtype),
                  self.offsets, self.m, self.shape)

    def product(self, xt, out):
        """out (rows, batch) = W @ xt (columns, batch), by the CSR kernels."""
        csr = self.__dict__.get("_csr")
        if csr is None:
            csr = self.__dict__["_csr"] = self.to_csr()
        return kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)
