"""Mask-awareness: a pruned entry stays exactly 0.0 through every optimizer."""
import numpy as np
import pytest

from minprune import Tensor, models
from minprune import functional as F
from minprune.nn import optim

SETTINGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("cls, kwargs", SETTINGS)
def test_masked_entries_stay_exactly_zero(cls, kwargs, rng):
    model = models.mlp([5, 16, 3], rng=rng)
    opt = cls(model.parameters(), **kwargs)
    x, y = rng.standard_normal((32, 5)), rng.integers(0, 3, 32)
    for step in range(12):
        if step == 4:                               # prune after momentum/Adam state exists
            for p in model.parameters():
                p.mask = rng.random(p.shape) > 0.5
                p.data *= p.mask
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
        if step >= 4:
            for p in model.parameters():
                assert np.all(p.data[~p.mask] == 0.0)
                assert np.all(p.grad[~p.mask] == 0.0)
    for p, state in zip(opt.params, opt.state):
        for buf in state.values():
            if isinstance(buf, np.ndarray) and buf.shape == p.shape:
                assert np.all(buf[~p.mask] == 0.0)
    unpruned = [p.data[p.mask] for p in model.parameters()]
    assert all(np.count_nonzero(u) == u.size for u in unpruned)   # the rest still trains


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), "lr"), (dict(lr=0.1, momentum=-1), "momentum"),
    (dict(lr=0.1, nesterov=True), "nesterov")])
def test_sgd_rejects_bad_settings(kwargs, match, rng):
    with pytest.raises(ValueError, match=match):
        optim.SGD(models.mlp([2, 2], rng=rng).parameters(), **kwargs)


def test_empty_parameter_list():
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
