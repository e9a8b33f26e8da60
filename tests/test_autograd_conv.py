"""Convolution and pooling against naive loops over every output position."""
import numpy as np
import pytest

from minprune import Tensor
from minprune import functional as F


def naive_conv(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, oc, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + (0 if b is None else b[None, :, None, None])


def naive_pool(x, k, stride, padding, reduce, fill):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=fill)
    oh, ow = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k],
                                     axis=(2, 3))
    return out


@pytest.mark.parametrize("kernel, stride, padding", [(1, 1, 0), (3, 1, 0), (3, 1, 1), (5, 1, 2),
                                                     (3, 2, 0), (3, 2, 1), (2, 2, 0), (4, 3, 2)])
def test_conv2d_matches_naive_loops(kernel, stride, padding, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, kernel, kernel))
    b = rng.standard_normal(4)
    out = F.conv2d(x, w, b, stride=stride, padding=padding)
    np.testing.assert_allclose(out.data, naive_conv(x, w, b, stride, padding), rtol=1e-10)


@pytest.mark.parametrize("k, stride, padding", [(2, None, 0), (3, 1, 0), (3, 2, 1), (2, 1, 1)])
def test_pooling_matches_naive_loops(k, stride, padding, rng):
    x = rng.standard_normal((2, 3, 7, 6))
    s = stride or k
    np.testing.assert_allclose(F.max_pool2d(x, k, stride, padding).data,
                               naive_pool(x, k, s, padding, np.max, -np.inf))
    np.testing.assert_allclose(F.avg_pool2d(x, k, stride, padding).data,
                               naive_pool(x, k, s, padding, np.sum, 0.0) / (k * k))


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.zeros((1, 1, 2, 2))                      # four tied maxima
    from minprune import Tensor
    t = Tensor(x, requires_grad=True)
    F.max_pool2d(t, 2).sum().backward()
    np.testing.assert_array_equal(t.grad[0, 0], [[1.0, 0.0], [0.0, 0.0]])


def test_conv2d_channel_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"3 channels.*\(4, 2, 3, 3\)"):
        F.conv2d(np.zeros((1, 3, 5, 5)), np.zeros((4, 2, 3, 3)))


def test_kernel_larger_than_input():
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, stride, padding", [(3, 1, 1), (5, 1, 0), (3, 2, 1), (1, 2, 0),
                                                (5, 1, 2)])
@pytest.mark.parametrize("c_in, c_out", [(5, 7), (16, 8)])
def test_register_tiles_and_columns_give_one_convolution_and_gradient(k, stride, padding,
                                                                      c_in, c_out, dtype,
                                                                      monkeypatch):
    """The forward in register tiles (and, where the convolution keeps the image's size, the
    input's gradient too; with a register's worth of input channels and eight outputs, the
    weight's gradient too) against im2col and the products: same outputs and gradients, on
    a batch of 21 (part of a tile) and 7 output channels (part of a register)."""
    from minprune.autograd import conv as C
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((21, c_in, 9, 9)).astype(dtype)
    w0 = rng.standard_normal((c_out, c_in, k, k)).astype(dtype)
    b0 = rng.standard_normal(c_out).astype(dtype)
    results = []
    for tiles in (True, False):
        monkeypatch.setattr(C, "TILES", tiles)
        x, w, b = (Tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = C.conv2d(x, w, b, stride, padding)
        (y * y).sum().backward()
        results.append((y.data, x.grad, w.grad, b.grad))
    tol = 1e-5 if dtype == np.float32 else 1e-12      # (sums taken in another order)
    for tiled, columns in zip(*results):
        scale = np.abs(columns).max()
        np.testing.assert_allclose(tiled, columns, rtol=10 * tol, atol=tol * scale)
