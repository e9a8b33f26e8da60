"""A convolution and the max pooling after it in one pass of register tiles
(``infer.pooled``) against the model's convolution then its pooling, and against the NumPy
twin; CI runs this file a second time with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune.infer import pooled as P
from minprune.infer import tiles as T
from test_fm_kernels import nchw
from test_tiles_kernels import conv_case


def max_pool(y, p):
    """PyTorch's MaxPool2d(p) of an (N, C, H, W) batch: the last rows and columns that make
    no whole window are dropped."""
    n, c, h, w = y.shape
    oh, ow = h // p, w // p
    return y[:, :, :oh * p, :ow * p].reshape(n, c, oh, p, ow, p).max(axis=(3, 5))


def sparse_case(n, c_in, h, w, c_out, k, stride, pad, pool, sparsity, dtype, relu, has_bias,
                seed):
    """(the weight as CSR, the bias, the model's convolution then its pooling, the padded
    feature-major batch, the tolerance, the convolution's height and width), or None where
    the image makes no pooling window."""
    from minprune.sparse.csr import CSR
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if oh < pool or ow < pool:
        return None
    shape = (n, c_in, h, w, c_out, k, stride, pad)
    _, weight, bias, conv, xp, tol = conv_case(shape, dtype, seed, relu, has_bias,
                                               sparsity=sparsity)
    return CSR.from_dense(weight, weight != 0), bias, max_pool(conv, pool), xp, tol, oh, ow


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([0, 1, 5, 16, 17, 33, 40, 64, 65, 129]), c_in=st.integers(1, 4),
       h=st.integers(3, 13), w=st.integers(3, 13), c_out=st.integers(1, 17),
       k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), pad=st.integers(0, 2),
       pool=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       relu=st.booleans(), has_bias=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
@example(n=64, c_in=1, h=28, w=28, c_out=20, k=5, stride=1, pad=0, pool=2,
         dtype=np.float32, relu=True, has_bias=True, seed=0)           # LeNet-5's first
def test_the_pooled_tiles_are_the_convolution_then_its_pooling(n, c_in, h, w, c_out, k, stride,
                                                              pad, pool, dtype, relu,
                                                              has_bias, seed):
    """Batches of no register, part of one, one and a bit; 1 to 17 filters (the last group
    of eight part empty); pooling 1 (none) to 3, over images it does and does not divide."""
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    if oh < pool or ow < pool:
        return
    shape = (n, c_in, h, w, c_out, k, stride, pad)
    _, weight, bias, conv, xp, tol = conv_case(shape, dtype, seed, relu, has_bias)
    expected = max_pool(conv, pool)
    filters = T.filters8(weight, k, c_in)
    out = np.full((c_out, oh // pool, ow // pool, n), np.nan, dtype)
    got = P.conv_tiles_maxpool(xp, filters, bias, stride, relu, pool, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = P.conv_tiles_maxpool_numpy(xp, filters, bias, stride, relu, pool,
                                      np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_the_pooled_tiles_refuse_an_output_larger_than_the_pooling_gives():
    xp = np.zeros((1, 6, 6, 16), np.float32)
    filters = T.filters8(np.ones((2, 9), np.float32), 3, 1)
    with pytest.raises(ValueError, match="pooled convolution's shape"):
        P.conv_tiles_maxpool(xp, filters, np.zeros(0, np.float32), 1, False, 2,
                             np.zeros((2, 3, 2, 16), np.float32))
    with pytest.raises(ValueError, match="filters must be"):
        P.conv_tiles_maxpool(xp, np.zeros((1, 2, 3, 3, 8), np.float32), np.zeros(0, np.float32),
                             1, False, 2, np.zeros((2, 2, 2, 16), np.float32))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([0, 1, 5, 16, 17, 33, 40, 64, 65, 129]), c_in=st.integers(1, 4),
       h=st.integers(3, 13), w=st.integers(3, 13), c_out=st.integers(1, 9),
       k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), pad=st.integers(0, 2),
       pool=st.integers(1, 3), sparsity=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       has_bias=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
@example(n=64, c_in=1, h=28, w=28, c_out=20, k=5, stride=1, pad=0, pool=2, sparsity=0.9,
         dtype=np.float32, relu=True, has_bias=True, seed=0)           # LeNet-5's first
def test_the_sparse_pooled_tiles_are_the_convolution_then_its_pooling(
        n, c_in, h, w, c_out, k, stride, pad, pool, sparsity, dtype, relu, has_bias, seed):
    """``sparse_pooled``: only the stored weights (none at all in some filters), the batch's
    last registers two wide or four, pooling 1 (none) to 3 - odd windows sum their last
    pixel twice - over images it does and does not divide."""
    from minprune.infer import sparse_pooled as SP
    from minprune.sparse import conv_tiles as S
    case = sparse_case(n, c_in, h, w, c_out, k, stride, pad, pool, sparsity, dtype, relu,
                       has_bias, seed)
    if case is None:
        return
    csr, bias, expected, xp, tol, oh, ow = case
    offsets = S.entries(csr.indices, k, *xp.shape)
    out = np.full((c_out, oh // pool, ow // pool, n), np.nan, dtype)
    got = SP.conv_sparse_tiles_maxpool(xp, csr.indptr, offsets, csr.values, bias, k, stride,
                                       relu, pool, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = SP.conv_sparse_tiles_maxpool_numpy(xp, csr.indptr, offsets, csr.values, bias, k,
                                              stride, relu, pool, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="pooled convolution's shape"):
        SP.conv_sparse_tiles_maxpool(xp, csr.indptr, offsets, csr.values, bias, k, stride,
                                     relu, pool, np.zeros((c_out, oh // pool + 1, ow // pool, n),
                                                          dtype))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([0, 1, 5, 17, 33, 40, 65, 129]), c_in=st.integers(1, 5),
       h=st.integers(3, 11), w=st.integers(3, 11), c_out=st.integers(1, 9),
       k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2), pad=st.integers(0, 2),
       pool=st.integers(1, 3), per=st.integers(1, 3), sparsity=st.floats(0.0, 1.0),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       has_bias=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
def test_the_sparse_pooled_tiles_in_groups_of_channels_are_the_convolution_then_its_pooling(
        n, c_in, h, w, c_out, k, stride, pad, pool, per, sparsity, dtype, relu, has_bias,
        seed):
    """``conv_sparse_groups_maxpool``: the groups but the last add their sums at the pixels
    the pooling keeps into the scratch, the last adds its own window by window - odd windows
    sum their last pixel twice, rows and columns the pooling drops are never computed."""
    from minprune.infer import sparse_pooled as SP
    from minprune.sparse import conv_tiles as S
    case = sparse_case(n, c_in, h, w, c_out, k, stride, pad, pool, sparsity, dtype, relu,
                       has_bias, seed)
    if case is None:
        return
    csr, bias, expected, xp, tol, oh, ow = case
    indptr2, order = S.grouped(csr.indptr, csr.indices % c_in, per, -(-c_in // per))
    offsets, values = S.entries(csr.indices[order], k, *xp.shape), csr.values[order]
    ph, pw = oh // pool, ow // pool
    wide = np.full((c_out, ph * pool, pw * pool, n), np.nan, dtype)
    out = np.full((c_out, ph, pw, n), np.nan, dtype)
    got = SP.conv_sparse_groups_maxpool(xp, indptr2, offsets, values, bias, k, stride, relu,
                                        pool, wide, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = SP.conv_sparse_groups_maxpool_numpy(xp, indptr2, offsets, values, bias, k, stride,
                                               relu, pool, wide, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)
    if len(indptr2) > 1:
        with pytest.raises(ValueError, match="wide must be"):
            SP.conv_sparse_groups_maxpool(xp, indptr2, offsets, values, bias, k, stride, relu,
                                          pool, np.zeros((c_out, ph * pool + 1, pw * pool, n),
                                                         dtype), out)
