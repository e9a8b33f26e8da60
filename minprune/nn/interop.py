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


def from_torch(module):
    """The minprune model of a torch ``Sequential`` of the layers minprune has (Linear,
    Conv2d with groups, BatchNorm1d/2d, ReLU, Tanh, Sigmoid, MaxPool2d, AvgPool2d, Dropout,
    Flatten, ``AdaptiveAvgPool2d(1)`` then ``Flatten`` as a global pool, nested Sequentials,
    and blocks with ``body`` and ``shortcut`` as ``to_torch`` makes them), with a copy of its
    state dict. Anything else is refused naming the module."""
    model = _from_twin(module, "")
    state = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
    model.load_state_dict(state)
    for name, p in model.named_parameters():
        p.data = state[name]
    model.train(module.training)
    return model


def _from_twin(m, where):
    import torch
    tnn = torch.nn
    if isinstance(m, tnn.Sequential):
        kids = list(m)
        if len(kids) == 2 and isinstance(kids[0], tnn.AdaptiveAvgPool2d) \
                and kids[0].output_size in (1, (1, 1)) and isinstance(kids[1], tnn.Flatten):
            return L.GlobalAvgPool2d()
        return Sequential(*(_from_twin(k, f"{where}{i}.") for i, k in enumerate(kids)))
    if hasattr(m, "body") and isinstance(m.body, tnn.Sequential):
        shortcut = getattr(m, "shortcut", None)
        return Residual(_from_twin(m.body, f"{where}body."),
                        None if shortcut is None else _from_twin(shortcut, f"{where}shortcut."))
    dtype = next((p.detach().numpy().dtype for p in m.parameters()), np.float32)
    if isinstance(m, tnn.Linear):
        return L.Linear(m.in_features, m.out_features, bias=m.bias is not None, dtype=dtype)
    if isinstance(m, tnn.Conv2d):
        square = (len(set(m.kernel_size)) == 1 and len(set(m.stride)) == 1
                  and isinstance(m.padding, tuple) and len(set(m.padding)) == 1
                  and set(m.dilation) == {1} and m.padding_mode == "zeros")
        if not square:
            raise TypeError(f"from_torch: module {where[:-1] or '(root)'} (Conv2d) needs a "
                            f"square kernel, equal strides and padding, no dilation")
        return L.Conv2d(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0],
                        m.padding[0], bias=m.bias is not None, groups=m.groups, dtype=dtype)
    if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
        cls = L.BatchNorm1d if isinstance(m, tnn.BatchNorm1d) else L.BatchNorm2d
        return cls(m.num_features, m.eps, m.momentum, dtype=dtype)
    if isinstance(m, (tnn.MaxPool2d, tnn.AvgPool2d)):
        k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size,
                                                               m.stride or m.kernel_size,
                                                               m.padding))
        return (L.MaxPool2d if isinstance(m, tnn.MaxPool2d) else L.AvgPool2d)(k, s, p)
    if isinstance(m, tnn.Dropout):
        return L.Dropout(m.p)
    simple = {tnn.ReLU: L.ReLU, tnn.Tanh: L.Tanh, tnn.Sigmoid: L.Sigmoid, tnn.Flatten: L.Flatten}
    if type(m) in simple:
        return simple[type(m)]()
    raise TypeError(f"from_torch: module {where[:-1] or '(root)'} ({type(m).__name__}) has no "
                    f"minprune layer; supported: Linear, Conv2d, BatchNorm1d/2d, ReLU, Tanh, "
                    f"Sigmoid, MaxPool2d, AvgPool2d, Dropout, Flatten, Sequential and blocks "
                    f"with body and shortcut")
