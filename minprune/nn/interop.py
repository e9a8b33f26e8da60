"""The PyTorch twin of a Sequential model, for cross-checks and benchmarks (torch optional)."""
from __future__ import annotations

import numpy as np

from . import layers as L
from .module import Sequential


def to_torch(model, dtype=None):
    """A ``torch.nn.Sequential`` with the same layers and a copy of ``model``'s state dict.

    Needs PyTorch; minprune itself never imports it. Dropout becomes ``torch.nn.Dropout`` with
    the same p (its random draws differ, so compare with p=0 or in eval mode).
    """
    import torch
    tnn = torch.nn
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch takes a Sequential model, got {type(model).__name__}")
    out = []
    for m in model:
        if isinstance(m, L.Linear):
            out.append(tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None))
        elif isinstance(m, L.Conv2d):
            out.append(tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride,
                                  m.padding, bias=m.bias is not None))
        elif isinstance(m, (L.BatchNorm1d, L.BatchNorm2d)):
            cls = tnn.BatchNorm1d if isinstance(m, L.BatchNorm1d) else tnn.BatchNorm2d
            out.append(cls(m.num_features, m.eps, m.momentum))
        elif isinstance(m, L.AvgPool2d):
            out.append(tnn.AvgPool2d(m.kernel_size, m.stride, m.padding))
        elif isinstance(m, L.MaxPool2d):
            out.append(tnn.MaxPool2d(m.kernel_size, m.stride, m.padding))
        elif isinstance(m, L.Dropout):
            out.append(tnn.Dropout(m.p))
        else:
            simple = {L.ReLU: tnn.ReLU, L.Tanh: tnn.Tanh, L.Sigmoid: tnn.Sigmoid,
                      L.Flatten: tnn.Flatten}
            if type(m) not in simple:
                raise TypeError(f"to_torch: no PyTorch twin for {type(m).__name__}")
            out.append(simple[type(m)]())
    state = model.state_dict()
    first = next(iter(state.values()), np.zeros(0, np.float32))
    dtype = dtype or {np.dtype(np.float64): torch.float64}.get(first.dtype, torch.float32)
    tmodel = tnn.Sequential(*out).to(dtype)
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    tmodel.train(model.training)
    return tmodel
