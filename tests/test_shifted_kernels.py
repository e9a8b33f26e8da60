"""One sample's convolution over shifted copies of its input (``infer.shifted``) against the
model's convolution and its NumPy twin; CI runs this file a second time with
NUMBA_DISABLE_JIT=1, where the registers are NumPy arrays."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune.infer import shifted as SH
from minprune.sparse.csr import CSR
from test_tiles_kernels import conv_case


def stored(weight):
    """The lowered weight's stored (nonzero) entries as CSR arrays."""
    csr = CSR.from_dense(weight, weight != 0)
    return csr.indptr, csr.indices, csr.values


@settings(max_examples=40, deadline=None)
@given(c_in=st.integers(1, 9), h=st.integers(1, 30), w=st.integers(1, 30),
       c_out=st.integers(1, 9), k=st.sampled_from([1, 2, 3, 5]), pad=st.integers(0, 2),
       sparsity=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       has_bias=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
@example(c_in=1, h=28, w=28, c_out=20, k=5, pad=0, sparsity=0.17, dtype=np.float32,
         relu=True, has_bias=True, seed=0)                             # LeNet-5's first
@example(c_in=20, h=12, w=12, c_out=50, k=5, pad=0, sparsity=0.725, dtype=np.float32,
         relu=True, has_bias=True, seed=1)                             # and second
def test_shifted_copies_give_the_convolution(c_in, h, w, c_out, k, pad, sparsity, dtype, relu,
                                             has_bias, seed):
    """Dense to empty filters (a whole filter of zeros: bias alone), 1x1 to 5x5, padding 0
    to 2, images whose output is less than a register, some and some part of one, and more
    than a tile of four registers."""
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    shape = (1, c_in, h, w, c_out, k, 1, pad)
    x, weight, bias, expected, _, tol = conv_case(shape, dtype, seed, relu, has_bias,
                                                  sparsity)
    copies = SH.shift_copies(x[0], pad, np.zeros(SH.copies_shape(c_in, h, w, k, pad), dtype))
    np.testing.assert_array_equal(SH.shift_copies_numpy(x[0], pad, np.zeros_like(copies)),
                                  copies)
    indptr, indices, values = stored(weight)
    offsets = SH.entries(indices, k, *copies.shape[1:])
    out = np.full(expected.shape[1:], np.nan, dtype)
    got = SH.conv_shifted(copies, indptr, offsets, values, bias, relu, out)
    np.testing.assert_allclose(got, expected[0], rtol=tol, atol=tol)
    twin = SH.conv_shifted_numpy(copies, indptr, offsets, values, bias, relu,
                                 np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_the_copies_are_the_shifted_windows():
    """Copy j is the padded input shifted left by j columns, zero where that falls outside
    the input; the window of tap (c, i, j) is one run of it."""
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) + 1
    copies = SH.shift_copies(x, 1, np.zeros(SH.copies_shape(2, 3, 4, 3, 1), np.float64))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    assert copies.shape == (3, 2, 5, 4)
    for j in range(3):
        np.testing.assert_array_equal(copies[j], padded[:, :, j:j + 4])
    flat = copies.reshape(-1)
    offsets = SH.entries(np.arange(3 * 3 * 2), 3, 2, 5, 4)          # columns kh, kw, C
    for col, at in enumerate(offsets):
        (i, j), c = divmod(col // 2, 3), col % 2
        np.testing.assert_array_equal(flat[at:at + 3 * 4], padded[c, i:i + 3, j:j + 4].ravel())


def test_the_kernel_refuses_an_output_of_another_shape():
    copies = np.zeros(SH.copies_shape(1, 6, 6, 3, 0), np.float32)
    empty = np.zeros(0, np.int64)
    with pytest.raises(ValueError, match="Hp - k \\+ 1"):
        SH.conv_shifted(copies, np.zeros(3, np.int64), empty, np.zeros(0, np.float32),
                        np.zeros(0, np.float32), False, np.zeros((2, 4, 5), np.float32))
