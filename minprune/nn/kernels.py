"""SGD's update in one pass over a parameter: a Numba kernel with its plain-NumPy twin.

Written with NumPy, momentum SGD is five passes and a temporary per parameter (b = μb + g,
then p -= lr·b); for a small network those passes are a tenth of the training step. The
kernel reads p, g and b once and writes p and b once, the arithmetic in PyTorch's order and
in the parameter's type (float64 scalars would halve the vector width).
"""
from __future__ import annotations

from ..jit import njit


@njit(cache=True, nogil=True)
def sgd(p, g, buf, lr, momentum, weight_decay, nesterov, first):
    """One ``torch.optim.SGD`` step (dampening 0) on flat arrays, in place: d = g + wd·p;
    buf = d on the first step, else μ·buf + d (when μ > 0); p -= lr · (d + μ·buf if
    nesterov else buf), or lr · d without momentum."""
    for i in range(p.size):
        d = g[i] + weight_decay * p[i] if weight_decay != 0 else g[i]
        if momentum != 0:
            b = d if first else momentum * buf[i] + d
            buf[i] = b
            d = d + momentum * b if nesterov else b
        p[i] -= lr * d


def sgd_numpy(p, g, buf, lr, momentum, weight_decay, nesterov, first):
    d = g + weight_decay * p if weight_decay else g
    if momentum:
        if first:
            buf[:] = d
        else:
            buf *= momentum
            buf += d
        d = d + momentum * buf if nesterov else buf
    p -= lr * d
