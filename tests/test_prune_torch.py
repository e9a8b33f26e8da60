"""Masks identical to torch.nn.utils.prune (the oracle) on weights with distinct values."""
import numpy as np
import pytest
from helpers import require

from minprune import models, nn, prune
from minprune.nn.interop import to_torch


@pytest.fixture
def tprune():
    torch = require("torch")
    import torch.nn.utils.prune as tp
    return torch, tp


def distinct(model, seed=0):
    """Give every weight a distinct value (ties would make both libraries' choices arbitrary)."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data = (rng.permutation(p.size).reshape(p.shape) + 1.0).astype(np.float32) \
            * rng.choice([-1, 1], p.shape) / p.size
    return model


@pytest.mark.parametrize("amount", [0.1, 0.3, 0.5, 0.77, 0.9])
def test_l1_unstructured_is_local_weight_magnitude(tprune, amount):
    torch, tp = tprune
    model = distinct(models.mlp([20, 16, 12, 5], rng=0))
    tmodel = to_torch(model)
    prune.prune(model, amount, "magnitude", "weight", "local")
    for i, m in enumerate(model):
        if isinstance(m, nn.Linear):
            tp.l1_unstructured(tmodel[i], "weight", amount=amount)
            np.testing.assert_array_equal(m.weight.mask, tmodel[i].weight_mask.numpy() > 0)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("amount", [0.25, 0.5, 0.8])
def test_ln_structured_is_unit_magnitude(tprune, n, amount):
    torch, tp = tprune
    model = distinct(models.mlp([20, 16, 12, 5], rng=0), seed=1)
    tmodel = to_torch(model)
    prune.prune(model, amount, "magnitude", "unit", "local", p=n)
    for i in (1, 3):                                 # the hidden layers; the output keeps all
        tp.ln_structured(tmodel[i], "weight", amount=amount, n=n, dim=0)
        theirs = tmodel[i].weight_mask.numpy().all(axis=1)
        ours = model[i].weight.mask.any(axis=1)        # rows alive (columns may be masked)
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("n", [1, 2])
def test_ln_structured_is_filter_magnitude(tprune, n):
    torch, tp = tprune
    model = distinct(models.lenet5(rng=0), seed=2)
    tmodel = to_torch(model)
    prune.prune(model, 0.4, "magnitude", "filter", "local", p=n)
    for i in (0, 3):
        tp.ln_structured(tmodel[i], "weight", amount=0.4, n=n, dim=0)
        theirs = tmodel[i].weight_mask.numpy().reshape(tmodel[i].weight.shape[0], -1).all(1)
        np.testing.assert_array_equal(
            model[i].weight.mask.reshape(model[i].weight.shape[0], -1).any(1), theirs)


@pytest.mark.parametrize("amount", [0.2, 0.6, 0.95])
def test_global_unstructured_is_global_weight_magnitude(tprune, amount):
    torch, tp = tprune
    model = distinct(models.lenet5(rng=0), seed=3)
    tmodel = to_torch(model)
    prune.prune(model, amount, "magnitude", "weight", "global")
    targets = [(tmodel[i], "weight") for i, m in enumerate(model)
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    tp.global_unstructured(targets, pruning_method=tp.L1Unstructured, amount=amount)
    for (tm, _), m in zip(targets, [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]):
        np.testing.assert_array_equal(m.weight.mask, tm.weight_mask.numpy() > 0)


def test_iterative_composition(tprune):
    torch, tp = tprune
    model = distinct(models.mlp([16, 8, 4], rng=0), seed=4)   # 128 and 32 weights
    tmodel = to_torch(model)
    prune.prune(model, 0.5, "magnitude", "weight", "local")
    prune.prune(model, 0.75, "magnitude", "weight", "local")  # cumulative sparsity
    for i in (1, 3):
        tp.l1_unstructured(tmodel[i], "weight", amount=0.5)
        tp.l1_unstructured(tmodel[i], "weight", amount=0.5)   # half of what is left
        np.testing.assert_array_equal(model[i].weight.mask, tmodel[i].weight_mask.numpy() > 0)
