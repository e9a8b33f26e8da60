"""Layers: Linear, Conv2d (grouped and depthwise too), pooling, BatchNorm, Dropout,
activations, Flatten.

Weights use PyTorch's layouts and default initialisation, and every layer with weights reads
them through ``masked`` so pruning acts where the computation happens.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import functional as F
from ..autograd import ops
from ..autograd.grouped import check_groups
from ..checks import integer
from .init import as_rng, kaiming_uniform, uniform
from .module import Module, Parameter, masked


def _check_positive(name, value, layer):
    integer(f"{layer}: {name}", value, 1)


class Linear(Module):
    """``y = x Wᵀ + b``; weight of shape (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True, *, rng=None, dtype=np.float32):
        _check_positive("in_features", in_features, "Linear")
        _check_positive("out_features", out_features, "Linear")
        rng = as_rng(rng)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(kaiming_uniform((out_features, in_features), in_features, rng,
                                                dtype=dtype))
        self.bias = (Parameter(uniform((out_features,), 1 / math.sqrt(in_features), rng, dtype))
                     if bias else None)

    def forward(self, x):
        return F.linear(x, masked(self.weight), masked(self.bias))

    def config(self):
        return dict(in_features=self.in_features, out_features=self.out_features,
                    bias=self.bias is not None, dtype=self.weight.dtype.name)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution; weight of shape (out_channels, in_channels / groups, k, k), input NCHW.
    ``groups`` splits the channels into independent convolutions (depthwise: ``groups`` =
    ``in_channels``)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 groups=1, rng=None, dtype=np.float32):
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                            ("kernel_size", kernel_size), ("stride", stride)):
            _check_positive(name, value, "Conv2d")
        self.groups = check_groups(groups, in_channels, out_channels)
        rng = as_rng(rng)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels // groups * kernel_size * kernel_size
        shape = (out_channels, in_channels // groups, kernel_size, kernel_size)
        self.weight = Parameter(kaiming_uniform(shape, fan_in, rng, dtype=dtype))
        self.bias = (Parameter(uniform((out_channels,), 1 / math.sqrt(fan_in), rng, dtype))
                     if bias else None)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d expects input of shape (N, {self.in_channels}, H, W), "
                             f"got {x.shape}")
        if self.groups != 1:
            return F.conv2d_grouped(x, masked(self.weight), masked(self.bias), self.stride,
                                    self.padding, self.groups)
        return F.conv2d(x, masked(self.weight), masked(self.bias), self.stride, self.padding)

    def config(self):
        return dict(in_channels=self.in_channels, out_channels=self.out_channels,
                    kernel_size=self.kernel_size, stride=self.stride, padding=self.padding,
                    bias=self.bias is not None, dtype=self.weight.dtype.name,
                    **({"groups": self.groups} if self.groups != 1 else {}))

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}"
                + (f", groups={self.groups}" if self.groups != 1 else ""))


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def config(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """(N, C, H, W) -> (N, C): the mean of each channel over its positions."""

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError(f"GlobalAvgPool2d expects input of shape (N, C, H, W), got {x.shape}")
        return x.mean(axis=(2, 3))


class _BatchNorm(Module):
    expected_ndim = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, *, dtype=np.float32):
        _check_positive("num_features", num_features, type(self).__name__)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(np.ones(num_features, dtype=dtype))
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    def forward(self, x, relu=False):
        if x.ndim not in self.expected_ndim or x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.num_features}) got input of shape "
                             f"{x.shape}")
        if self.training:
            self.num_batches_tracked += 1
        return F.batch_norm(x, self.running_mean, self.running_var, masked(self.weight),
                            masked(self.bias), self.training, self.momentum, self.eps,
                            relu=relu)

    def fused(self, after):
        """In training, a ReLU after it runs in its passes (``Sequential``)."""
        if self.training and type(after) is ReLU:
            return lambda x: self.forward(x, relu=True)
        return None

    def config(self):
        return dict(num_features=self.num_features, eps=self.eps, momentum=self.momentum,
                    dtype=self.weight.dtype.name)

    def extra_repr(self):
        return f"{self.num_features}"


class BatchNorm1d(_BatchNorm):
    """Normalises (N, C) or (N, C, L) inputs per feature C."""
    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Normalises (N, C, H, W) inputs per channel C."""
    expected_ndim = (4,)


class Dropout(Module):
    """Inverted dropout in training; identity in evaluation. Randomness from ``rng``."""

    def __init__(self, p=0.5, *, rng=None):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p, self.rng = p, as_rng(rng)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def config(self):
        return dict(p=self.p)

    def extra_repr(self):
        return f"p={self.p}"


class ReLU(Module):
    def forward(self, x):
        return ops.relu(x)


class Tanh(Module):
    def forward(self, x):
        return ops.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return ops.sigmoid(x)


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1·d2·...); an (N, d) input passes unchanged."""

    def forward(self, x):
        # the width spelled out: -1 cannot be inferred for an empty batch
        return x if x.ndim == 2 else x.reshape(x.shape[0], math.prod(x.shape[1:]))


WEIGHTED = (Linear, Conv2d)


def is_weighted(module):
    """Whether ``module`` is a layer with a prunable weight matrix (Linear or Conv2d)."""
    return isinstance(module, WEIGHTED)
