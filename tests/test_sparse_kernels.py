"""Kernels equal their NumPy twins on generated CSR matrices, in both dtypes.

CI runs this file a second time with NUMBA_DISABLE_JIT=1: the same kernels as plain Python.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune.sparse import CSR, kernels
from minprune.sparse.reference import (
    csr_matmul_reference,
    csr_matvec_reference,
    csr_sddmm_reference,
)


@st.composite
def sparse_problems(draw):
    n_rows = draw(st.integers(0, 9))
    n_cols = draw(st.integers(1, 9))
    batch = draw(st.one_of(st.integers(1, 20), st.sampled_from([31, 32, 33, 129, 130])))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    dense = np.where(mask, rng.standard_normal((n_rows, n_cols)), 0).astype(dtype)
    xt = rng.standard_normal((n_cols, batch)).astype(dtype)
    gt = rng.standard_normal((n_rows, batch)).astype(dtype)
    return CSR.from_dense(dense, mask), xt, gt


TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


@settings(max_examples=80, deadline=None)
@given(problem=sparse_problems(), threads=st.sampled_from([1, 2]))
def test_kernels_equal_their_twins(problem, threads):
    csr, xt, gt = problem
    kernels.set_threads(threads)
    min_work, kernels.PARALLEL_MIN_WORK = kernels.PARALLEL_MIN_WORK, 0   # small, yet parallel
    try:
        out = np.full((csr.shape[0], xt.shape[1]), np.nan, dtype=xt.dtype)   # overwritten
        kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)
        tol = TOL[xt.dtype]
        np.testing.assert_allclose(out, csr_matmul_reference(csr.indptr, csr.indices,
                                                             csr.values, xt),
                                   rtol=tol, atol=tol * 10)
        if xt.shape[1] == 1:                       # the batch-of-one path is matvec
            np.testing.assert_allclose(out[:, 0], csr_matvec_reference(
                csr.indptr, csr.indices, csr.values, xt[:, 0]), rtol=tol, atol=tol * 10)
        dv = np.full(csr.nnz, np.nan, dtype=xt.dtype)
        kernels.sddmm(csr.indptr, csr.indices, gt, xt, dv)
        np.testing.assert_allclose(dv, csr_sddmm_reference(csr.indptr, csr.indices, gt, xt),
                                   rtol=tol, atol=tol * 10)
        t, perm = csr.transpose()
        out_t = np.empty((csr.shape[1], gt.shape[1]), dtype=xt.dtype)
        kernels.matmul(t.indptr, t.indices, csr.values[perm], gt, out_t)
        np.testing.assert_allclose(out_t, csr.to_dense().T @ gt, rtol=tol, atol=tol * 10)
    finally:
        kernels.set_threads(1)
        kernels.PARALLEL_MIN_WORK = min_work


def test_small_products_stay_serial_on_two_threads():
    kernels.set_threads(2)
    try:
        assert kernels.kernel("matmul", work=1000) is kernels._serial["matmul"]
        assert kernels.kernel("matmul", work=kernels.PARALLEL_MIN_WORK) is \
            kernels._parallel["matmul"]
    finally:
        kernels.set_threads(1)
    assert kernels.kernel("matmul", work=10 ** 9) is kernels._serial["matmul"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_and_transpose(dtype, rng):
    dense = np.where(rng.random((6, 5)) < 0.4, rng.standard_normal((6, 5)), 0).astype(dtype)
    csr = CSR.from_dense(dense)
    assert csr.values.dtype == dtype and csr.nnz == np.count_nonzero(dense)
    np.testing.assert_array_equal(csr.to_dense(), dense)
    t, perm = csr.transpose()
    np.testing.assert_array_equal(t.to_dense(), dense.T)
    np.testing.assert_array_equal(t.values, csr.values[perm])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_batch_path_equals_the_twin(dtype, rng):
    """matmul picks a kernel by batch (1, 2-8, 9-128 in blocks of 16, more): each path, with
    and without padding, and rows of 0-3, 4+ and 8+ stored weights (csr_matmul takes eight,
    then four, then one at a time)."""
    dense = np.where(rng.random((13, 11)) < 0.5, rng.standard_normal((13, 11)), 0)
    dense[0] = 0                                        # an empty row
    dense[1, :3] = 1.0                                  # fewer than four stored weights
    dense[2] = rng.standard_normal(11)                  # eight, then three
    dense[3, :] = 0
    dense[3, :10] = rng.standard_normal(10)             # eight, then two
    csr = CSR.from_dense(dense.astype(dtype))
    tol = TOL[np.dtype(dtype)]
    for batch in (1, 2, 7, 8, 9, 16, 17, 32, 33, 128, 129, 200):
        xt = rng.standard_normal((11, batch)).astype(dtype)
        out = np.full((13, batch), np.nan, dtype=dtype)
        kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)
        np.testing.assert_allclose(out, csr.to_dense() @ xt, rtol=tol, atol=tol * 10,
                                   err_msg=f"batch {batch}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_batches_run_in_blocks_and_on_padded_rows(dtype, rng):
    """Past ``COLUMN_BLOCK`` columns the products run block by block; rows a multiple of 4 KB
    long are read from a copy with longer rows, or in place from ``padded_rows``' view: the
    same products and gradients either way."""
    dense = np.where(rng.random((7, 9)) < 0.5, rng.standard_normal((7, 9)), 0).astype(dtype)
    csr = CSR.from_dense(dense)
    tol = TOL[np.dtype(dtype)]
    aliased = kernels.ALIASED // np.dtype(dtype).itemsize
    for batch in (kernels.COLUMN_BLOCK + 1, aliased, 2 * aliased, aliased + 3):
        xt = rng.standard_normal((9, batch)).astype(dtype)
        gt = rng.standard_normal((7, batch)).astype(dtype)
        view = kernels.padded_rows(9, batch, dtype)
        view[...] = xt
        assert view.base.shape[1] > batch if batch % aliased == 0 else view.flags.c_contiguous
        for operand in (xt, view, np.asfortranarray(xt)):        # (the last: copied)
            if operand is view and not view.flags.c_contiguous:
                assert kernels._rows_of(operand) is view.base          # read in place
            out = np.full((7, batch), np.nan, dtype=dtype)
            kernels.matmul(csr.indptr, csr.indices, csr.values, operand, out)
            np.testing.assert_allclose(out, dense @ xt, rtol=tol, atol=tol * 10)
            dv = np.full(csr.nnz, np.nan, dtype=dtype)
            kernels.sddmm(csr.indptr, csr.indices, gt, operand, dv)
            np.testing.assert_allclose(dv, csr_sddmm_reference(csr.indptr, csr.indices, gt, xt),
                                       rtol=tol * 10, atol=tol * 100)


def test_rows_of_reads_only_a_view_that_is_the_front_of_its_array(rng):
    """A strided view that is not the front of a C-contiguous array (here: columns 10 on) is
    copied, never read past its end."""
    big = rng.standard_normal((9, 2048)).astype(np.float32)
    inner = big[:, 10:10 + 1024]
    rows = kernels._rows_of(inner)
    assert rows is not big and rows.flags.c_contiguous
    np.testing.assert_array_equal(rows[:, :1024], inner)


def test_matmul_refuses_an_output_it_cannot_write_in_place():
    csr = CSR.from_dense(np.eye(3, dtype=np.float32))
    out = np.empty((2, 3), dtype=np.float32).T
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        kernels.matmul(csr.indptr, csr.indices, csr.values, np.ones((3, 2), np.float32), out)


def test_extreme_shapes():
    for dense in (np.zeros((0, 4)), np.zeros((3, 4)), np.ones((3, 1)), np.ones((4, 4))):
        csr = CSR.from_dense(dense.astype(np.float32))
        xt = np.ones((dense.shape[1], 2), dtype=np.float32)
        out = np.empty((dense.shape[0], 2), dtype=np.float32)
        kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)
        np.testing.assert_array_equal(out, dense @ xt)


@pytest.mark.parametrize("fields, match", [
    (dict(indptr=[0, 1, 3]), "indptr must have n_rows"),
    (dict(indptr=[1, 2, 2, 3]), "from 0 to nnz"),
    (dict(indptr=[0, 2, 1, 3]), "non-decreasing"),
    (dict(indices=[0, 5, 1]), r"\[0, 4\)"),
    (dict(indices=[0, -1, 1]), "non-negative"),
    (dict(indices=[1, 0, 2], indptr=[0, 2, 2, 3]), "strictly increasing"),
    (dict(values=[1.0, 2.0]), "3 values but 3 indices|2 values but 3 indices"),
    (dict(values=np.array([1, 2, 3])), "float32 or float64"),
])
def test_malformed_csr_is_refused(fields, match):
    args = dict(indptr=[0, 1, 2, 3], indices=[0, 1, 2], values=np.ones(3, np.float32),
                shape=(3, 4))
    args.update(fields)
    with pytest.raises(ValueError, match=match):
        CSR(**args)


def test_kernels_compile_with_the_slp_vectorizer_and_restore_numba_config():
    from numba.core import config
    seen = []

    class FakeDispatcher:
        def _compile_for_args(self, *args):
            seen.append(config.SLP_VECTORIZE)

    before = config.SLP_VECTORIZE
    kernels._with_slp(FakeDispatcher())._compile_for_args(1)
    assert seen == [1] and config.SLP_VECTORIZE == before


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="needs the compiler")
def test_serial_and_parallel_kernels_have_separate_cache_entries(tmp_path):
    """Numba's cache key ignores compile options: compiled from one function, the serial and
    the parallel kernel would load each other's code from disk."""
    code = ("import numpy as np; from minprune.sparse import CSR, kernels\n"
            "c = CSR.from_dense(np.eye(3, dtype=np.float32)); x = np.ones((3, 8), np.float32)\n"
            "kernels.PARALLEL_MIN_WORK = 0\n"
            "for threads in (2, 1):\n"
            "    kernels.set_threads(threads)\n"
            "    kernels.matmul(c.indptr, c.indices, c.values, x, x.copy())\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    names = {p.name.split("-")[0] for p in tmp_path.rglob("*.nbi")}
    assert {"kernels.csr_matmul_8", "kernels.csr_matmul_8_parallel"} <= names
