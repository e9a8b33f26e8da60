"""What several test modules share: the oracle loader, the structured-pruning cases, a tiny
float64 network for the criteria, distinct weights for the Torch-Pruning comparisons, random
residual architectures (hypothesis), and the tree-against-scikit-learn comparison."""
import importlib
import os

import numpy as np
import pytest
from hypothesis import strategies as st

from minprune import Tensor, models, nn
from minprune import functional as F
from minprune.prune.groups import prunable_layers


def run_python(code, timeout=120):
    """Run ``code`` in a fresh interpreter; fail the test with its stderr if it fails."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr


def require(module_name):
    """Import ``module_name`` (e.g. "torch") or skip the test; CI demands it instead."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if os.environ.get("MINPRUNE_REQUIRE_ORACLES") == "1":
            pytest.fail(f"oracle {module_name!r} is required (MINPRUNE_REQUIRE_ORACLES=1) but "
                        f"cannot be imported: {exc}")
        pytest.skip(f"oracle {module_name!r} is not installed")


def delete_by_hand(model, granularity):
    """A new, smaller Sequential: the pruned units/filters removed, written out layer by layer."""
    layers = list(model)
    alive_out = {}                                   # layer index -> kept output indices
    for g in prunable_layers(model, granularity):
        w = g.weight.data
        alive_out[int(g.name)] = np.flatnonzero(
            np.abs(w.reshape(w.shape[0], -1)).sum(axis=1) > 0)
    out, alive, block = [], None, 1
    for i, m in enumerate(layers):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            W = m.weight.data
            cols = np.arange(W.shape[1])
            if alive is not None:
                cols = (alive[:, None] * block + np.arange(block)).ravel()
            rows = alive_out.get(i, np.arange(W.shape[0]))
            if isinstance(m, nn.Linear):
                new = nn.Linear(len(cols), len(rows), rng=0)
            else:
                new = nn.Conv2d(len(cols), len(rows), m.kernel_size, m.stride, m.padding, rng=0)
            new.weight.data = W[rows][:, cols].copy()
            new.bias.data = m.bias.data[rows].copy()
            out.append(new)
            alive, block = (rows if i in alive_out else None), 1
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            keep = alive if alive is not None else np.arange(m.num_features)
            new = type(m)(len(keep))
            new.weight.data, new.bias.data = m.weight.data[keep], m.bias.data[keep]
            new.running_mean[:] = m.running_mean[keep]
            new.running_var[:] = m.running_var[keep]
            out.append(new)
        elif isinstance(m, nn.Flatten):
            out.append(m)
            if alive is not None:
                nxt = next(x for x in layers[i + 1:] if isinstance(x, nn.Linear))
                block = nxt.in_features // layers[max(alive_out)].weight.shape[0]
        else:
            out.append(m)
    return nn.Sequential(*out)


def randomise_batchnorm(model, rng):
    for m in model:
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data = rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)
            m.bias.data = rng.standard_normal(m.num_features).astype(np.float32)
            m.running_mean[:] = rng.standard_normal(m.num_features)
            m.running_var[:] = rng.uniform(0.5, 2, m.num_features)


CASES = [
    ("lenet_300_100", lambda r: models.lenet_300_100(rng=r), "unit"),
    ("mlp tanh", lambda r: models.mlp([784, 64, 32, 10], "tanh", rng=r), "unit"),
    ("mlp sigmoid", lambda r: models.mlp([784, 64, 32, 10], "sigmoid", rng=r), "unit"),
    ("mlp batchnorm", lambda r: nn.Sequential(nn.Flatten(), nn.Linear(784, 40, rng=r),
                                              nn.BatchNorm1d(40), nn.Sigmoid(),
                                              nn.Linear(40, 10, rng=r)), "unit"),
    ("lenet5", lambda r: models.lenet5(rng=r), "filter"),
    ("small_vgg", lambda r: models.small_vgg(rng=r), "filter"),
    ("conv tanh", lambda r: nn.Sequential(nn.Conv2d(1, 6, 3, rng=r), nn.Tanh(),
                                          nn.Conv2d(6, 8, 3, stride=2, rng=r), nn.Sigmoid(),
                                          nn.Flatten(), nn.Linear(8 * 12 * 12, 10, rng=r)),
     "filter"),
]


def assert_same_tree(ours, theirs):
    """A minprune tree against a scikit-learn one, array for array: structure exact, floats
    (values as class fractions, impurities, weighted sample counts) to 1e-12."""
    a, b = ours.tree_, theirs.tree_
    for name in ("children_left", "children_right", "feature", "n_node_samples", "threshold"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    value = a.value
    if hasattr(ours, "classes_"):                   # scikit-learn stores class fractions
        value = value / value.sum(axis=1, keepdims=True)
    scale = np.abs(b.value).max()
    np.testing.assert_allclose(value, b.value[:, 0, :], rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(a.impurity, b.impurity, rtol=1e-12,
                               atol=1e-12 * b.impurity.max())
    np.testing.assert_allclose(a.weighted_n_node_samples, b.weighted_n_node_samples,
                               rtol=1e-12)


def conv_side(size, convs, k, stride, pad, pool):
    """The side of a size x size image after ``convs`` k x k convolutions at ``stride`` and
    ``pad``, each followed by a pool x pool max pooling (1: none)."""
    for _ in range(convs):
        size = (size + 2 * pad - k) // stride + 1
        size //= pool
    return size


def tiny_network(rng, activation=nn.ReLU):
    """5-4-3 in float64, with 12 random samples of 3 classes: small enough for brute force."""
    model = nn.Sequential(nn.Linear(5, 4, rng=rng, dtype=np.float64), activation(),
                          nn.Linear(4, 3, rng=rng, dtype=np.float64))
    X = rng.standard_normal((12, 5))
    y = rng.integers(0, 3, 12)
    return model, (X, y)


def loss_of(model, data):
    return F.cross_entropy(model(Tensor(data[0])), data[1]).item()


def distinct(model, seed=0, positive=False):
    """Distinct weight magnitudes (no ties), random BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        values = (rng.permutation(p.size).reshape(p.shape) + 1.0) / p.size
        p.data = (values * (1 if positive else rng.choice([-1, 1], p.shape))).astype(np.float32)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean = rng.standard_normal(m.num_features).astype(np.float32) * 0.1
            m.running_var = rng.uniform(0.5, 2.0, m.num_features).astype(np.float32)
    return model


@st.composite
def architectures(draw):
    """A random residual network for 1x28x28 inputs: widths, shortcut kinds, where the
    pooling falls, depthwise blocks and a Flatten or a global pool at the end."""
    rng = draw(st.integers(0, 10_000))
    width = draw(st.integers(2, 5))
    layers = [nn.Conv2d(1, width, 3, 2, 1, rng=rng), nn.BatchNorm2d(width), nn.ReLU()]
    c, size = width, 14
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["identity", "projection", "depthwise", "plain"]))
        out = c if kind in ("identity", "depthwise") else draw(st.integers(2, 6))
        if kind == "depthwise":
            layers += [nn.Conv2d(c, c, 3, 1, 1, groups=c, rng=rng), nn.BatchNorm2d(c),
                       nn.ReLU()]
        elif kind == "plain":
            layers += [nn.Conv2d(c, out, 3, 1, 1, rng=rng), nn.ReLU()]
        else:
            body = nn.Sequential(nn.Conv2d(c, out, 3, 1, 1, rng=rng), nn.BatchNorm2d(out),
                                 nn.ReLU(), nn.Conv2d(out, out, 3, 1, 1, rng=rng),
                                 nn.BatchNorm2d(out))
            shortcut = (None if kind == "identity" else
                        nn.Sequential(nn.Conv2d(c, out, 1, rng=rng), nn.BatchNorm2d(out)))
            layers += [nn.Residual(body, shortcut), nn.ReLU()]
        c = out
        if size > 4 and draw(st.booleans()):
            layers.append(nn.MaxPool2d(2))
            size //= 2
    if draw(st.booleans()):
        layers += [nn.GlobalAvgPool2d(), nn.Linear(c, 10, rng=rng)]
    else:
        layers += [nn.Flatten(), nn.Linear(c * size * size, 7, rng=rng), nn.ReLU(),
                   nn.Linear(7, 10, rng=rng)]
    return nn.Sequential(*layers)
