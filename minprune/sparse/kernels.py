"""The sparse kernels (Numba). Each takes and returns plain arrays and has a NumPy twin in
``reference.py``; with ``NUMBA_DISABLE_JIT=1`` they run as the plain Python written here.

Layout is what makes them fast. Activations are held *transposed*, one row per feature and the
batch along the row: ``xt`` of shape (n_in, batch). Then every stored weight w[o, i] does one
contiguous, vectorisable update of a whole batch, ``yt[o, :] += w · xt[i, :]``, and the kernel
streams through W once; per-sample dot products over W's rows, the row-major alternative,
gather instead and were several times slower. The gradient for X uses the same kernels with Wᵀ
in CSR form, because the scatter-shaped loop over W lost even to dense at 90% sparsity.
(How much, on the machine at hand: ``minprune bench sparse``; every choice below was made
from its measurements, and the README's speed table quotes them.)

``matmul`` picks the kernel by batch size:

- batch 1, ``csr_matvec``: a sparse dot product per row;
- batch 2-8, ``csr_matmul_8``: the eight sums of an output row are eight local variables that
  stay in one SIMD register while the row's stored weights stream past, four per pass (smaller
  batches are padded with zeros to 8);
- batch 9-128, ``csr_matmul_16``: the same with sixteen sums, one weight per step, for each
  block of 16 samples (the batch is padded to a multiple of 16);
- larger batches, ``csr_matmul``: the output row stays in memory (in L1 cache) and each stored
  weight updates the whole of it, eight weights per pass, then four (LeNet-5's second
  convolution in training, forward and input gradient: 12-15% faster than four at a time
  throughout) - in blocks of ``COLUMN_BLOCK`` columns, every row's block before the next,
  the rows of xt read one cache line further apart where their length is a multiple of 4 KB
  (``padded_rows``; see ``ALIASED``).

Two details decide the speed of the inner loops. Numba checks a *signed* index for a negative
value on every access (to wrap it round as Python does); unsigned positions (uint32 column
indices, uint64 positions within a row) skip that check, which is most of the column loop's
cost. And the tile kernels rely on LLVM's straight-line (SLP) vectorizer to pack their sums
into SIMD registers; Numba leaves it off by default (``NUMBA_SLP_VECTORIZE``) and has no public
switch for one function, so these kernels are compiled with it on (``_with_slp``, which wraps
the dispatcher's private ``_compile_for_args``; a test fails if that moves). Without it they
are still correct, and several times slower.

Threads: each kernel is compiled twice from the same source, serial and ``parallel=True`` over
output rows. minprune uses the serial one unless ``set_threads(n > 1)`` is called, so by
default only one thread pool (BLAS, for the dense layers) is ever busy: two pools taking
turns on the same cores wait for each other, and end up slower than either alone. Even then,
a product of fewer than ``PARALLEL_MIN_WORK`` multiply-adds (stored weights x batch) runs
serially: starting the pool costs more than such a product takes.
"""
from __future__ import annotations

import contextlib

import numpy as np
from numba import prange

from ..jit import njit
from numba.core import config as numba_config

from .. import threads
from ..checks import integer
from .variants import variant

# Unsigned offsets: ``k + 1`` with an unsigned k and a plain 1 would be a signed sum again.
ONE, TWO, THREE, FOUR = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)
FIVE, SIX, SEVEN, EIGHT = np.uint64(5), np.uint64(6), np.uint64(7), np.uint64(8)
TILE_16_MAX_BATCH = 128          # above this, csr_matmul (bench sparse: it wins at 256)
PARALLEL_MIN_WORK = 1 << 24      # multiply-adds; below, two threads were slower than one
# Columns of xt (samples, or a convolution's output pixels) that csr_matmul and csr_sddmm
# take at a time: 256 float32 are 1 KB of each of xt's rows, so LeNet-5's second
# convolution (500 rows of columns) reads a 500 KB block from the second-level cache where
# its whole 8 MB of columns came from memory for every stored weight (its forward product
# in training, rows padded as below: 3.7 ms unblocked, 1.7 ms in blocks).
COLUMN_BLOCK = 256
# Rows of xt a multiple of 4 KB long fall on the same sets of the caches, block after block
# (address bits 6-11 pick the first-level set), so that a block of 500 rows 16 KB apart
# keeps a dozen in the first-level cache and thrashes the second: LeNet-5's columns at batch
# 64 (500 x 4096 float32) took 3.3 ms blocked with rows 4096 apart, 1.7 ms with rows 4112
# apart (a cache line more: ``padded_rows``).
ALIASED = 4096
LINE = 64


def csr_matvec(indptr, indices, values, x, out, zero):
    """out (n_rows,) = W @ x for one sample x (n_cols,): a sparse dot product per row, summed
    from ``zero`` (a 0 of the values' dtype) in four partial sums, so that an addition need
    not wait for the one before (with four the loop is bound by its loads; eight gained
    nothing)."""
    for r in prange(len(indptr) - 1):
        start, end = np.uint64(indptr[r]), np.uint64(indptr[r + 1])
        end_of_fours = start + (end - start) // FOUR * FOUR
        a0 = a1 = a2 = a3 = zero
        for k in range(start, end_of_fours, FOUR):
            a0 += values[k] * x[indices[k]]
            a1 += values[k + ONE] * x[indices[k + ONE]]
            a2 += values[k + TWO] * x[indices[k + TWO]]
            a3 += values[k + THREE] * x[indices[k + THREE]]
        for k in range(end_of_fours, end):
            a0 += values[k] * x[indices[k]]
        out[r] = (a0 + a1) + (a2 + a3)
    return out


def csr_matmul_8(indptr, indices, values, xt, out, zero):
    """out (n_rows, 8) = W @ xt for xt (n_cols, 8): a row's eight sums in a0..a7."""
    for r in prange(len(indptr) - 1):
        start, end = np.uint64(indptr[r]), np.uint64(indptr[r + 1])
        end_of_fours = start + (end - start) // FOUR * FOUR
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
        for k in range(start, end_of_fours, FOUR):     # four stored weights per pass
            w0, w1, w2, w3 = values[k], values[k + ONE], values[k + TWO], values[k + THREE]
            p, q = xt[indices[k]], xt[indices[k + ONE]]
            s, t = xt[indices[k + TWO]], xt[indices[k + THREE]]
            a0 += w0 * p[0] + w1 * q[0] + w2 * s[0] + w3 * t[0]
            a1 += w0 * p[1] + w1 * q[1] + w2 * s[1] + w3 * t[1]
            a2 += w0 * p[2] + w1 * q[2] + w2 * s[2] + w3 * t[2]
            a3 += w0 * p[3] + w1 * q[3] + w2 * s[3] + w3 * t[3]
            a4 += w0 * p[4] + w1 * q[4] + w2 * s[4] + w3 * t[4]
            a5 += w0 * p[5] + w1 * q[5] + w2 * s[5] + w3 * t[5]
            a6 += w0 * p[6] + w1 * q[6] + w2 * s[6] + w3 * t[6]
            a7 += w0 * p[7] + w1 * q[7] + w2 * s[7] + w3 * t[7]
        for k in range(end_of_fours, end):             # the last one to three
            w, p = values[k], xt[indices[k]]
            a0 += w * p[0]
            a1 += w * p[1]
            a2 += w * p[2]
            a3 += w * p[3]
            a4 += w * p[4]
            a5 += w * p[5]
            a6 += w * p[6]
            a7 += w * p[7]
        o = out[r]
        o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = a0, a1, a2, a3, a4, a5, a6, a7
    return out


def csr_matmul_16(indptr, indices, values, xt, out, zero):
    """out (n_rows, m, 16) = W @ xt for xt (n_cols, m, 16): a batch of 16m samples in blocks
    of 16, a row's sixteen sums of one block in a0..a7 and b0..b7."""
    for r in prange(len(indptr) - 1):
        start, end = np.uint64(indptr[r]), np.uint64(indptr[r + 1])
        for j in range(xt.shape[1]):
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
            b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = zero
            for k in range(start, end):
                w, p = values[k], xt[indices[k], j]
                a0 += w * p[0]
                a1 += w * p[1]
                a2 += w * p[2]
                a3 += w * p[3]
                a4 += w * p[4]
                a5 += w * p[5]
                a6 += w * p[6]
                a7 += w * p[7]
                b0 += w * p[8]
                b1 += w * p[9]
                b2 += w * p[10]
                b3 += w * p[11]
                b4 += w * p[12]
                b5 += w * p[13]
                b6 += w * p[14]
                b7 += w * p[15]
            o = out[r, j]
            o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = a0, a1, a2, a3, a4, a5, a6, a7
            o[8], o[9], o[10], o[11], o[12], o[13], o[14], o[15] = b0, b1, b2, b3, b4, b5, b6, b7
    return out


def csr_matmul(indptr, indices, values, xt, out):
    """out (n_rows, batch) = W @ xt, for W in CSR (n_rows x n_cols) and xt (n_cols, batch):
    the batch in blocks of ``COLUMN_BLOCK``, every row's block before the next block, so that
    the block of xt the rows read stays in the second-level cache. xt may be wider than out
    (rows further apart, ``padded_rows``): its first ``out.shape[1]`` columns are read."""
    batch = np.uint64(out.shape[1])
    for block in range(0, out.shape[1], COLUMN_BLOCK):
        b0 = np.uint64(block)                       # (unsigned, as the positions in a row)
        b1 = min(batch, b0 + np.uint64(COLUMN_BLOCK))
        for r in prange(len(indptr) - 1):
            start, end = np.uint64(indptr[r]), np.uint64(indptr[r + 1])
            end_of_eights = start + (end - start) // EIGHT * EIGHT
            end_of_fours = end_of_eights + (end - end_of_eights) // FOUR * FOUR
            for b in range(b0, b1):
                out[r, b] = 0
            # Eight, then four stored weights per pass: the output row is loaded and stored an
            # eighth (a quarter) as often.
            for k in range(start, end_of_eights, EIGHT):
                c0, c1, c2, c3 = indices[k], indices[k + ONE], indices[k + TWO], indices[k + THREE]
                c4, c5 = indices[k + FOUR], indices[k + FIVE]
                c6, c7 = indices[k + SIX], indices[k + SEVEN]
                w0, w1, w2, w3 = values[k], values[k + ONE], values[k + TWO], values[k + THREE]
                w4, w5 = values[k + FOUR], values[k + FIVE]
                w6, w7 = values[k + SIX], values[k + SEVEN]
                for b in range(b0, b1):
                    out[r, b] += ((w0 * xt[c0, b] + w1 * xt[c1, b]) + (w2 * xt[c2, b]
                                  + w3 * xt[c3, b])) + ((w4 * xt[c4, b] + w5 * xt[c5, b])
                                                        + (w6 * xt[c6, b] + w7 * xt[c7, b]))
            for k in range(end_of_eights, end_of_fours, FOUR):
                c0, c1, c2, c3 = indices[k], indices[k + ONE], indices[k + TWO], indices[k + THREE]
                w0, w1, w2, w3 = values[k], values[k + ONE], values[k + TWO], values[k + THREE]
                for b in range(b0, b1):
                    out[r, b] += (w0 * xt[c0, b] + w1 * xt[c1, b] + w2 * xt[c2, b]
                                  + w3 * xt[c3, b])
            for k in range(end_of_fours, end):
                c, w = indices[k], values[k]
                for b in range(b0, b1):
                    out[r, b] += w * xt[c, b]
    return out


def csr_sddmm(indptr, indices, gt, xt, out, zero):
    """Sampled dense-dense product at W's pattern: out[k] = gt[r] · xt[indices[k]] for the k-th
    stored entry (r, c) — the gradient of the loss for the stored weights only. Four stored
    weights of a row per pass: four sums, each its own chain of additions, that share the
    loads of gt's row (one chain waits on the adder's latency: LeNet-5's second convolution
    at batch 64 took 2.4 ms with one, 1.7 with four; its dense product 2.6). The batch in
    blocks of ``COLUMN_BLOCK``, as ``csr_matmul`` walks it; xt may be wider than gt."""
    batch = np.uint64(gt.shape[1])
    for block in range(0, max(gt.shape[1], 1), COLUMN_BLOCK):
        b0 = np.uint64(block)
        b1 = min(batch, b0 + np.uint64(COLUMN_BLOCK))
        for r in prange(len(indptr) - 1):
            g = gt[r]
            start, end = np.uint64(indptr[r]), np.uint64(indptr[r + 1])
            end_of_fours = start + (end - start) // FOUR * FOUR
            for k in range(start, end_of_fours, FOUR):
                x0, x1 = xt[indices[k]], xt[indices[k + ONE]]
                x2, x3 = xt[indices[k + TWO]], xt[indices[k + THREE]]
                a0 = a1 = a2 = a3 = zero
                for b in range(b0, b1):
                    a0 += g[b] * x0[b]
                    a1 += g[b] * x1[b]
                    a2 += g[b] * x2[b]
                    a3 += g[b] * x3[b]
                if b0 == 0:
                    out[k], out[k + ONE], out[k + TWO], out[k + THREE] = a0, a1, a2, a3
                else:
                    out[k] += a0
                    out[k + ONE] += a1
                    out[k + TWO] += a2
                    out[k + THREE] += a3
            for k in range(end_of_fours, end):
                x = xt[indices[k]]
                acc = zero
                for b in range(b0, b1):
                    acc += g[b] * x[b]
                out[k] = acc if b0 == 0 else out[k] + acc
    return out


KERNELS = {"matvec": csr_matvec, "matmul_8": csr_matmul_8, "matmul_16": csr_matmul_16,
           "matmul": csr_matmul, "sddmm": csr_sddmm}
# The sum over the batch in sddmm is a chain of dependent additions unless the compiler may
# reorder them; allowing reassociation (and only that) lets it use SIMD lanes as separate
# partial sums, several times faster. Results change in the last bits, as any other summation
# order would. (In matvec the same option makes the compiler gather, which was slower.)
_OPTIONS = {name: {} for name in KERNELS}
_OPTIONS["sddmm"] = {"fastmath": {"reassoc"}}


@contextlib.contextmanager
def _slp_vectorizer():
    saved = numba_config.SLP_VECTORIZE
    numba_config.SLP_VECTORIZE = 1
    try:
        yield
    finally:
        numba_config.SLP_VECTORIZE = saved


def _with_slp(dispatcher):
    """Compile (or load from the cache) ``dispatcher``'s specialisations with LLVM's SLP
    vectorizer on. Numba compiles on the first call with new argument types, through the
    dispatcher's ``_compile_for_args``; this wraps that one method."""
    compile_for_args = getattr(dispatcher, "_compile_for_args", None)
    if compile_for_args is None:                   # NUMBA_DISABLE_JIT: a plain function
        return dispatcher

    def compile_with_slp(*args, **kwargs):
        with _slp_vectorizer():
            return compile_for_args(*args, **kwargs)
    dispatcher._compile_for_args = compile_with_slp
    return dispatcher


_serial = {name: _with_slp(njit(cache=True, nogil=True, **_OPTIONS[name])(fn))
           for name, fn in KERNELS.items()}
_parallel = {name: _with_slp(njit(cache=True, parallel=True, **_OPTIONS[name])(
                 variant(fn, "_parallel")))
             for name, fn in KERNELS.items()}
_threads = 1


def set_threads(n):
    """Use ``n`` threads in the sparse kernels (1 = serial, the default; see module notes)."""
    global _threads
    integer("threads", n, 1)
    threads.note_kernels(n)
    if n > 1:
        import numba
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    _threads = n


def kernel(name, work=None):
    """The compiled kernel ``name`` for the current thread setting and ``work`` multiply-adds
    (None: as much as it takes to be worth the threads)."""
    parallel = _threads > 1 and (work is None or work >= PARALLEL_MIN_WORK)
    return (_parallel if parallel else _serial)[name]


def padded_rows(n, batch, dtype):
    """An empty (n, batch) array for the kernels to read as xt: a view of (n, batch + one
    cache line) where rows ``batch`` long would be a multiple of ``ALIASED`` bytes apart,
    of (n, batch) otherwise. ``matmul`` and ``sddmm`` read such a view's rows in place."""
    dtype = np.dtype(dtype)
    wide = batch + LINE // dtype.itemsize if _aliased(batch, dtype) else batch
    return np.empty((n, wide), dtype)[:, :batch]


def _aliased(batch, dtype):
    return batch > TILE_16_MAX_BATCH and (batch * dtype.itemsize) % ALIASED == 0


def _rows_of(xt):
    """xt (n, batch) as ``csr_matmul`` and ``csr_sddmm`` read it: C-contiguous rows whose
    first ``batch`` numbers are xt's rows - xt itself, the wider array xt is the front of
    (``padded_rows``), or a copy (with longer rows where xt's are ``_aliased``)."""
    n, batch = xt.shape
    base = xt.base
    if (not xt.flags.c_contiguous and isinstance(base, np.ndarray) and base.ndim == 2
            and base.flags.c_contiguous and base.shape[0] == n and base.shape[1] >= batch
            and base.dtype == xt.dtype and xt.strides == base.strides
            and xt.__array_interface__["data"][0] == base.__array_interface__["data"][0]):
        return base
    if not _aliased(batch, xt.dtype):
        return np.ascontiguousarray(xt)
    out = padded_rows(n, batch, xt.dtype)
    out[...] = xt
    return out.base


def _padded(xt, width):
    """xt (n, batch) with zero columns appended up to a multiple of ``width``."""
    n, batch = xt.shape
    padded = np.zeros((n, -(-batch // width) * width), dtype=xt.dtype)
    padded[:, :batch] = xt
    return padded


def matmul(indptr, indices, values, xt, out):
    """out (n_rows, batch) = W @ xt (n_cols, batch), by the kernel suited to the batch."""
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous (the kernels write into it in place)")
    batch = xt.shape[1]
    if out.shape != (len(indptr) - 1, batch):
        raise ValueError(f"matmul: W has {len(indptr) - 1} rows and xt {batch} columns, so "
                         f"out must be {(len(indptr) - 1, batch)}, got {out.shape}")
    if batch == 0 or out.size == 0:               # nothing to compute, nothing to write
        return out
    work = len(values) * batch
    zero = values.dtype.type(0)
    if batch > TILE_16_MAX_BATCH:
        kernel("matmul", work)(indptr, indices, values, _rows_of(xt), out)
        return out
    xt = np.ascontiguousarray(xt)
    if batch == 1:
        kernel("matvec", work)(indptr, indices, values, xt.reshape(-1), out.reshape(-1), zero)
    else:
        width = 8 if batch <= 8 else 16
        if batch % width:                          # compute on padded copies, keep the front
            padded = _padded(xt, width)
            full = matmul(indptr, indices, values, padded,
                          np.empty((out.shape[0], padded.shape[1]), out.dtype))
            out[:] = full[:, :batch]
        elif width == 8:
            kernel("matmul_8", work)(indptr, indices, values, xt, out, zero)
        else:
            n_blocks = batch // 16
            kernel("matmul_16", work)(indptr, indices, values,
                                      xt.reshape(len(xt), n_blocks, 16),
                                      out.reshape(len(out), n_blocks, 16), zero)
    return out


def sddmm(indptr, indices, gt, xt, out):
    """out (nnz,) = (gt @ xtᵀ) at W's pattern."""
    if gt.shape[1] == 0 or len(out) == 0:          # no samples: a zero gradient
        out[...] = 0
        return out
    return kernel("sddmm", len(out) * gt.shape[1])(indptr, indices, np.ascontiguousarray(gt),
                                                    _rows_of(xt), out, out.dtype.type(0))
