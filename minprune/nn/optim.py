"""SGD and Adam with PyTorch's update rules, made mask-aware.

Mask-awareness is one invariant kept in one place (``Optimizer._masked_grads`` and
``_reapply``): a pruned entry's gradient is reported as 0, its optimizer state is 0, and its
value is exactly 0.0 after every step, whatever momentum or weight decay would have done.
"""
from __future__ import annotations

import numpy as np


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.lr = lr
        self.state = [dict() for _ in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def _masked_grads(self):
        """Yield (param, grad, state) for parameters with a gradient, pruned entries zeroed."""
        for p, state in zip(self.params, self.state):
            if p.grad is None:
                continue
            if p.mask is not None:
                p.grad *= p.mask
            yield p, p.grad, state

    @staticmethod
    def _reapply(p, state):
        if p.mask is not None:
            p.data *= p.mask
            for buf in state.values():
                if isinstance(buf, np.ndarray) and buf.shape == p.shape:
                    buf *= p.mask

    def step(self):
        for p, grad, state in self._masked_grads():
            self._update(p, grad, state)
            self._reapply(p, state)


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD`` semantics (dampening 0).

    g = ∇ + wd·p;  b = μ·b + g (b = g at the first step);  g = g + μ·b if nesterov else b;
    p = p - lr·g.
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError(f"momentum and weight_decay must be >= 0, got {momentum}, "
                             f"{weight_decay}")
        if nesterov and momentum <= 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov

    def _update(self, p, grad, state):
        from . import kernels  # lazy: Numba loads with the first optimizer step
        first = "momentum_buffer" not in state
        if self.momentum and first:
            state["momentum_buffer"] = np.empty_like(p.data)
        buf = state.get("momentum_buffer", p.data)     # (unused without momentum)
        arrays = (p.data, grad, buf)
        if all(a.flags.c_contiguous for a in arrays) and grad.dtype == p.data.dtype:
            scalar = p.data.dtype.type         # the arithmetic in the parameter's type
            kernels.sgd(*(a.reshape(-1) for a in arrays), scalar(self.lr),
                        scalar(self.momentum), scalar(self.weight_decay), self.nesterov, first)
        else:
            kernels.sgd_numpy(p.data, grad, buf, self.lr, self.momentum, self.weight_decay,
                              self.nesterov, first)


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015), ``torch.optim.Adam`` semantics (L2 weight decay, no amsgrad).

    m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
    p = p - lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + ε).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p, grad, state):
        b1, b2 = self.betas
        g = grad + self.weight_decay * p.data if self.weight_decay else grad
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + self.eps
        p.data -= (self.lr / (1 - b1 ** t)) * m / denom
