"""The feature-major kernels (im2col, direct sparse and dense convolutions, pooling, bias and
ReLU, a residual join) against their NumPy twins and against the dense convolution, float32
and float64, batch 0, 1 and more, odd sizes, padding and stride; also as plain Python
(NUMBA_DISABLE_JIT=1 in CI)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune.autograd import conv as reference
from minprune.infer import direct as D
from minprune.infer import direct_dense as DD
from minprune.infer import fm_kernels as K


def dense_conv(x_nchw, weight, bias, k, stride, pad):
    """The model's convolution: im2col of the NCHW batch times the (out, k·k·C) weight."""
    cols, _, oh, ow = reference.im2col(x_nchw, k, k, stride, pad)
    y = cols @ weight.T + bias
    return y.reshape(len(x_nchw), oh, ow, len(weight)).transpose(0, 3, 1, 2)


def fm(x_nchw):
    return np.ascontiguousarray(np.moveaxis(x_nchw, 0, -1))


def nchw(x_fm):
    return np.moveaxis(x_fm, -1, 0)


def case(shape, dtype, seed, sparsity=0.0):
    """A batch, a weight (``sparsity`` of it zero), a bias, and the model's convolution."""
    n, c_in, h, w, c_out, k, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    weight = rng.standard_normal((c_out, k * k * c_in)).astype(dtype)
    weight[rng.random(weight.shape) < sparsity] = 0
    bias = rng.standard_normal(c_out).astype(dtype)
    return x, weight, bias, dense_conv(x, weight, bias, k, stride, pad)


shapes = st.tuples(st.integers(0, 3), st.integers(1, 4), st.integers(3, 9), st.integers(3, 9),
                   st.integers(1, 5), st.sampled_from([1, 3]), st.integers(1, 2),
                   st.integers(0, 1))


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.95),
       st.integers(0, 2 ** 31 - 1))
def test_direct_sparse_convolution_is_the_dense_convolution(shape, dtype, sparsity, seed):
    n, c_in, h, w, c_out, k, stride, pad = shape
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    x, weight, bias, expected = case(shape, dtype, seed, sparsity)
    oh, ow = expected.shape[2:]
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for relu in (False, True):
        want = np.maximum(expected, 0) if relu else expected
        out = np.empty((c_out, oh, ow, n), dtype=dtype)
        got = D.direct_conv(fm(x), *D.taps(weight, k, c_in), bias, stride, pad, relu, out)
        np.testing.assert_allclose(nchw(got), want, rtol=tol, atol=tol)
        twin = D.direct_conv_numpy(fm(x), *D.taps(weight, k, c_in), bias, stride, pad, relu,
                                   np.empty_like(out))
        np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)
        xp = np.pad(fm(x), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        padded = D.direct_conv_padded(xp, *D.taps(weight, k, c_in), bias, stride, relu,
                                      np.full(xp[0].size, np.nan, dtype=dtype),
                                      np.full_like(out, np.nan))
        np.testing.assert_allclose(nchw(padded), want, rtol=tol, atol=tol)
    cols = K.im2col(fm(x), k, stride, pad, np.empty((k * k * c_in, oh * ow * n), dtype=dtype))
    np.testing.assert_array_equal(cols, K.im2col_numpy(fm(x), k, stride, pad))
    per = ow * n                                      # a band of output rows: its columns
    for r0, r1 in ((0, oh), (oh // 2, oh), (0, (oh + 1) // 2)):
        band = K.im2col_rows(fm(x), k, stride, pad, r0, r1,
                             np.empty((k * k * c_in, (r1 - r0) * per), dtype=dtype))
        np.testing.assert_array_equal(band, cols[:, r0 * per:r1 * per])
    wide = np.full((k * k * c_in, oh * ow * n + 5), np.nan, dtype=dtype)  # rows further apart
    K.im2col(fm(x), k, stride, pad, wide)
    np.testing.assert_array_equal(wide[:, :oh * ow * n], cols)
    assert np.isnan(wide[:, oh * ow * n:]).all()                  # past the columns: untouched
    y = weight @ cols
    K.bias_act(y, bias, True)
    np.testing.assert_allclose(nchw(y.reshape(c_out, oh, ow, n)), np.maximum(expected, 0),
                               rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.integers(0, 2 ** 31 - 1))
def test_a_product_over_wide_columns_is_the_convolution(shape, dtype, seed):
    """Stride 1: the padded input's wide columns times the weight, narrowed, plus bias and
    ReLU, is the model's convolution; each kernel equals its NumPy twin."""
    n, c_in, h, w, c_out, k, _, pad = shape
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    x, weight, bias, expected = case(shape[:6] + (1, pad), dtype, seed)
    oh, ow = expected.shape[2:]
    xp = K.pad_into(fm(x), pad, np.zeros((c_in, h + 2 * pad, w + 2 * pad, n), dtype=dtype))
    np.testing.assert_array_equal(xp, np.pad(fm(x), ((0, 0), (pad, pad), (pad, pad), (0, 0))))
    wp = w + 2 * pad
    span = ((oh - 1) * wp + ow) * n
    cols = K.wide_columns(xp, k, np.empty((k * k * c_in, span), dtype=dtype))
    np.testing.assert_array_equal(cols, K.wide_columns_numpy(xp, k))
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for relu in (False, True):
        want = np.maximum(expected, 0) if relu else expected
        out = np.empty((c_out, oh, ow, n), dtype=dtype)
        got = K.narrow_bias_act(weight @ cols, wp, bias, relu, out)
        np.testing.assert_allclose(nchw(got), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(K.narrow_bias_act_numpy(weight @ cols, wp, bias, relu,
                                                           out.shape), got, rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None)
@given(st.tuples(st.integers(0, 3), st.integers(1, 5), st.integers(3, 11), st.integers(3, 11),
                 st.integers(1, 9), st.sampled_from(DD.SIZES), st.integers(0, 2)),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2 ** 31 - 1))
def test_the_dense_direct_convolution_is_the_convolution(shape, dtype, seed):
    """Stride 1, 3x3 and 5x5, any number of filters (padded to a multiple of four), bands of
    one, two and all rows: the direct convolution with bias and ReLU is the model's
    convolution, and equals its NumPy twin."""
    n, c_in, h, w, c_out, k, pad = shape
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    x, weight, bias, expected = case((n, c_in, h, w, c_out, k, 1, pad), dtype, seed)
    oh, ow = expected.shape[2:]
    xp = np.pad(fm(x), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    filters = DD.filters(weight, k, c_in)
    assert filters.shape == (-(-c_out // 4) * 4, c_in, k * k) and not filters[c_out:].any()
    wp = w + 2 * pad
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for relu in (False, True):
        want = np.maximum(expected, 0) if relu else expected
        for rows in (1, 2, oh):                       # bands of rows
            acc = np.full((4, rows * wp * n), np.nan, dtype=dtype)
            got = DD.direct_dense(xp, filters, bias, relu, rows, acc,
                                  np.full((c_out, oh, ow, n), np.nan, dtype))
            np.testing.assert_allclose(nchw(got), want, rtol=tol, atol=tol)
        np.testing.assert_allclose(DD.direct_dense_numpy(xp, filters, bias, relu, c_out), got,
                                   rtol=tol, atol=tol)


def test_the_dense_direct_convolution_refuses_other_filters():
    xp = np.zeros((1, 7, 7, 1), dtype=np.float32)
    with pytest.raises(ValueError, match="3x3 or 5x5"):
        DD.direct_dense(xp, np.zeros((4, 1, 4 * 4), np.float32), np.zeros(0, np.float32),
                        False, 1, np.zeros((4, 7), np.float32),
                        np.zeros((4, 4, 4, 1), np.float32))


@settings(max_examples=30, deadline=None)
@given(shapes, st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_pooling_is_the_models_pooling(shape, is_max, seed):
    n, c_in, h, w, _, k, stride, pad = shape
    k = max(k, 2)
    pad = min(pad, k // 2)
    if h + 2 * pad < k or w + 2 * pad < k:
        return
    x = np.random.default_rng(seed).standard_normal((n, c_in, h, w)).astype(np.float32)
    expected = reference.pool(x, k, stride, pad, "max" if is_max else "avg")
    out = np.empty((c_in,) + expected.shape[2:] + (n,), dtype=np.float32)
    got = K.pool(fm(x), k, stride, pad, is_max, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(K.pool_numpy(fm(x), k, stride, pad, is_max), got, rtol=1e-6,
                               atol=1e-6)
    if stride == k and pad == 0 and h % k == 0 and w % k == 0:
        tiled = K.pool_tiled(fm(x), k, is_max, np.empty_like(out))
        np.testing.assert_allclose(tiled, got, rtol=1e-6, atol=1e-6)


def test_tiled_max_pooling_of_one_sample_is_the_models_pooling(rng):
    """The one-sample 2x2 max pool (rows' maxima first, then each pair of columns) on
    LeNet-5's shapes and an odd-channelled small one."""
    for c_in, h, w in ((20, 24, 24), (50, 8, 8), (3, 4, 6)):
        x = rng.standard_normal((1, c_in, h, w)).astype(np.float32)
        got = K.pool_tiled(fm(x), 2, True, np.empty((c_in, h // 2, w // 2, 1), np.float32))
        np.testing.assert_array_equal(nchw(got), reference.pool(x, 2, 2, 0, "max"))


def test_bias_act_equals_its_twin(rng):
    y = rng.standard_normal((5, 7))
    b = rng.standard_normal(5)
    for bias in (b, np.zeros(0)):
        for relu in (False, True):
            np.testing.assert_allclose(K.bias_act(y.copy(), bias, relu),
                                       K.bias_act_numpy(y.copy(), bias, relu))


def test_a_residual_join_and_global_pooling_equal_their_twins(rng):
    """add_act (a block's sum and ReLU in one pass) and global_mean, float32 and float64,
    batch 0, 1 and 5."""
    for dtype in (np.float32, np.float64):
        for n in (0, 1, 5):
            a, b = (rng.standard_normal((3, 4, 5, n)).astype(dtype) for _ in range(2))
            for relu in (False, True):
                got = K.add_act(a, b, relu, np.empty_like(a))
                np.testing.assert_array_equal(got, K.add_act_numpy(a, b, relu))
            tol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(K.global_mean(a, np.empty((3, n), dtype)),
                                       K.global_mean_numpy(a), rtol=tol, atol=tol)


def test_taps_read_the_weight_layout():
    """Column (i·k + j)·C + c of a (out, k·k·C) weight is tap (i, j) of channel c."""
    weight = np.zeros((2, 3 * 3 * 4))
    weight[1, (2 * 3 + 1) * 4 + 3] = 5.0
    indptr, chan, tap_i, tap_j, values = D.taps(weight, 3, 4)
    assert indptr.tolist() == [0, 0, 1]
    assert (chan[0], tap_i[0], tap_j[0], values[0]) == (3, 2, 1, 5.0)
