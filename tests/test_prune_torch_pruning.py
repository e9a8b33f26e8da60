"""Scores and pruned channels against Torch-Pruning (DepGraph), the oracle for structured
criteria. Each comparison states the normalisation that makes the two equal:

- MagnitudeImportance(p, group_reduction="first", normalizer=None) sums |w|^p over a filter's
  weights: minprune's "magnitude" is its L_p norm, so theirs = ours ** p.
- BNScaleImportance(normalizer=None) is |gamma|: equal to "bn_scale".
- LAMPImportance() (mean over the group's weight tensors, LAMP-normalised): equal to "lamp".
- FPGMImportance(p=1, group_reduction="first", normalizer=None) measures distances between
  |w| rows, the paper between w rows: equal to "fpgm" on non-negative weights.
- TaylorImportance(group_reduction="sum", normalizer=None, bias=True) sums |w*dL/dw| over a
  group after one backward pass: equal to "snip" on one batch. (It leaves BatchNorm out of the
  group, so the comparison runs on LeNet-5, which has none.)
"""
import numpy as np
import pytest
from helpers import distinct, require

from minprune import models, prune
from minprune.nn.interop import to_torch


@pytest.fixture(scope="module")
def tp():
    require("torch")
    return require("torch_pruning")


BUILD = {"lenet5": lambda **kw: distinct(models.lenet5(rng=0), **kw),
         "small_vgg": lambda **kw: distinct(models.small_vgg(rng=0), seed=1, **kw)}


def their_scores(tp, model, importance, before_backward=None):
    """{layer name: Torch-Pruning's score of each filter} for the twin of ``model``."""
    import torch
    twin = to_torch(model, dtype=torch.float64).eval()
    graph = tp.DependencyGraph().build_dependency(twin,
                                                  example_inputs=torch.ones(1, 1, 28, 28,
                                                                            dtype=torch.float64))
    if before_backward is not None:
        before_backward(twin)
    out = {}
    for group in graph.get_all_groups(root_module_types=[torch.nn.Conv2d]):
        root = group[0].dep.target.module
        index = next(i for i, m in enumerate(twin) if m is root)
        out[str(index)] = importance(group).double().numpy()
    return out


@pytest.mark.parametrize("name", list(BUILD))
@pytest.mark.parametrize("p", [1, 2])
def test_magnitude(tp, name, p):
    model = BUILD[name]()
    ours = prune.scores(model, "magnitude", "filter", p=p).values
    theirs = their_scores(tp, model, tp.importance.MagnitudeImportance(
        p=p, group_reduction="first", normalizer=None))
    assert set(theirs) == set(ours)
    for layer in ours:
        np.testing.assert_allclose(ours[layer] ** p, theirs[layer], rtol=1e-6)


def test_bn_scale(tp):
    model = BUILD["small_vgg"]()
    ours = prune.scores(model, "bn_scale", "filter").values
    theirs = their_scores(tp, model, tp.importance.BNScaleImportance(normalizer=None))
    for layer in ours:
        np.testing.assert_allclose(ours[layer], theirs[layer], rtol=1e-6)


@pytest.mark.parametrize("name", list(BUILD))
def test_lamp(tp, name):
    model = BUILD[name]()
    ours = prune.scores(model, "lamp", "filter").values
    theirs = their_scores(tp, model, tp.importance.LAMPImportance())
    for layer in ours:                   # Torch-Pruning divides in float32, minprune in float64
        np.testing.assert_allclose(ours[layer], theirs[layer], rtol=1e-5)


@pytest.mark.parametrize("name", list(BUILD))
def test_fpgm_on_non_negative_weights(tp, name):
    model = BUILD[name](positive=True)
    ours = prune.scores(model, "fpgm", "filter").values
    theirs = their_scores(tp, model, tp.importance.FPGMImportance(
        p=1, group_reduction="first", normalizer=None))
    for layer in ours:
        np.testing.assert_allclose(ours[layer], theirs[layer], rtol=1e-6)


def test_taylor_importance_is_snip_on_one_batch(tp):
    import torch
    model = BUILD["lenet5"]()
    rng = np.random.default_rng(0)
    X = rng.random((16, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 16)
    ours = prune.scores(model, "snip", "filter", (X, y), batch_size=16).values

    def backward(twin):
        loss = torch.nn.functional.cross_entropy(twin(torch.tensor(X, dtype=torch.float64)),
                                                 torch.tensor(y))
        loss.backward()
    theirs = their_scores(tp, model, tp.importance.TaylorImportance(
        group_reduction="sum", normalizer=None, bias=True), before_backward=backward)
    for layer in ours:
        np.testing.assert_allclose(ours[layer], theirs[layer], rtol=1e-5)


@pytest.mark.parametrize("name", list(BUILD))
def test_meta_pruner_removes_the_same_filters_as_compact(tp, name):
    import torch
    model = BUILD[name]()
    twin = to_torch(model).eval()
    linear = [m for m in twin if isinstance(m, torch.nn.Linear)]
    pruner = tp.pruner.MetaPruner(
        twin, torch.ones(1, 1, 28, 28),
        importance=tp.importance.MagnitudeImportance(p=1, group_reduction="first",
                                                      normalizer=None),
        pruning_ratio=0.5, global_pruning=False, ignored_layers=linear)
    pruner.step()
    prune.prune(model, 0.5, "magnitude", "filter", "local", p=1)
    small = prune.compact(model).eval()
    ours = {n: p for n, p in small.state_dict().items()}
    theirs = {n: t.detach().numpy() for n, t in twin.state_dict().items()
              if n in ours}
    assert set(theirs) == {n for n in ours}
    for n in ours:
        np.testing.assert_array_equal(ours[n], theirs[n], err_msg=n)
    x = np.random.default_rng(2).random((4, 1, 28, 28), dtype=np.float32)
    with torch.no_grad():
        # float32 sums over hundreds of products of O(1) terms: agree to 1e-4 relative
        np.testing.assert_allclose(small(x).data, twin(torch.tensor(x)).numpy(), rtol=1e-4,
                                   atol=1e-4)
