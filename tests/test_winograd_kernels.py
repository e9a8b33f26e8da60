"""Winograd's F(2x2, 3x3) (``infer.winograd``) against the model's convolution and its NumPy
twin; CI runs this file a second time with NUMBA_DISABLE_JIT=1, where the registers are
NumPy arrays."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune import vec
from minprune.infer import winograd as W
from minprune.infer import winograd4 as W4
from test_fm_kernels import nchw
from test_tiles_kernels import conv_case

NO_SKIP = np.zeros((0, 0, 0, 0))


KERNELS = {"F(2x2, 3x3)": (W, W.conv_winograd, W.conv_winograd_numpy, 16),
           "F(4x4, 3x3)": (W4, W4.conv_winograd4, W4.conv_winograd4_numpy, 36)}


@pytest.mark.parametrize("kernel", KERNELS)
@settings(max_examples=30, deadline=None)
@given(n=st.sampled_from([8, 16, 17, 40, 64]), c_in=st.integers(1, 9), h=st.integers(1, 11),
       w=st.integers(1, 11), c_out=st.integers(1, 17), pad=st.integers(0, 2),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       has_bias=st.booleans(), has_skip=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
@example(n=64, c_in=16, h=28, w=28, c_out=16, pad=1, dtype=np.float32, relu=False,
         has_bias=True, has_skip=True, seed=0)                         # resnet8's first stage
@example(n=17, c_in=3, h=7, w=5, c_out=9, pad=0, dtype=np.float64, relu=True,
         has_bias=False, has_skip=False, seed=1)                       # odd sizes, no padding
def test_winograd_is_the_dense_convolution(kernel, n, c_in, h, w, c_out, pad, dtype, relu,
                                           has_bias, has_skip, seed):
    """Both tile sizes: batches of one register and of part of a second (8 only for
    float64: a float32 register holds 16), 1 to 17 filters, images of sizes that are and
    are not multiples of the tile (tiles that hang over the edge), padding 0 to 2, with and
    without a shortcut added before ReLU."""
    module, conv, twin_conv, positions = KERNELS[kernel]
    if n < vec.lanes(dtype) or h + 2 * pad < 3 or w + 2 * pad < 3:
        return
    shape = (n, c_in, h, w, c_out, 3, 1, pad)
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, False, has_bias)
    skip = np.random.default_rng(seed).standard_normal(expected.shape).astype(dtype)
    if has_skip:
        expected = expected + skip
    expected = np.maximum(expected, 0) if relu else expected
    skip_fm = np.ascontiguousarray(np.moveaxis(skip, 0, -1)) if has_skip else \
        NO_SKIP.astype(dtype)
    if positions == 36:       # F(4x4, 3x3) rounds some ten times more, in the sums' scale
        tol = tol / 10 * max(1.0, float(np.abs(expected).max()))
    u = module.filters(weight, c_in)
    assert u.shape == (positions, -(-c_out // 8), c_in, 8) and u.dtype == dtype
    out = np.full((c_out,) + expected.shape[2:] + (n,), np.nan, dtype)
    work = np.full(module.work_size(c_in, c_out, n), np.nan, dtype)
    got = conv(xp, u, bias, relu, skip_fm, work, out)
    np.testing.assert_allclose(nchw(got), expected, rtol=tol, atol=tol)
    twin = twin_conv(xp, u, bias, relu, skip_fm, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@pytest.mark.parametrize("module, size", [(W, 4), (W4, 6)])
def test_the_filter_transform_is_g_g_gt_and_the_one_dimensional_identity_holds(module, size):
    """One filter, one channel: U = G g Gᵀ, the transform the products multiply by; and in
    one dimension Aᵀ [(G g) * (Bᵀ d)] is the direct correlation of d by g."""
    g = np.arange(1.0, 10.0).reshape(3, 3)
    u = module.filters(g.reshape(1, 9), 1)              # (positions, 1 group, 1 channel, 8)
    np.testing.assert_allclose(u[:, 0, 0, 0].reshape(size, size), module.G @ g @ module.G.T)
    assert not u[:, 0, 0, 1:].any()                     # the other seven filters: zeros
    d, taps = np.random.default_rng(0).standard_normal((2, size))
    taps = taps[:3]
    np.testing.assert_allclose(module.AT @ ((module.G @ taps) * (module.BT @ d)),
                               np.correlate(d, taps, "valid"), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_refuses_what_it_cannot_run(dtype):
    """Fewer samples than a register (batches of 0 and 1), filters of another shape and
    scratch too small are refused, with the rule named."""
    lanes = vec.lanes(dtype)
    u = np.zeros((16, 1, 2, 8), dtype)
    no = NO_SKIP.astype(dtype)
    bias = np.zeros(0, dtype)
    for n in (0, 1):
        with pytest.raises(ValueError, match="register of samples"):
            W.conv_winograd(np.zeros((2, 6, 6, n), dtype), u, bias, False, no,
                            np.zeros(W.work_size(2, 8, max(n, 1)), dtype),
                            np.zeros((8, 4, 4, n), dtype))
    xp, out = np.zeros((2, 6, 6, lanes), dtype), np.zeros((8, 4, 4, lanes), dtype)
    with pytest.raises(ValueError, match="16, OC / 8, C, 8"):
        W.conv_winograd(xp, np.zeros((16, 1, 3, 8), dtype), bias, False, no,
                        np.zeros(W.work_size(2, 8, lanes), dtype), out)
    with pytest.raises(ValueError, match="work_size"):
        W.conv_winograd(xp, u, bias, False, no, np.zeros(10, dtype), out)


PIXEL_KERNELS = {"F(2x2, 3x3)": "winograd_pixels", "F(4x4, 3x3)": "winograd4_pixels"}


@pytest.mark.parametrize("kernel", PIXEL_KERNELS)
@settings(max_examples=30, deadline=None)
@given(c_in=st.integers(1, 40), h=st.integers(1, 11), w=st.integers(1, 11),
       c_out=st.integers(1, 40), pad=st.integers(0, 2),
       dtype=st.sampled_from([np.float32, np.float64]), relu=st.booleans(),
       has_bias=st.booleans(), has_skip=st.booleans(), seed=st.integers(0, 2 ** 31 - 1))
@example(c_in=16, h=28, w=28, c_out=16, pad=1, dtype=np.float32, relu=False, has_bias=True,
         has_skip=True, seed=0)                                      # resnet8's first stage
@example(c_in=17, h=7, w=5, c_out=33, pad=0, dtype=np.float64, relu=True, has_bias=False,
         has_skip=False, seed=1)                                     # registers and a bit
def test_one_samples_channels_last_winograd_is_the_dense_convolution(
        kernel, c_in, h, w, c_out, pad, dtype, relu, has_bias, has_skip, seed):
    """One sample, channels last, both tile sizes: channels fewer than a register, one, and
    one and a bit (in and out), images of sizes that are and are not multiples of the tile,
    padding 0 to 2, with and without a shortcut added before ReLU."""
    import importlib
    module = importlib.import_module(f"minprune.infer.{PIXEL_KERNELS[kernel]}")
    name = PIXEL_KERNELS[kernel].replace("_pixels", "")
    conv = getattr(module, f"conv_{name}_pixels")
    twin_conv = getattr(module, f"conv_{name}_pixels_numpy")
    positions = 16 if name == "winograd" else 36
    if h + 2 * pad < 3 or w + 2 * pad < 3:
        return
    shape = (1, c_in, h, w, c_out, 3, 1, pad)
    _, weight, bias, expected, xp, tol = conv_case(shape, dtype, seed, False, has_bias)
    skip = np.random.default_rng(seed).standard_normal(expected.shape).astype(dtype)
    if has_skip:
        expected = expected + skip
    expected = np.maximum(expected, 0) if relu else expected
    if positions == 36:       # F(4x4, 3x3) rounds some ten times more, in the sums' scale
        tol = tol / 10 * max(1.0, float(np.abs(expected).max()))
    lanes = vec.lanes(dtype)
    skip_hwc = np.ascontiguousarray(skip[0].transpose(1, 2, 0)) if has_skip else \
        np.zeros((0, 0, 0), dtype)
    xp_hwc = np.ascontiguousarray(xp[..., 0].transpose(1, 2, 0))
    u = module.filters_lanes(weight, c_in, dtype)
    assert u.shape == (positions, -(-c_out // lanes), c_in, lanes) and u.dtype == dtype
    out = np.full(expected.shape[2:] + (c_out,), np.nan, dtype)
    work = np.full(module.work_size(*out.shape[:2], c_in, c_out, lanes), np.nan, dtype)
    got = conv(xp_hwc, u, bias, relu, skip_hwc, work, out)
    np.testing.assert_allclose(got.transpose(2, 0, 1), expected[0], rtol=tol, atol=tol)
    twin = twin_conv(xp_hwc, u, bias, relu, skip_hwc, np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


@pytest.mark.parametrize("positions", [16, 36])
def test_channels_last_winograd_refuses_what_it_cannot_run(positions):
    from minprune.infer import winograd4_pixels as WP4
    from minprune.infer import winograd_pixels as WP
    module, conv = ((WP, WP.conv_winograd_pixels) if positions == 16
                    else (WP4, WP4.conv_winograd4_pixels))
    dtype = np.float32
    u, bias = np.zeros((positions, 1, 2, 16), dtype), np.zeros(0, dtype)
    no, out = np.zeros((0, 0, 0), dtype), np.zeros((4, 4, 8), dtype)
    work = np.zeros(module.work_size(4, 4, 2, 8, 16), dtype)
    with pytest.raises(ValueError, match=f"{positions}, OC / L, C, L"):
        conv(np.zeros((6, 6, 3), dtype), u, bias, False, no, work, out)
    with pytest.raises(ValueError, match="3x3 stride-1"):
        conv(np.zeros((7, 6, 2), dtype), u, bias, False, no, work, out)
    with pytest.raises(ValueError, match="work_size"):
        conv(np.zeros((6, 6, 2), dtype), u, bias, False, no, work[:5], out)
