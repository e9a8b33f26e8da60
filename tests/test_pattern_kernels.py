"""N:M storage against the dense product: to_dense, to_csr, the product through the CSR
kernels (also run as plain Python, NUMBA_DISABLE_JIT=1 in CI), empty batches and matrices
included; block patterns lower to CSR."""
import numpy as np
import pytest

from minprune.prune import patterns
from minprune.sparse.patterns import NM

PATTERNS = ["2:4", "1:4", "2:8"]
SHAPES = [(7, 13), (8, 16), (0, 5), (3, 0), (9, 1), (1, 4)]


def nm_mask(w, pattern):
    return ~patterns.nm_forced(np.abs(w), np.zeros(w.shape, dtype=bool), pattern)


@pytest.mark.parametrize("name", PATTERNS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_equal_the_dense_product(name, dtype, rng):
    pattern = patterns.parse(name)
    for rows, cols in SHAPES:
        w = rng.standard_normal((rows, cols)).astype(dtype)
        keep = nm_mask(w, pattern)
        assert patterns.satisfies(keep, pattern)
        s = NM.from_matrix(w, keep, pattern)
        np.testing.assert_array_equal(s.to_dense(), w * keep)
        np.testing.assert_array_equal(s.to_csr().to_dense(), w * keep)
        for batch in (0, 1, 3, 20):
            xt = rng.standard_normal((cols, batch)).astype(dtype)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(s.product(xt, np.empty((rows, batch), dtype)),
                                       (w * keep) @ xt, atol=tol)


def test_a_mask_that_breaks_the_pattern_is_refused(rng):
    w = rng.standard_normal((2, 8))
    with pytest.raises(ValueError, match="does not obey 2:4"):
        NM.from_matrix(w, np.ones((2, 8), dtype=bool), patterns.parse("2:4"))


def test_folding_a_scale_into_the_rows(rng):
    for name in ("2:4", "1:4"):
        pattern = patterns.parse(name)
        w = rng.standard_normal((7, 12))
        s = NM.from_matrix(w, nm_mask(w, pattern), pattern)
        scale = rng.random(7)
        np.testing.assert_allclose(s.scaled(scale).to_dense(), s.to_dense() * scale[:, None])
        assert isinstance(s.scaled(scale), NM)


def test_patterns_name_their_fields():
    assert patterns.parse("2:4") == patterns.Pattern(n=2, m=4)
    assert patterns.parse("block:1x4") == patterns.Block(rows=1, cols=4)
    assert patterns.parse("2:4").tile == (1, 4) and patterns.parse("block:2x3").tile == (2, 3)
    assert patterns.parse("1:4").min_sparsity == 0.75 and patterns.Block(4, 1).min_sparsity == 0
