"""Plain-NumPy twins of the kernels: the executable specification the tests hold them to."""
from __future__ import annotations

import numpy as np


def to_dense(indptr, indices, values, n_cols):
    n_rows = len(indptr) - 1
    dense = np.zeros((n_rows, n_cols), dtype=values.dtype)
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    dense[rows, indices] = values
    return dense


def csr_matmul_reference(indptr, indices, values, xt):
    """W @ xt with W densified."""
    return to_dense(indptr, indices, values, xt.shape[0]) @ xt


def csr_matvec_reference(indptr, indices, values, x):
    """W @ x for one sample."""
    return to_dense(indptr, indices, values, len(x)) @ x


def csr_sddmm_reference(indptr, indices, gt, xt):
    """(gt @ xtᵀ) read at W's pattern."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return (gt @ xt.T)[rows, indices]
