"""What the data-driven criteria share: calibration data in batches, and the gradient a
backward pass left on a parameter (zeros where none arrived), in float64."""
from __future__ import annotations

import numpy as np


def batches(data, batch_size):
    """(X, y) in consecutive batches of ``batch_size``."""
    X, y = data
    for start in range(0, len(X), batch_size):
        yield X[start:start + batch_size], y[start:start + batch_size]


def gradient(p):
    """``p.grad`` in float64, or zeros of ``p``'s shape when no gradient reached it."""
    return np.zeros(p.shape) if p.grad is None else p.grad.astype(np.float64)
