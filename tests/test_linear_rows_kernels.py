"""The inference plan's dense fully connected layer in tiles of twelve rows
(``infer.linear_rows``) against the plain product and its NumPy twin; CI runs this file a
second time with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune.infer import linear_rows as LR

TOL = {np.float32: 2e-5, np.float64: 1e-12}


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 30), inputs=st.integers(1, 40),
       n=st.one_of(st.integers(0, 40), st.sampled_from([64, 65, 96])),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       with_bias=st.booleans(), seed=st.integers(0, 2 ** 16))
@example(rows=300, inputs=784, n=64, dtype=np.float32, relu=True, with_bias=True, seed=0)
@example(rows=13, inputs=3, n=0, dtype=np.float64, relu=False, with_bias=False, seed=1)
def test_tiles_of_twelve_rows_are_the_product(rows, inputs, n, dtype, relu, with_bias, seed):
    """1 to 30 rows (the last group of twelve part empty), batches of no register, part of
    one, of two and a part; with ReLU or not, a bias or none."""
    rng = np.random.default_rng(seed)
    xt = rng.standard_normal((inputs, n)).astype(dtype)
    w = rng.standard_normal((rows, inputs)).astype(dtype)
    bias = rng.standard_normal(rows).astype(dtype) if with_bias else np.zeros(0, dtype)
    w12 = LR.rows12(w)
    unpacked = w12.transpose(0, 2, 1).reshape(-1, inputs)     # (groups x 12, inputs)
    assert w12.shape == (-(-rows // 12), inputs, 12)
    assert np.array_equal(unpacked[:rows], w) and not unpacked[rows:].any()
    out = np.full((rows, n), np.nan, dtype)
    LR.linear_rows(xt, w12, bias, relu, out)
    want = w.astype(np.float64) @ xt + (bias[:, None] if with_bias else 0)
    want = np.maximum(want, 0) if relu else want
    tol = TOL[dtype] * np.sqrt(inputs)
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol)
    twin = LR.linear_rows_numpy(xt, w12, bias, relu, np.empty_like(out))
    np.testing.assert_allclose(twin, out, rtol=tol, atol=tol)


def test_tiles_of_twelve_rows_refuse_shapes_that_do_not_fit():
    xt, w12 = np.ones((5, 16), np.float32), LR.rows12(np.ones((13, 5), np.float32))
    none = np.zeros(0, np.float32)
    for bad in (lambda: LR.linear_rows(np.ones((4, 16), np.float32), w12, none, False,
                                       np.zeros((13, 16), np.float32)),    # inputs
                lambda: LR.linear_rows(xt, w12, none, False,
                                       np.zeros((25, 16), np.float32)),    # rows
                lambda: LR.linear_rows(xt, w12, none, False,
                                       np.zeros((13, 15), np.float32)),    # samples
                lambda: LR.linear_rows(xt, w12, np.ones(3, np.float32), False,
                                       np.zeros((13, 16), np.float32))):   # bias
        with pytest.raises(ValueError, match="linear_rows"):
            bad()
