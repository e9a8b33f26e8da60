"""Every primitive and composite against finite differences, in float64, table-driven."""
import numpy as np
import pytest

from minprune import Tensor
from minprune import functional as F
from minprune.autograd import ops
from minprune.autograd.gradcheck import check_grad

R = np.random.default_rng(0)


def a(*shape, positive=False):
    x = R.standard_normal(shape)
    return np.abs(x) + 0.5 if positive else x


CASES = {
    "add broadcast": (lambda x, y: x + y, [a(3, 4), a(4)]),
    "add keepdim broadcast": (lambda x, y: x + y, [a(3, 1), a(1, 4)]),
    "sub scalar": (lambda x: 2.0 - x, [a(3, 4)]),
    "mul broadcast": (lambda x, y: x * y, [a(2, 3, 4), a(3, 1)]),
    "div": (lambda x, y: x / y, [a(3, 4), a(3, 4, positive=True)]),
    "rdiv": (lambda x: 1.0 / x, [a(5, positive=True)]),
    "neg": (lambda x: -x, [a(4)]),
    "pow": (lambda x: x ** 3, [a(3, 2)]),
    "pow fractional": (lambda x: x ** 0.5, [a(3, 2, positive=True)]),
    "pow tensor exponent": (lambda x, y: x ** y, [a(3, positive=True), a(3)]),
    "matmul": (lambda x, y: x @ y, [a(3, 4), a(4, 2)]),
    "exp": (lambda x: x.exp(), [a(3, 4)]),
    "log": (lambda x: x.log(), [a(3, 4, positive=True)]),
    "sqrt": (lambda x: x.sqrt(), [a(3, 4, positive=True)]),
    "abs": (lambda x: x.abs(), [a(3, 4)]),
    "relu": (lambda x: x.relu(), [a(3, 4)]),
    "tanh": (lambda x: x.tanh(), [a(3, 4)]),
    "sigmoid": (lambda x: x.sigmoid(), [a(3, 4)]),
    "sum all": (lambda x: x.sum(), [a(3, 4)]),
    "sum axis": (lambda x: x.sum(axis=1), [a(3, 4, 2)]),
    "sum axes keepdims": (lambda x: x.sum(axis=(0, 2), keepdims=True), [a(3, 4, 2)]),
    "mean axis": (lambda x: x.mean(axis=0), [a(3, 4)]),
    "mean negative axis keepdims": (lambda x: x.mean(axis=-1, keepdims=True), [a(3, 4)]),
    "max axis": (lambda x: x.max(axis=1), [a(3, 4)]),
    "max all keepdims": (lambda x: x.max(keepdims=True), [a(3, 4)]),
    "reshape": (lambda x: x.reshape(4, 3) * np.arange(12.0).reshape(4, 3), [a(3, 4)]),
    "transpose": (lambda x, w=a(2, 3, 4): x.transpose(2, 0, 1) * w, [a(3, 4, 2)]),
    "T": (lambda x: x.T @ x, [a(3, 2)]),
    "index slice": (lambda x: x[1:, ::2], [a(3, 4)]),
    "index fancy repeated": (lambda x: x[[0, 2, 0]], [a(3, 4)]),
    "index pairs": (lambda x: x[np.arange(3), np.array([1, 0, 1])], [a(3, 2)]),
    "where": (lambda x, y: ops.where(np.array([True, False, True]), x, y), [a(3), a(3)]),
    "fan-out": (lambda x: x * x + x.exp() * x, [a(3, 4)]),
    "diamond": (lambda x: (x.tanh() + x.sigmoid()) * (x.tanh() - 1.0), [a(5)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [a(5, 3), a(4, 3), a(4)]),
    "softmax": (lambda x: F.softmax(x, axis=1), [a(3, 5)]),
    "log_softmax": (lambda x: F.log_softmax(x, axis=-1), [a(3, 5)]),
    "cross_entropy": (lambda x: F.cross_entropy(x, np.array([0, 4, 2])), [a(3, 5)]),
    "mse_loss": (lambda x, y: F.mse_loss(x, y), [a(3, 2), a(3, 2)]),
    "dropout p=0.5": (lambda x: F.dropout(x, 0.5, True, np.random.default_rng(1)), [a(4, 6)]),
    "batch_norm 1d": (lambda x, w, b: F.batch_norm(x, None, None, w, b), [a(6, 3), a(3), a(3)]),
    "batch_norm 2d": (lambda x, w, b: F.batch_norm(x, None, None, w, b),
                      [a(2, 3, 3, 2), a(3), a(3)]),
    "batch_norm eval": (lambda x, w, b, m=a(3), v=a(3, positive=True):
                        F.batch_norm(x, m, v, w, b, False),
                        [a(4, 3), a(3), a(3)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b), [a(2, 3, 5, 5), a(4, 3, 3, 3), a(4)]),
    "conv2d stride padding": (lambda x, w: F.conv2d(x, w, stride=2, padding=2),
                              [a(2, 2, 5, 6), a(3, 2, 3, 2)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [a(2, 3, 4, 4)]),
    "max_pool2d overlap pad": (lambda x: F.max_pool2d(x, 3, 2, 1), [a(1, 2, 5, 5)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), [a(2, 3, 4, 6)]),
    "avg_pool2d overlap pad": (lambda x: F.avg_pool2d(x, 3, 2, 1), [a(1, 2, 5, 5)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name):
    fn, arrays = CASES[name]
    check_grad(fn, *arrays)


def test_check_grad_catches_a_wrong_backward():
    def bad_square(x):
        return Tensor(x.data ** 2, parents=(x,), backward_fn=lambda g: (g * x.data,))  # missing 2
    with pytest.raises(AssertionError, match="argument 0"):
        check_grad(bad_square, a(3))


def test_log_softmax_is_stable_for_large_logits():
    x = Tensor(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32), requires_grad=True)
    out = F.log_softmax(x)
    assert np.all(np.isfinite(out.data))
    np.testing.assert_allclose(out.data[0, 0], 0.0, atol=1e-6)
    out.sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_float32_default_and_float64_on_request():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.float32
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64
    x = Tensor(np.ones(3, dtype=np.float64))
    assert (x * 2.0 + 1).dtype == np.float64
    assert (Tensor([1.0]) * np.float64(2)).dtype == np.float32


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))


@pytest.mark.parametrize("targets, error, match", [
    (np.array([0.0, 1.0]), TypeError, "integer"),
    (np.array([0, 1, 2]), ValueError, "shape"),
    (np.array([0, 7]), ValueError, r"\[0, 3\)"),
])
def test_cross_entropy_rejects_bad_targets(targets, error, match):
    with pytest.raises(error, match=match):
        F.cross_entropy(Tensor(np.zeros((2, 3))), targets)


def test_mse_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        F.mse_loss(Tensor(np.zeros((2, 3))), np.zeros((3, 2)))


@pytest.mark.parametrize("stride,padding,channels", [(1, 1, 3), (2, 0, 1), (1, 2, 5)])
def test_conv2d_in_chunks_equals_one_product(monkeypatch, stride, padding, channels):
    """A batch whose columns are built chunk by chunk (rebuilt in the backward) gives the
    same output and gradients as one product over the whole batch."""
    from minprune.autograd import conv
    rng = np.random.default_rng(3)
    data = rng.standard_normal((7, channels, 9, 8))
    weight = rng.standard_normal((4, channels, 3, 3))
    g = rng.standard_normal((7, 4, (9 + 2 * padding - 3) // stride + 1,
                             (8 + 2 * padding - 3) // stride + 1))
    results = []
    for chunk_bytes in (1 << 30, 1):                # one chunk; one sample per chunk
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
        x, w, b = (Tensor(a, requires_grad=True) for a in (data, weight, np.arange(4.0)))
        out = F.conv2d(x, w, b, stride, padding)
        out.backward(g)
        results.append((out.data, x.grad, w.grad, b.grad))
    for one, chunked in zip(*results):
        np.testing.assert_allclose(chunked, one, rtol=1e-12, atol=1e-12)
