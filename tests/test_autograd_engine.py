"""The graph walk: iterative, accumulating, un-broadcasting, switchable with no_grad."""
import numpy as np
import pytest

from minprune import Tensor, no_grad
from minprune.autograd.engine import topological_order, unbroadcast


def test_a_10000_op_chain_does_not_recurse():
    x = Tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001 ** 10_000, rtol=1e-3)


def test_fan_out_accumulates():
    x = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    (x * x + x).sum().backward()                    # d/dx (x² + x) = 2x + 1
    np.testing.assert_allclose(x.grad, [5.0, 7.0])


def test_leaf_gradients_accumulate_across_backward_calls_until_zeroed():
    x = Tensor(np.array([1.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0])
    x.zero_grad()
    assert x.grad is None


def test_graph_reused_twice_gives_the_same_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * x
    loss = h.sum()
    loss.backward()
    first = x.grad.copy()
    x.zero_grad()
    loss.backward()
    np.testing.assert_allclose(x.grad, first)


def test_unbroadcast():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (4,)).tolist() == [6.0] * 4
    assert unbroadcast(g, (3, 1)).shape == (3, 1)
    np.testing.assert_allclose(unbroadcast(g, (1, 3, 1)), np.full((1, 3, 1), 8.0))


def test_topological_order_puts_parents_first():
    a = Tensor(np.ones(2), requires_grad=True)
    b = a * 2
    c = b + a
    order = topological_order(c)
    assert order.index(a) < order.index(b) < order.index(c)


def test_no_grad_records_nothing():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y.parents == ()


def test_constants_get_no_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    c = Tensor(np.ones(3))
    (x * c).sum().backward()
    assert c.grad is None


def test_backward_on_non_scalar_needs_a_gradient():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="non-scalar"):
        (x * 2).backward()
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])


def test_backward_grad_with_wrong_shape():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(4))
