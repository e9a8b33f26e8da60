"""The reference architectures of the pruning literature, sized for 1x28x28 images."""
from __future__ import annotations

from .init import as_rng
from .layers import BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sigmoid, Tanh
from .module import Sequential

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def mlp(sizes, activation="relu", *, rng=None):
    """Flatten, then Linear layers between consecutive ``sizes`` with ``activation`` between.

    ``mlp([784, 1024, 10])`` is Flatten, Linear(784, 1024), ReLU, Linear(1024, 10).
    """
    sizes = list(sizes)
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"mlp: sizes must be at least two positive integers, got {sizes}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"mlp: activation must be one of {sorted(_ACTIVATIONS)}, "
                         f"got {activation!r}")
    rng = as_rng(rng)
    layers = [Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return Sequential(*layers)


def lenet_300_100(*, rng=None):
    """LeNet-300-100 (LeCun et al. 1998): 784-300-100-10 with ReLU, 266,610 parameters."""
    return mlp([784, 300, 100, 10], rng=rng)


def lenet5(*, rng=None):
    """The Caffe LeNet-5 that Han et al. (2015) pruned, 431,080 parameters.

    conv 20@5x5, ReLU, max-pool 2, conv 50@5x5, ReLU, max-pool 2, fc 500, ReLU, fc 10.
    """
    rng = as_rng(rng)
    return Sequential(
        Conv2d(1, 20, 5, rng=rng), ReLU(), MaxPool2d(2),
        Conv2d(20, 50, 5, rng=rng), ReLU(), MaxPool2d(2),
        Flatten(), Linear(50 * 4 * 4, 500, rng=rng), ReLU(), Linear(500, 10, rng=rng))


def small_vgg(channels=(16, 32, 64), *, rng=None):
    """A VGG-style network for 1x28x28 inputs: per stage conv3x3-BN-ReLU, max-pool 2.

    With the default channels: 28 -> 14 -> 7 -> 3, then Linear(64·3·3, 10).
    """
    rng = as_rng(rng)
    layers, c_in, size = [], 1, 28
    for c in channels:
        layers += [Conv2d(c_in, c, 3, padding=1, rng=rng), BatchNorm2d(c), ReLU(), MaxPool2d(2)]
        c_in, size = c, size // 2
    layers += [Flatten(), Linear(c_in * size * size, 10, rng=rng)]
    return Sequential(*layers)
