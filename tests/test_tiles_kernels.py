"""SIMD registers as Numba values (``minprune.vec``) and the register-tiled convolutions built
on them (``infer.tiles``, ``infer.sparse_tiles``, ``sparse.conv_tiles``, ``autograd.tiles``),
against NumPy and the model's convolution; CI runs this file a second time with
NUMBA_DISABLE_JIT=1, where the registers are NumPy arrays."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import njit

from minprune.autograd import tiles as AT
from minprune.infer import tiles as T
from minprune import vec
from test_fm_kernels import dense_conv, fm, nchw


@njit
def _load_store(a, i, m, out, j, k):
    vec.store(out, j, vec.load(a, i, m), k)


@njit
def _arithmetic(a, s, b, relu, out):
    x = vec.load(a, 0, vec.width(a))
    y = vec.fma(x, s, vec.zero(a))
    y = vec.fma(x, vec.get(a, 1), y)
    vec.store(out, 0, vec.bias_act(y, b, relu), vec.width(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_register_loads_and_stores_the_lanes_it_is_told(dtype):
    n = vec.lanes(dtype)
    a = np.arange(1, 3 * n + 1, dtype=dtype)
    for m in (0, 1, n - 1, n, n + 5):                   # past a register: all of it
        out = np.full(2 * n, -1, dtype)
        _load_store(a, 3, m, out, 2, n)                  # stores every lane: zeros past m
        want = np.full(2 * n, -1, dtype)
        want[2:2 + n] = 0
        want[2:2 + min(m, n)] = a[3:3 + min(m, n)]
        np.testing.assert_array_equal(out, want)
    out = np.full(n, -1, dtype)
    _load_store(a, 0, n, out, 0, 2)                      # stores only the first two
    np.testing.assert_array_equal(out[:2], a[:2])
    assert (out[2:] == -1).all()


@njit
def _add_sub(a, b, out):
    x, y = vec.load(a, 0, vec.width(a)), vec.load(b, 0, vec.width(b))
    vec.store(out, 0, vec.add(x, y), vec.width(a))
    vec.store(out, vec.width(a), vec.sub(x, y), vec.width(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_registers_add_and_subtract_lane_by_lane(dtype, rng):
    n = vec.lanes(dtype)
    a, b = rng.standard_normal((2, n)).astype(dtype)
    out = np.empty(2 * n, dtype)
    _add_sub(a, b, out)
    np.testing.assert_array_equal(out, np.concatenate([a + b, a - b]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", [False, True])
def test_register_arithmetic_is_numpys(dtype, relu, rng):
    n = vec.lanes(dtype)
    assert n * np.dtype(dtype).itemsize == 64
    a = rng.standard_normal(n).astype(dtype)
    out = np.empty(n, dtype)
    _arithmetic(a, dtype(0.5), dtype(-0.25), relu, out)
    want = a * 0.5 + a * a[1] - 0.25               # (one rounding per fused multiply-add)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(out, np.maximum(want, 0) if relu else want, rtol=tol, atol=tol)


shapes = st.tuples(st.sampled_from([0, 1, 5, 16, 17, 33, 40, 64, 65, 129]), st.integers(1, 4),
                   st.integers(3, 8), st.integers(3, 8), st.integers(1, 17),
                   st.sampled_from([1, 2, 3, 5]), st.integers(1, 2), st.integers(0, 2))


def conv_case(shape, dtype, seed, relu=False, has_bias=True, sparsity=0.0):
    """A batch, a lowered weight (``sparsity`` of it zero), a bias (or none), the model's
    convolution (then ReLU if ``relu``), the batch feature-major and padded, and the
    tolerance of ``dtype``."""
    n, c_in, h, w, c_out, k, stride, pad = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    weight = rng.standard_normal((c_out, k * k * c_in)).astype(dtype)
    weight[rng.random(weight.shape) < sparsity] = 0
    bias = rng.standard_normal(c_out).astype(dtype) if has_bias else np.zeros(0, dtype)
    expected = dense_conv(x, weight, bias if has_bias else 0, k, stride, pad)
    expected = np.maximum(expected, 0) if relu else expected
    xp = np.pad(fm(x), ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return x, weight, bias, expected, xp, 1e-4 if dtype == np.float32 else 1e-12


def fits(shape):
    _, _, h, w, _, k, _, pad = shape
    return h + 2 * pad >= k and w + 2 * pad >= k


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 31 - 1))
@example((65, 3, 9, 9, 12, 3, 1, 1), np.float32, True, True, 0)     # a last group of four
def test_register_tiles_are_the_dense_convolution(shape, dtype, relu, has_bias, seed):
    """Batches that fill no register, one, one and a bit, and four registers and more; 1 to
    17 filters (groups of eight, the last one part empty, or of four filters or fewer: the
    four-filter tiles); 1x1 to 5x5 filters, stride 1 and 2, padding 0 to 2."""
    if not fits(shape):
        return
    n, c_in, _, _, c_out, k, stride, _ = shape
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, relu, has_bias)
    filters = T.filters8(weight, k, c_in)
    assert filters.shape == (-(-c_out // 8), c_in, k, k, 8)
    out = np.full((c_out,) + expected.shape[2:] + (n,), np.nan, dtype)
    got = T.conv_tiles(xp, filters, bias, stride, relu, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = T.conv_tiles_numpy(xp, filters, bias, stride, relu, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_register_tiles_refuse_filters_of_another_shape():
    xp = np.zeros((2, 5, 5, 16), np.float32)
    with pytest.raises(ValueError, match="OC / 8, C, k, k, 8"):
        T.conv_tiles(xp, np.zeros((1, 3, 3, 3, 8), np.float32), np.zeros(0, np.float32), 1,
                     False, np.zeros((8, 3, 3, 16), np.float32))


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.booleans(), st.booleans(),
       st.integers(0, 2 ** 31 - 1))
def test_one_samples_register_tiles_of_pixels_are_the_dense_convolution(shape, dtype, relu,
                                                                          has_bias, seed):
    """Output pixels fewer than a tile's eight and not a multiple of it; 1 to 17 filters (a
    register of them, and part of one: 16 float32 or 8 float64 a register)."""
    shape = (1,) + shape[1:]
    if not fits(shape):
        return
    _, c_in, _, _, c_out, k, stride, _ = shape
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, relu, has_bias)
    filters = T.filters_lanes(weight, k, c_in, dtype)
    lanes = vec.lanes(dtype)
    assert filters.shape == (-(-c_out // lanes), c_in, k, k, lanes)
    out = np.full((c_out,) + expected.shape[2:] + (1,), np.nan, dtype)
    got = T.conv_pixels(xp, filters, bias, stride, relu, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = T.conv_pixels_numpy(xp, filters, bias, stride, relu, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_register_tiles_of_pixels_take_one_sample():
    xp = np.zeros((2, 5, 5, 2), np.float32)
    with pytest.raises(ValueError, match="one sample"):
        T.conv_pixels(xp, np.zeros((1, 2, 3, 3, 16), np.float32), np.zeros(0, np.float32), 1,
                      False, np.zeros((8, 3, 3, 2), np.float32))


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.95),
       st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_sparse_register_tiles_are_the_dense_convolution(shape, dtype, sparsity, relu, seed):
    """Only the stored weights, in tiles of four registers of samples at two pixels: batches
    of part of a tile and of two and a half registers, rows of an odd number of pixels,
    filters with no stored weight at all."""
    from minprune.sparse import conv_tiles as S
    from minprune.sparse.csr import CSR
    if not fits(shape):
        return
    n, _, _, _, c_out, k, stride, _ = shape
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, relu, sparsity=sparsity)
    csr = CSR.from_dense(weight, weight != 0)
    offsets = S.entries(csr.indices, k, *xp.shape)
    out = np.full((c_out,) + expected.shape[2:] + (n,), np.nan, dtype)
    got = S.conv_sparse_tiles(xp, csr.indptr, offsets, csr.values, bias, stride, relu, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = S.conv_sparse_tiles_numpy(xp, csr.indptr, offsets, csr.values, bias, stride, relu,
                                     np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.95),
       st.booleans(), st.booleans(), st.integers(1, 5), st.integers(0, 2 ** 31 - 1))
def test_sparse_tiles_in_groups_of_channels_are_the_dense_convolution(shape, dtype, sparsity,
                                                                      relu, has_bias, per,
                                                                      seed):
    """``conv_sparse_groups``: the stored weights in groups of 1 to 5 input channels (one
    group, or as many as channels; rows with no weight in some group), each group's sums
    added to the last one's before the bias and ReLU."""
    from minprune.sparse import conv_tiles as S
    from minprune.sparse.csr import CSR
    if not fits(shape):
        return
    n, c_in, _, _, c_out, k, stride, _ = shape
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, relu, has_bias,
                                                   sparsity=sparsity)
    csr = CSR.from_dense(weight, weight != 0)
    indptr2, order = S.grouped(csr.indptr, csr.indices % c_in, per)
    assert indptr2.shape == (max(1, -(-int((csr.indices % c_in).max(initial=0) + 1) // per)),
                             c_out + 1)
    assert np.array_equal(indptr2[:, -1] - indptr2[:, 0],
                          np.bincount(csr.indices % c_in // per, minlength=len(indptr2)))
    offsets = S.entries(csr.indices[order], k, *xp.shape)
    out = np.full((c_out,) + expected.shape[2:] + (n,), np.nan, dtype)
    got = S.conv_sparse_groups(xp, indptr2, offsets, csr.values[order], bias, stride, relu,
                               out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = S.conv_sparse_groups_numpy(xp, indptr2, offsets, csr.values[order], bias, stride,
                                      relu, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_the_groups_keep_a_tiles_windows_in_the_first_level_cache():
    """LeNet-5's second convolution (5x5, stride 1) at batch 64: four input channels of a
    square's 6 x 6 pixels of 256 bytes (36 KB); a smaller batch's pixels are smaller, its
    groups larger; stride 2 widens the windows. Sparser filters take more channels a group,
    so that each output channel has ``WEIGHTS`` stored weights in it."""
    from minprune.sparse import conv_tiles as S
    assert S.per_group(5, 1, 64, np.float32) == 4
    assert S.per_group(5, 1, 64, np.float32, 25 * 0.275) == 4        # LeNet-5 at 90% global
    assert S.per_group(5, 1, 32, np.float64) == 4
    assert S.per_group(5, 1, 16, np.float32) == 17
    assert S.per_group(3, 2, 64, np.float32) == 6
    assert S.per_group(11, 1, 64, np.float32) == 1
    assert S.per_group(5, 1, 0, np.float32) >= 1
    assert S.per_group(3, 1, 64, np.float32, 0.9) == 18              # 3 x 3 at 10%
    assert S.per_group(3, 1, 64, np.float32, 0.0) >= 10 ** 6         # no weights: one group
    # 5x5 filters on 8 channels, columns (tap, channel): row 0 channels 5 and 0, row 1
    # channel 4 at the second tap - groups of channels 0-3 and 4-7
    indptr2, offsets, order = S.grouped_entries([0, 2, 3], [5, 0, 12], 5, (8, 5, 5, 64), 1,
                                               np.float32, per=4)
    assert np.array_equal(indptr2, [[0, 1, 1], [1, 2, 3]])
    assert np.array_equal(order, [1, 0, 2])
    assert np.array_equal(offsets, [0, 5 * 25 * 64, (4 * 25 + 1) * 64])
    # left to choose, three weights in 16 (row, channel) pairs are one group
    indptr2, offsets, order = S.grouped_entries([0, 2, 3], [5, 0, 12], 5, (8, 5, 5, 64), 1,
                                               np.float32)
    assert np.array_equal(indptr2, [[0, 2, 3]]) and np.array_equal(order, [1, 0, 2])


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.floats(0.0, 0.95),
       st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_one_samples_sparse_register_tiles_are_the_dense_convolution(shape, dtype, sparsity,
                                                                     relu, seed):
    """Stride 1, one sample: wide rows shorter than a tile, of one and a part, filters with
    no stored weight."""
    from minprune.infer import sparse_tiles as S
    from minprune.sparse import conv_tiles as CT
    from minprune.sparse.csr import CSR
    shape = (1,) + shape[1:6] + (1,) + shape[7:]                   # one sample, stride 1
    if not fits(shape):
        return
    _, _, _, _, c_out, k, _, _ = shape
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, relu, sparsity=sparsity)
    csr = CSR.from_dense(weight, weight != 0)
    offsets = CT.entries(csr.indices, k, *xp.shape)
    oh, ow = expected.shape[2:]
    wide = np.full(oh * xp.shape[2] + 4 * vec.lanes(dtype), np.nan, dtype)
    out = np.full((c_out, oh, ow, 1), np.nan, dtype)
    got = S.conv_sparse_pixels(xp, csr.indptr, offsets, csr.values, bias, relu, wide, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = CT.conv_sparse_tiles_numpy(xp, csr.indptr, offsets, csr.values, bias, 1, relu,
                                      np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([0, 1, 5, 16, 40, 64, 70]), st.integers(1, 40), st.integers(1, 20),
       st.floats(0.0, 1.0), st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.booleans(), st.integers(0, 2 ** 31 - 1))
def test_a_sparse_layers_register_tiles_are_its_product(n, n_in, n_out, sparsity, dtype, relu,
                                                        has_bias, seed):
    """Rows with no stored weight; batches of no register, part of a tile, one tile and a
    bit; 16-bit column indices as the plan stores them."""
    from minprune.infer import sparse_tiles as S
    from minprune.sparse.csr import CSR
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal((n_out, n_in)).astype(dtype)
    weight[rng.random(weight.shape) < sparsity] = 0
    xt = rng.standard_normal((n_in, n)).astype(dtype)
    bias = rng.standard_normal(n_out).astype(dtype) if has_bias else np.zeros(0, dtype)
    expected = weight @ xt + (bias[:, None] if has_bias else 0)
    expected = np.maximum(expected, 0) if relu else expected
    csr = CSR.from_dense(weight, weight != 0)
    out = np.full((n_out, n), np.nan, dtype)
    got = S.linear_sparse_tiles(csr.indptr, csr.indices.astype(np.uint16), csr.values, xt, bias,
                                relu, out)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    twin = S.linear_sparse_tiles_numpy(csr.indptr, csr.indices, csr.values, xt, bias, relu,
                                       np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.sampled_from([np.float32, np.float64]))
def test_the_batch_transposed_in_register_blocks_is_its_transpose(n, f, dtype):
    """Whole blocks of a register's width, the rows and columns past them, empty batches."""
    from minprune.infer import layout
    x = np.arange(n * f, dtype=dtype).reshape(n, f)
    out = np.full((f, n), np.nan, dtype)
    np.testing.assert_array_equal(layout.transpose(x, out), x.T)
    np.testing.assert_array_equal(layout.transpose_numpy(x, np.empty_like(out)), x.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_register_block_transposes_in_place_of_its_rows(dtype):
    n = vec.lanes(dtype)
    a = np.arange(3 * n * 3 * n, dtype=dtype)
    b = np.zeros_like(a)
    _transpose(a, n * 3 * n + 2, 3 * n, b, 1, 3 * n)
    got = b.reshape(3 * n, 3 * n)[:n, 1:1 + n]
    np.testing.assert_array_equal(got, a.reshape(3 * n, 3 * n)[n:2 * n, 2:2 + n].T)


@njit
def _transpose(a, i, p, b, j, q):
    vec.transpose(a, i, p, b, j, q)


@settings(max_examples=30, deadline=None)
@given(shapes, st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.integers(0, 2 ** 31 - 1))
def test_channels_last_register_tiles_are_the_dense_convolution(shape, dtype, has_bias, seed):
    """Training's layout (N, H, W, C): tiles over the pixels of every sample (fewer than
    eight in all, or a part tile at the end), 1 to 17 filters, any stride and padding."""
    if not fits(shape):
        return
    n, c_in, _, _, c_out, k, stride, pad = shape
    x, weight, bias, expected, _, tol = conv_case(shape, dtype, seed, has_bias=has_bias)
    xp = np.pad(np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    filters = T.filters_lanes(weight, k, c_in, dtype)
    out = np.full((n,) + expected.shape[2:] + (c_out,), np.nan, dtype)
    got = AT.conv_pixels_nhwc(xp, filters, bias, stride, out)
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), expected, rtol=tol, atol=tol)
    twin = AT.conv_pixels_nhwc_numpy(xp, filters, bias, stride, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 3, 20]), st.sampled_from([1, 2]), st.integers(3, 9),
       st.sampled_from([1, 3, 5]), st.integers(1, 2), st.integers(0, 2),
       st.sampled_from([8, 16]), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2 ** 31 - 1))
@example(20, 2, 9, 3, 1, 2, 16, np.float32, 131071)   # sums that cancel to 0.1 out of 56
def test_the_weight_gradient_in_register_tiles_is_the_columns_product(n, registers, h, k,
                                                                      stride, pad, c_out,
                                                                      dtype, seed):
    """Σ over pixels of the output's gradient times the window (g^T @ im2col columns), for
    one and two registers of input channels, one and two groups of eight outputs, pixel
    counts under and over a block of 128."""
    from minprune.autograd.conv import _im2col
    if h + 2 * pad < k:
        return
    c_in = registers * vec.lanes(dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, h, c_in)).astype(dtype)
    oh = (h + 2 * pad - k) // stride + 1
    g = rng.standard_normal((n, oh, oh, c_out)).astype(dtype)
    want = g.reshape(-1, c_out).T @ _im2col(x, k, k, stride, pad, oh, oh)
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    got = AT.weight_grad_nhwc(xp, g, k, stride, np.full((c_out, k * k * c_in), np.nan, dtype))
    tol = 1e-5 if dtype == np.float32 else 1e-12   # of the largest sum: up to 2,420 products,
    atol = tol * np.abs(want).max()                 # summed in another order, cancel
    np.testing.assert_allclose(got, want, rtol=10 * tol, atol=atol)
    twin = AT.weight_grad_nhwc_numpy(xp, g, k, stride, np.empty_like(got))
    np.testing.assert_allclose(twin, got, rtol=10 * tol, atol=atol)
