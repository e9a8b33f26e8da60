"""Training's fully connected forward in register tiles (``autograd.linear_tiles``) against
its NumPy twin and the plain product, and ``ops.linear`` with and without the tiles; CI runs
this file a second time with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune import Tensor, threads, vec
from minprune.autograd import linear_tiles as LT
from minprune.autograd import ops

TOL = {np.float32: 2e-5, np.float64: 1e-12}


@settings(max_examples=60, deadline=None)
@given(n_out=st.integers(1, 20), inputs=st.integers(1, 40),
       n=st.one_of(st.integers(0, 40), st.sampled_from([64, 65, 96, 128])),
       dtype=st.sampled_from([np.float32, np.float64]), with_bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
@example(n_out=300, inputs=784, n=64, dtype=np.float32, with_bias=True, seed=0)  # LeNet's
@example(n_out=9, inputs=3, n=0, dtype=np.float64, with_bias=False, seed=1)   # no samples
def test_tiles_equal_the_product(n_out, inputs, n, dtype, with_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((inputs, n)).astype(dtype)
    w = rng.standard_normal((n_out, inputs)).astype(dtype)
    bias = rng.standard_normal(n_out).astype(dtype) if with_bias else np.zeros(0, dtype)
    out = np.full((n_out, n), np.nan, dtype)
    LT.linear_tiles(x, w, bias, out)
    want = w.astype(np.float64) @ x + (bias[:, None] if with_bias else 0)
    tol = TOL[dtype] * np.sqrt(inputs)
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    twin = LT.linear_tiles_numpy(x, w, bias, np.empty_like(out))
    np.testing.assert_allclose(twin, out, rtol=tol, atol=tol)


def test_tiles_refuse_shapes_that_do_not_fit():
    x, w = np.ones((5, 16), np.float32), np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="do not fit"):
        LT.linear_tiles(x, w, np.zeros(0, np.float32), np.empty((3, 16), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_which_batches_the_tiles_take(dtype):
    lanes = vec.lanes(dtype)
    assert LT.fits(lanes, dtype) and LT.fits(LT.MAX_BATCH, dtype) and LT.fits(2 * lanes, dtype)
    assert not LT.fits(1, dtype) and not LT.fits(lanes + 1, dtype)
    assert not LT.fits(LT.MAX_BATCH + lanes, dtype)
    assert not LT.fits(64, np.float16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [64, 33, 256])
def test_linear_with_and_without_the_tiles(dtype, n, rng):
    """The op's output and every gradient agree, the tiles on and off (the batches of 33
    and 256 take BLAS either way), on one thread and - BLAS then - on two."""
    x = rng.standard_normal((n, 30)).astype(dtype)
    w = rng.standard_normal((20, 30)).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    g = rng.standard_normal((n, 20)).astype(dtype)
    results = []
    for tiles, count in ((True, 1), (False, 1), (True, 2)):
        ops.TILES = tiles
        before = threads.asked()
        threads.set_threads(count)
        try:
            xs, ws, bs = (Tensor(a, requires_grad=True) for a in (x, w, b))
            y = ops.linear(xs, ws, bs)
            y.backward(g)
            results.append((y.data, xs.grad, ws.grad, bs.grad))
        finally:
            ops.TILES = True
            threads.set_threads(before)
    tol = TOL[dtype] * 10
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_allclose(a, b_, rtol=tol, atol=tol)
    np.testing.assert_allclose(results[0][0], x @ w.T + b, rtol=tol, atol=tol)
