"""L0Gate: hard-concrete gates that learn which units to keep (Louizos et al. 2018)."""
from __future__ import annotations

import math

import numpy as np

from ..autograd import ops
from ..checks import integer
from .init import as_rng
from .module import Module, Parameter


def _hard_sigmoid(v):
    """min(max(v, 0), 1), written with two ReLUs so that autograd knows its gradient."""
    return ops.relu(v) - ops.relu(v - 1.0)


class L0Gate(Module):
    """Multiplies each of ``n`` units (features of (N, n) input, channels of (N, n, H, W)) by a
    gate z in [0, 1] with a learned ``log_alpha`` per unit.

    Training draws z from the hard-concrete distribution: u ~ U(0, 1),
    s = sigmoid((log u - log(1 - u) + log_alpha) / beta), z = min(1, max(0, s·(zeta - gamma)
    + gamma)); the stretch beyond [0, 1] lets a gate be exactly 0 or 1 with non-zero
    probability. Evaluation uses the deterministic gate sigmoid(log_alpha)·(zeta - gamma) +
    gamma, clipped. ``expected_l0()`` is the expected number of open gates, the differentiable
    L0 penalty. One u per unit per batch.
    """

    def __init__(self, n, *, beta=2 / 3, gamma=-0.1, zeta=1.1, open_probability=0.9,
                 rng=None, dtype=np.float32):
        integer("L0Gate: n", n, 1)
        if not 0 < open_probability < 1:
            raise ValueError(f"L0Gate: open_probability must be in (0, 1), got "
                             f"{open_probability!r}")
        self.n, self.beta, self.gamma, self.zeta = n, beta, gamma, zeta
        self.rng = as_rng(rng)
        start = math.log(open_probability) - math.log(1 - open_probability)
        self.log_alpha = Parameter((start + 0.01 * self.rng.standard_normal(n)).astype(dtype))

    def gates(self):
        """The gate values this module applies now: a Tensor of shape (n,)."""
        if self.training:
            u = self.rng.uniform(1e-6, 1 - 1e-6, self.n)
            noise = (np.log(u) - np.log(1 - u)).astype(self.log_alpha.dtype)
            s = ((self.log_alpha + noise) * (1 / self.beta)).sigmoid()
        else:
            s = self.log_alpha.sigmoid()
        return _hard_sigmoid(s * (self.zeta - self.gamma) + self.gamma)

    def deterministic_gates(self):
        """The evaluation-mode gates as an array (n,)."""
        s = 1 / (1 + np.exp(-self.log_alpha.data))
        return np.clip(s * (self.zeta - self.gamma) + self.gamma, 0, 1)

    def expected_l0(self):
        """Sum over units of P(gate > 0) = sigmoid(log_alpha - beta·log(-gamma / zeta))."""
        shift = self.beta * math.log(-self.gamma / self.zeta)
        return (self.log_alpha - shift).sigmoid().sum()

    def forward(self, x):
        if x.ndim not in (2, 4) or x.shape[1] != self.n:
            raise ValueError(f"L0Gate({self.n}) expects (N, {self.n}) or (N, {self.n}, H, W) "
                             f"input, got {x.shape}")
        z = self.gates()
        return x * z.reshape((1, self.n) + (1,) * (x.ndim - 2))

    def config(self):
        return dict(n=self.n, beta=self.beta, gamma=self.gamma, zeta=self.zeta,
                    dtype=self.log_alpha.dtype.name)

    def extra_repr(self):
        return f"{self.n}, open={int((self.deterministic_gates() > 0).sum())}"
