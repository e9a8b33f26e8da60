"""Finite-difference gradient checking, shared by the tests and the lessons."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor


def numerical_grad(f, x, eps=1e-6):
    """Central differences of the scalar function ``f`` at array ``x`` (modified in place)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_grad(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7, rng=0):
    """Compare the autograd gradients of ``fn`` with central differences.

    Parameters
    ----------
    fn : callable taking one Tensor per array and returning a Tensor of any shape.
        A non-scalar output is reduced to ``sum(out * r)`` with a fixed random ``r``, which
        tests every output entry at once.
    *arrays : ndarrays (use float64: float32 has too few digits for differences).

    Returns the largest absolute error; raises AssertionError naming the argument and entry
    where the two gradients disagree.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    weights = None

    def scalar(*values):
        nonlocal weights
        out = fn(*values)
        if weights is None:
            weights = np.random.default_rng(rng).standard_normal(out.shape)
        return (out * weights).sum() if out.size != 1 else out.sum()

    inputs = [Tensor(a, requires_grad=True) for a in arrays]
    scalar(*inputs).backward()
    worst = 0.0
    for k, (a, t) in enumerate(zip(arrays, inputs)):
        analytic = np.zeros_like(a) if t.grad is None else t.grad
        numeric = numerical_grad(lambda: scalar(*[Tensor(b) for b in arrays]).item(), a, eps)
        err = np.abs(analytic - numeric)
        bad = err > atol + rtol * np.abs(numeric)
        if bad.any():
            worst_at = np.argmax(err - rtol * np.abs(numeric))
            i = tuple(int(k) for k in np.unravel_index(worst_at, a.shape))
            raise AssertionError(f"gradient of argument {k} differs at {i}: autograd "
                                 f"{analytic[i]:.6g}, finite differences {numeric[i]:.6g}")
        worst = np.maximum(worst, err.max(initial=0.0))
    return float(worst)
