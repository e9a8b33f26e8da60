"""The sparse kernels (Numba). Each takes and returns plain arrays and has a NumPy twin in
``reference.py``; with ``NUMBA_DISABLE_JIT=1`` they run as the plain Python written here.

Layout is what makes them fast. Activations are held *transposed*, one row per feature and the
batch along the row: ``xt`` of shape (n_in, batch). Then every stored weight w[o, i] does one
contiguous, vectorisable update of a whole batch, ``yt[o, :] += w · xt[i, :]``, and the kernel
streams through W once. (Per-sample dot products over W's rows, the row-major alternative, were
measured 5-15x slower.) A batch of one is a matrix-vector product with its own kernel. Column
indices are unsigned (uint32), which spares Numba a negative-index check on every access. The
gradient for X uses the same kernel with Wᵀ in CSR form, because
the scatter-shaped loop over W was measured 2.5-5x slower than dense at 90% sparsity.

Threads: each kernel is compiled twice from the same source, serial and ``parallel=True`` over
output rows. minprune uses the serial one unless ``set_threads(n > 1)`` is called, so by
default only one thread pool (BLAS, for the dense layers) is ever busy: on two cores a Numba
pool alternating with a multi-threaded BLAS was measured 9x slower than either alone.
"""
from __future__ import annotations

from numba import njit, prange


def csr_matmul(indptr, indices, values, xt, out):
    """out (n_rows, batch) = W @ xt, for W in CSR (n_rows x n_cols) and xt (n_cols, batch)."""
    batch = xt.shape[1]
    for r in prange(len(indptr) - 1):
        start, end = indptr[r], indptr[r + 1]
        for b in range(batch):
            out[r, b] = 0
        k = start
        # Four stored weights per pass: the output row is loaded and stored a quarter as often.
        while k + 4 <= end:
            c0, c1, c2, c3 = indices[k], indices[k + 1], indices[k + 2], indices[k + 3]
            w0, w1, w2, w3 = values[k], values[k + 1], values[k + 2], values[k + 3]
            for b in range(batch):
                out[r, b] += w0 * xt[c0, b] + w1 * xt[c1, b] + w2 * xt[c2, b] + w3 * xt[c3, b]
            k += 4
        while k < end:
            c, w = indices[k], values[k]
            for b in range(batch):
                out[r, b] += w * xt[c, b]
            k += 1
    return out


def csr_matvec(indptr, indices, values, x, out, zero):
    """out (n_rows,) = W @ x for one sample x (n_cols,): a sparse dot product per row, summed
    from ``zero`` (a 0 of the values' dtype)."""
    for r in prange(len(indptr) - 1):
        acc = zero
        for k in range(indptr[r], indptr[r + 1]):
            acc += values[k] * x[indices[k]]
        out[r] = acc
    return out


def csr_sddmm(indptr, indices, gt, xt, out):
    """Sampled dense-dense product at W's pattern: out[k] = gt[r] · xt[indices[k]] for the k-th
    stored entry (r, c) — the gradient of the loss for the stored weights only."""
    batch = gt.shape[1]
    if batch == 0:
        out[:] = 0
        return out
    for r in prange(len(indptr) - 1):
        g = gt[r]
        for k in range(indptr[r], indptr[r + 1]):
            x = xt[indices[k]]
            acc = g[0] * 0                         # accumulate in the arrays' own precision
            for b in range(batch):
                acc += g[b] * x[b]
            out[k] = acc
    return out


KERNELS = {"matmul": csr_matmul, "matvec": csr_matvec, "sddmm": csr_sddmm}
# The sum over the batch in sddmm is a chain of dependent additions unless the compiler may
# reorder them; allowing reassociation (and only that) lets it use SIMD lanes as separate
# partial sums (measured 5x faster). Results change in the last bits, as any other summation
# order would. (In matvec the same option makes the compiler gather, which was slower.)
_OPTIONS = {"matmul": {}, "matvec": {}, "sddmm": {"fastmath": {"reassoc"}}}
_serial = {name: njit(cache=True, **_OPTIONS[name])(fn) for name, fn in KERNELS.items()}
_parallel = {name: njit(cache=True, parallel=True, **_OPTIONS[name])(fn)
             for name, fn in KERNELS.items()}
_threads = 1


def set_threads(n):
    """Use ``n`` threads in the sparse kernels (1 = serial, the default; see module notes)."""
    global _threads
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    if n > 1:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _threads = n


def kernel(name):
    """The compiled kernel ``name`` for the current thread setting."""
    return (_parallel if _threads > 1 else _serial)[name]


def matmul(indptr, indices, values, xt, out):
    """out = W @ xt; a batch of one goes to the matrix-vector kernel."""
    if xt.shape[1] == 1:
        kernel("matvec")(indptr, indices, values, xt.reshape(-1), out.reshape(-1),
                         values.dtype.type(0))
        return out
    return kernel("matmul")(indptr, indices, values, xt, out)


def sddmm(indptr, indices, gt, xt, out):
    return kernel("sddmm")(indptr, indices, gt, xt, out)
