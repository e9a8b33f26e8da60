"""The N:M and block-sparse storage and kernels against their NumPy twins and dense products;
also run as plain Python (NUMBA_DISABLE_JIT=1 in CI), empty batches and matrices included."""
import numpy as np
import pytest

from minprune.prune import patterns
from minprune.sparse import patterns as stored
from minprune.sparse.patterns import (bsr_matmul, bsr_matmul_numpy, bsr_matvec_1x4,
                                      bsr_matvec_4x1, from_matrix, nm_matmul, nm_matmul_numpy)

PATTERNS = ["2:4", "1:4", "2:8", "block:1x4", "block:4x1", "block:2x3"]
SHAPES = [(7, 13), (8, 16), (0, 5), (3, 0), (9, 1), (1, 4)]


def pattern_mask(w, pattern, rng):
    if pattern.kind == "nm":
        return ~patterns.nm_forced(np.abs(w), np.zeros(w.shape, dtype=bool), pattern)
    keep = rng.random(patterns.block_grid(w.shape, pattern)) > 0.5
    return patterns.expand_blocks(keep, w.shape, pattern)


@pytest.mark.parametrize("name", PATTERNS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_equal_the_dense_product_and_the_twins(name, dtype, rng):
    pattern = patterns.parse(name)
    for rows, cols in SHAPES:
        w = rng.standard_normal((rows, cols)).astype(dtype)
        keep = pattern_mask(w, pattern, rng)
        assert patterns.satisfies(keep, pattern)
        s = from_matrix(w, keep, pattern)
        np.testing.assert_array_equal(s.to_dense(), w * keep)
        for batch in (0, 1, 3, 20):
            xt = rng.standard_normal((cols, batch)).astype(dtype)
            expected = (w * keep) @ xt
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(s.product(xt, np.empty((rows, batch), dtype)), expected,
                                       atol=tol)
            out = np.full((rows, batch), np.nan, dtype)
            if pattern.kind == "nm":
                direct = nm_matmul(s.values, s.offsets, s.m, xt, out)
                twin = nm_matmul_numpy(s.values, s.offsets, s.m, xt)
            else:
                direct = bsr_matmul(s.indptr, s.indices, s.values, rows, xt, out)
                twin = bsr_matmul_numpy(s, xt)
            np.testing.assert_allclose(direct, expected, atol=tol)
            np.testing.assert_allclose(twin, expected, atol=tol)


@pytest.mark.parametrize("shape, kernel", [((1, 4), bsr_matvec_1x4), ((4, 1), bsr_matvec_4x1)])
def test_block_matrix_vector_kernels(shape, kernel, rng):
    pattern = patterns.Pattern("block", *shape)
    for rows, cols in ((9, 14), (12, 16), (5, 3)):
        w = rng.standard_normal((rows, cols)).astype(np.float32)
        keep = pattern_mask(w, pattern, rng)
        s = from_matrix(w, keep, pattern)
        x = rng.standard_normal(cols).astype(np.float32)
        out = np.full(rows, np.nan, np.float32)
        kernel(s.indptr, s.indices.astype(np.uint32), s.values, x, out, np.float32(0))
        np.testing.assert_allclose(out, (w * keep) @ x, atol=1e-5)


def test_a_mask_that_breaks_the_pattern_is_refused(rng):
    w = rng.standard_normal((2, 8))
    with pytest.raises(ValueError, match="does not obey 2:4"):
        from_matrix(w, np.ones((2, 8), dtype=bool), patterns.parse("2:4"))


def test_folding_a_scale_into_the_rows(rng):
    for name in ("2:4", "block:4x1", "block:2x3"):
        pattern = patterns.parse(name)
        w = rng.standard_normal((7, 12))
        s = from_matrix(w, pattern_mask(w, pattern, rng), pattern)
        scale = rng.random(7)
        np.testing.assert_allclose(s.scaled(scale).to_dense(), s.to_dense() * scale[:, None])
        assert isinstance(s, stored.NM if pattern.kind == "nm" else stored.BSR)
