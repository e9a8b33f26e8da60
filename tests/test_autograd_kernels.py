"""The training step's Numba kernels against their NumPy twins (this file also runs under
NUMBA_DISABLE_JIT=1), and the fused ops built on them against the composite definitions."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import Tensor
from minprune import functional as F
from minprune.autograd import columns as C
from minprune.autograd import kernels as K
from minprune.nn import kernels as NK

DTYPES = [np.float32, np.float64]


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 40), c=st.integers(1, 7), seed=st.integers(0, 10**6),
       dtype=st.sampled_from(DTYPES), offset=st.sampled_from([0.0, 1e3]),
       relu=st.booleans())
def test_batch_norm_kernels_match_twins(m, c, seed, dtype, offset, relu):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, c)) + offset).astype(dtype)
    g = rng.standard_normal((m, c)).astype(dtype)
    mean, var = K.bn_stats(x)
    mean_np, var_np = K.bn_stats_numpy(x)
    np.testing.assert_allclose(mean, mean_np, rtol=1e-12, atol=1e-12 * (1 + offset))
    np.testing.assert_allclose(var, var_np, rtol=1e-9, atol=1e-12)
    shift, inv = mean.astype(dtype), (1 / np.sqrt(var + 1e-5)).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    scale = gamma * inv
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y = K.bn_apply(x, shift, scale, beta, relu, np.empty_like(x))
    np.testing.assert_allclose(y, K.bn_apply_numpy(x, shift, scale, beta, relu, np.empty_like(x)),
                               rtol=tol, atol=tol)
    assert not relu or (y >= 0).all()
    sums = K.bn_grad_sums(g, x, shift, inv, scale, beta, relu)
    sums_np = K.bn_grad_sums_numpy(g, x, shift, inv, scale, beta, relu)
    for a, b in zip(sums, sums_np):
        np.testing.assert_allclose(a, b, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-4 if dtype == np.float32 else 1e-10)
    if relu:               # the sums of the ReLU's gradient: g where the output is positive
        np.testing.assert_allclose(sums[0], (g * (y > 0)).astype(np.float64).sum(axis=0),
                                   rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4)
    db, dg = (s.astype(dtype) / m for s in sums)
    np.testing.assert_allclose(
        K.bn_grad_input(g, x, shift, inv, scale, beta, relu, db, dg, np.empty_like(g)),
        K.bn_grad_input_numpy(g, x, shift, inv, scale, beta, relu, db, dg, np.empty_like(g)),
        rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-4 if dtype == np.float32 else 1e-10)


def _composite_batch_norm(x, w, b, eps=1e-5):
    """Batch norm from primitives (the definition the fused op replaced)."""
    axes = (0, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    return centred / (var + eps).sqrt() * w.reshape((1, -1, 1, 1)) + b.reshape((1, -1, 1, 1))


@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_batch_norm_matches_composite(channels_last):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, 4, 5, 6)) * 3 + 2
    if channels_last:                               # stored as a convolution leaves it
        data = np.ascontiguousarray(data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    g = rng.standard_normal((3, 4, 5, 6))
    results = []
    for fn in (lambda x, w, b: F.batch_norm(x, None, None, w, b), _composite_batch_norm):
        x, w, b = (Tensor(a, requires_grad=True)
                   for a in (data, rng.standard_normal(4) * 0 + [1.5, -2, .5, 3], np.arange(4.)))
        out = fn(x, w, b)
        out.backward(g)
        results.append((out.data, x.grad, w.grad, b.grad))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 5), h=st.integers(3, 9), k=st.integers(1, 3),
       stride=st.integers(1, 3), seed=st.integers(0, 10**6), dtype=st.sampled_from(DTYPES),
       ties=st.booleans())
def test_max_pool_grad_matches_twin(n, c, h, k, stride, seed, dtype, ties):
    rng = np.random.default_rng(seed)
    xp = rng.integers(0, 3, (n, h, h + 1, c)) if ties else rng.standard_normal((n, h, h + 1, c))
    xp = xp.astype(dtype)
    oh, ow = (h - k) // stride + 1, (h + 1 - k) // stride + 1
    out = np.full((n, oh, ow, c), -np.inf, dtype)
    for i in range(k):
        for j in range(k):
            np.maximum(out, xp[:, i:i + stride * (oh - 1) + 1:stride,
                               j:j + stride * (ow - 1) + 1:stride], out=out)
    g = rng.standard_normal(out.shape).astype(dtype)
    got = K.max_pool_grad(xp, out, g, k, stride, np.zeros_like(xp))
    want = K.max_pool_grad_numpy(xp, out, g, k, stride, np.zeros_like(xp))
    # overlapping windows add into one input in another order: equal up to rounding
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got != 0, want != 0)      # the same winners


@pytest.mark.parametrize("momentum,weight_decay,nesterov", [(0.0, 0.0, False), (0.9, 0.0, False),
                                                            (0.9, 1e-2, True), (0.5, 1e-3, False)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_kernel_matches_twin(momentum, weight_decay, nesterov, dtype):
    rng = np.random.default_rng(1)
    p = rng.standard_normal(50).astype(dtype)
    runs = [(p.copy(), np.zeros_like(p)) for _ in range(2)]
    for step in range(3):
        g = rng.standard_normal(50).astype(dtype)
        for fn, (q, buf) in zip((NK.sgd, NK.sgd_numpy), runs):
            scalar = q.dtype.type
            fn(q, g, buf, scalar(0.1), scalar(momentum), scalar(weight_decay), nesterov,
               step == 0)
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6 if dtype == np.float32 else 1e-14)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-6 if dtype == np.float32 else 1e-14)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 4), h=st.integers(3, 8), k=st.integers(1, 3),
       stride=st.integers(1, 3), pad=st.integers(0, 1), seed=st.integers(0, 10**6),
       dtype=st.sampled_from(DTYPES))
def test_col2im_fm_is_the_adjoint_of_im2col(n, c, h, k, stride, pad, seed, dtype):
    from minprune.infer import fm_kernels
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, h + 1, n)).astype(dtype)
    oh, ow = (h + 2 * pad - k) // stride + 1, (h + 1 + 2 * pad - k) // stride + 1
    cols = rng.standard_normal((k * k * c, oh * ow * n)).astype(dtype)
    got = C.col2im_fm(cols, k, stride, pad, np.zeros_like(x))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, C.col2im_fm_numpy(cols, k, stride, pad, np.zeros_like(x)),
                               rtol=tol, atol=tol)
    unfolded = fm_kernels.im2col_numpy(x, k, stride, pad)          # <im2col x, C> = <x, col2im C>
    np.testing.assert_allclose(np.vdot(unfolded, cols), np.vdot(x, got), rtol=1e-4 if
                               dtype == np.float32 else 1e-10, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 4), h=st.integers(3, 8), kh=st.integers(1, 3),
       kw=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 10**6),
       dtype=st.sampled_from(DTYPES))
def test_col2im_nhwc_is_the_adjoint_of_im2col(n, c, h, kh, kw, stride, seed, dtype):
    from minprune.autograd.conv import _im2col
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, h + 1, c)).astype(dtype)
    pad = int(rng.integers(0, 2))
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (h + 1 + 2 * pad - kw) // stride + 1
    dcols = rng.standard_normal((n * oh * ow, kh * kw * c)).astype(dtype)
    got = C.col2im_nhwc(dcols, kh, kw, stride, pad, oh, ow, np.zeros_like(x))
    want = C.col2im_nhwc_numpy(dcols, kh, kw, stride, pad, oh, ow, np.zeros_like(x))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    cols = _im2col(x, kh, kw, stride, pad, oh, ow)             # <im2col x, D> = <x, col2im D>
    np.testing.assert_array_equal(cols, C.im2col_nhwc_numpy(x, kh, kw, stride, pad, oh, ow))
    np.testing.assert_array_equal(cols, _im2col(xp, kh, kw, stride, 0, oh, ow))
    np.testing.assert_allclose(np.vdot(cols, dcols), np.vdot(x, got),
                               rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-3)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 3), c=st.integers(1, 5), h=st.integers(3, 8), kh=st.integers(1, 3),
       kw=st.integers(1, 3), stride=st.integers(1, 3), seed=st.integers(0, 10**6),
       dtype=st.sampled_from(DTYPES))
def test_im2col_nhwc_matches_twin(n, c, h, kh, kw, stride, seed, dtype):
    """The columns of conv2d: kh runs of kw·C numbers per window, whatever the stride, zeros
    where a window reaches into the padding (also a padding wider than the kernel)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, h + 1, c)).astype(dtype)
    for pad in (0, 1, kw + 1):
        oh, ow = (h + 2 * pad - kh) // stride + 1, (h + 1 + 2 * pad - kw) // stride + 1
        got = C.im2col_nhwc(x, kh, kw, stride, pad, oh, ow,
                            np.full((n * oh * ow, kh * kw * c), np.nan, dtype=dtype))
        np.testing.assert_array_equal(got, C.im2col_nhwc_numpy(x, kh, kw, stride, pad, oh, ow))


@pytest.mark.parametrize("layout", ["C", "F", "channels-last view", "different", "gapped",
                                    "cropped", "broadcast"])
def test_relu_grad_is_the_masked_gradient(layout):
    """ReLU's backward, one pass when gradient and output share a layout, NumPy otherwise;
    the kernel against its twin; 0 at 0."""
    from minprune.autograd.ops import _relu_grad
    rng = np.random.default_rng(0)
    shape = (3, 4, 5, 6)
    make = {"C": lambda: rng.standard_normal(shape),
            "F": lambda: np.asfortranarray(rng.standard_normal(shape)),
            "channels-last view": lambda: rng.standard_normal((3, 5, 6, 4)).transpose(0, 3, 1, 2),
            "different": lambda: rng.standard_normal(shape),
            "gapped": lambda: rng.standard_normal((3, 4, 5, 12))[..., ::2],
            "cropped": lambda: rng.standard_normal((3, 7, 8, 4)).transpose(0, 3, 1, 2)[
                :, :, 1:6, 1:7],
            "broadcast": lambda: rng.standard_normal((3, 4, 5, 6))}[layout]
    g, y = make(), np.maximum(make(), 0)
    if layout in ("different", "cropped"):
        y = np.maximum(rng.standard_normal((3, 5, 6, 4)).transpose(0, 3, 1, 2), 0)
    if layout == "broadcast":
        g = np.broadcast_to(rng.standard_normal((3, 4, 1, 1)), shape)
    y.flat[:7] = 0.0                                   # exact zeros: the gradient is 0 there
    np.testing.assert_array_equal(_relu_grad(g, y), g * (y > 0))
    flat = [np.ascontiguousarray(a).ravel() for a in (g, y)]
    np.testing.assert_array_equal(K.relu_grad(*flat, np.empty_like(flat[0])),
                                  K.relu_grad_numpy(*flat, np.empty_like(flat[0])))


@pytest.mark.parametrize("layout", ["C", "channels-last view", "different", "broadcast"])
def test_add_relu_is_relu_of_the_sum(layout):
    """The fused join: relu(a + b) and its gradient, one pass where a and b share a layout,
    NumPy otherwise; the kernel against its twin."""
    from minprune.autograd.ops import add_relu
    rng = np.random.default_rng(1)
    shape = (3, 4, 5, 6)
    a0 = (rng.standard_normal((3, 5, 6, 4)).transpose(0, 3, 1, 2)
          if layout in ("channels-last view", "different") else rng.standard_normal(shape))
    b0 = (rng.standard_normal(shape) if layout == "different"
          else rng.standard_normal((3, 4, 1, 1)) if layout == "broadcast"
          else rng.standard_normal(a0.shape[:1] + (5, 6, 4)).transpose(0, 3, 1, 2)
          if layout == "channels-last view" else rng.standard_normal(shape))
    a, b = Tensor(a0, requires_grad=True), Tensor(b0, requires_grad=True)
    g = rng.standard_normal(shape)
    out = add_relu(a, b)
    np.testing.assert_array_equal(out.data, np.maximum(a0 + b0, 0))
    (out * Tensor(g)).sum().backward()
    mask = a0 + b0 > 0
    np.testing.assert_array_equal(a.grad, g * mask)
    np.testing.assert_array_equal(b.grad, (g * mask).sum(axis=(2, 3), keepdims=True)
                                  if layout == "broadcast" else g * mask)
    flat = [np.ascontiguousarray(x).ravel() for x in (a0, np.broadcast_to(b0, shape))]
    np.testing.assert_array_equal(K.add_relu(*flat, np.empty_like(flat[0])),
                                  K.add_relu_numpy(*flat, np.empty_like(flat[0])))
