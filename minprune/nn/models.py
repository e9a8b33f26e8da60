"""The reference architectures of the pruning literature, sized for 1x28x28 images."""
from __future__ import annotations

from .blocks import Residual
from .init import as_rng
from .layers import (BatchNorm2d, Conv2d, Flatten, GlobalAvgPool2d, Linear, MaxPool2d, ReLU,
                     Sigmoid, Tanh)
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


def _conv_bn(c_in, c_out, k, rng, stride=1, groups=1):
    """Conv kxk (no bias: the BatchNorm has one) and its BatchNorm."""
    return [Conv2d(c_in, c_out, k, stride, k // 2, bias=False, groups=groups, rng=rng),
            BatchNorm2d(c_out)]


def resnet(depth=8, width=16, *, rng=None):
    """He et al.'s CIFAR ResNet (2016, section 4.2) for 1x28x28 inputs: conv3x3-BN-ReLU, three
    stages of (depth - 2) / 6 basic blocks at ``width``, 2·width and 4·width channels (the
    second and third start with stride 2: 28 -> 14 -> 7), global average pooling, Linear to 10.
    A basic block is ``Residual(conv3x3-BN-ReLU-conv3x3-BN, shortcut)`` followed by ReLU; the
    shortcut is the identity, or conv1x1-BN where the shape changes. ``depth`` 8, 14, 20, ...
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"resnet: depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got "
                         f"{depth!r}")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"resnet: width must be a positive integer, got {width!r}")
    rng = as_rng(rng)
    layers = [*_conv_bn(1, width, 3, rng), ReLU()]
    c_in = width
    for stage in range(3):
        c_out = width * 2 ** stage
        for block in range((depth - 2) // 6):
            stride = 2 if stage > 0 and block == 0 else 1
            body = Sequential(*_conv_bn(c_in, c_out, 3, rng, stride), ReLU(),
                              *_conv_bn(c_out, c_out, 3, rng))
            shortcut = (Sequential(*_conv_bn(c_in, c_out, 1, rng, stride))
                        if stride != 1 or c_in != c_out else None)
            layers += [Residual(body, shortcut), ReLU()]
            c_in = c_out
    layers += [GlobalAvgPool2d(), Linear(c_in, 10, rng=rng)]
    return Sequential(*layers)


def mobilenet(width=16, *, rng=None):
    """A small MobileNet-style network for 1x28x28 inputs: conv3x3-BN-ReLU, two
    depthwise-separable blocks (depthwise conv3x3-BN-ReLU, pointwise conv1x1-BN-ReLU; the
    second with stride 2), one inverted residual (MobileNetV2: expand 1x1 x4, depthwise 3x3,
    project 1x1, no activation after, the identity shortcut), global average pooling, Linear
    to 10. Channels: width, 2·width, 4·width."""
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"mobilenet: width must be a positive integer, got {width!r}")
    rng = as_rng(rng)
    w1, w2, w4 = width, 2 * width, 4 * width
    layers = [*_conv_bn(1, w1, 3, rng), ReLU()]
    for c_in, c_out, stride in ((w1, w2, 1), (w2, w4, 2)):
        layers += [*_conv_bn(c_in, c_in, 3, rng, stride, groups=c_in), ReLU(),
                   *_conv_bn(c_in, c_out, 1, rng), ReLU()]
    hidden = 4 * w4
    body = Sequential(*_conv_bn(w4, hidden, 1, rng), ReLU(),
                      *_conv_bn(hidden, hidden, 3, rng, groups=hidden), ReLU(),
                      *_conv_bn(hidden, w4, 1, rng))
    layers += [Residual(body), GlobalAvgPool2d(), Linear(w4, 10, rng=rng)]
    return Sequential(*layers)


IMAGE_MODELS = {"lenet_300_100": lenet_300_100, "lenet5": lenet5, "small_vgg": small_vgg,
                "resnet8": lambda *, rng=None: resnet(8, rng=rng),
                "resnet20": lambda *, rng=None: resnet(20, rng=rng),
                "mobilenet": mobilenet}
"""The networks for 1x28x28 images by the name ``--model`` takes."""
