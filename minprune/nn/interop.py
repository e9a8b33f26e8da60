"""The PyTorch twin of a model, for cross-checks and benchmarks (torch optional)."""
from __future__ import annotations

import numpy as np

from . import layers as L
from .blocks import Residual
from .module import Sequential


def to_torch(model, dtype=None):
    """A ``torch.nn.Sequential`` with the same layers and a copy of ``model``'s state dict.

    Needs PyTorch; minprune itself never imports it. Residual blocks become a small torch
    module with the same ``body`` and ``shortcut`` (so the state dicts' names agree),
    ``GlobalAvgPool2d`` becomes ``AdaptiveAvgPool2d(1)`` then ``Flatten``. Dropout becomes
    ``torch.nn.Dropout`` with the same p (its random draws differ, so compare with p=0 or in
    eval mode).
    """
    import torch
    if not isinstance(model, Sequential):
        raise TypeError(f"to_torch takes a Sequential model, got {type(model).__name__}")
    state = model.state_dict()
    first = next(iter(state.values()), np.zeros(0, np.float32))
    dtype = dtype or {np.dtype(np.float64): torch.float64}.get(first.dtype, torch.float32)
    tmodel = _twin(model, torch.nn).to(dtype)
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    tmodel.train(model.training)
    return tmodel


def _twin(m, tnn):
    """The torch module that computes what the minprune module ``m`` computes."""
    if isinstance(m, Sequential):
        return tnn.Sequential(*(_twin(child, tnn) for child in m))
    if isinstance(m, Residual):
        return _residual_class(tnn)(_twin(m.body, tnn),
                                    None if m.identity else _twin(m.shortcut, tnn))
    if isinstance(m, L.Linear):
        return tnn.Linear(m.in_features, m.out_features, bias=m.bias is not None)
    if isinstance(m, L.Conv2d):
        return tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                          bias=m.bias is not None, groups=m.groups)
    if isinstance(m, (L.BatchNorm1d, L.BatchNorm2d)):
        cls = tnn.BatchNorm1d if isinstance(m, L.BatchNorm1d) else tnn.BatchNorm2d
        return cls(m.num_features, m.eps, m.momentum)
    if isinstance(m, L.AvgPool2d):
        return tnn.AvgPool2d(m.kernel_size, m.stride, m.padding)
    if isinstance(m, L.MaxPool2d):
        return tnn.MaxPool2d(m.kernel_size, m.stride, m.padding)
    if isinstance(m, L.Dropout):
        return tnn.Dropout(m.p)
    if isinstance(m, L.GlobalAvgPool2d):
        return tnn.Sequential(tnn.AdaptiveAvgPool2d(1), tnn.Flatten())
    simple = {L.ReLU: tnn.ReLU, L.Tanh: tnn.Tanh, L.Sigmoid: tnn.Sigmoid, L.Flatten: tnn.Flatten}
    if type(m) not in simple:
        raise TypeError(f"to_torch: no PyTorch twin for {type(m).__name__}")
    return simple[type(m)]()


_RESIDUAL = {}


def _residual_class(tnn):
    """``body(x) + shortcut(x)`` as a torch module (made once, when torch is first needed)."""
    if "class" not in _RESIDUAL:
        class TorchResidual(tnn.Module):
            def __init__(self, body, shortcut=None):
                super().__init__()
                self.body = body
                if shortcut is not None:
                    self.shortcut = shortcut

            def forward(self, x):
                skip = self.shortcut(x) if hasattr(self, "shortcut") else x
                return self.body(x) + skip

        _RESIDUAL["class"] = TorchResidual
    return _RESIDUAL["class"]
