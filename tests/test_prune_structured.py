"""Structured masks compute exactly what a model with those units/filters deleted computes."""
import numpy as np
import pytest
from helpers import CASES, delete_by_hand, randomise_batchnorm

from minprune import Tensor, models, nn, prune


@pytest.mark.parametrize("name, build, granularity", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("scope", ["local", "global"])
def test_masked_model_equals_the_smaller_model(name, build, granularity, scope, rng):
    model = build(rng)
    randomise_batchnorm(model, rng)
    prune.prune(model, 0.5, "magnitude", granularity, scope)
    small = delete_by_hand(model, granularity)
    assert sum(p.size for p in small.parameters()) < sum(p.size for p in model.parameters())
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    model.eval(), small.eval()
    np.testing.assert_allclose(small(Tensor(x)).data, model(Tensor(x)).data, atol=1e-5)


def test_filter_pruning_masks_the_flatten_block():
    model = models.lenet5(rng=0)
    prune.prune(model, 0.5, "magnitude", "filter", "local")
    dead = np.flatnonzero(~model[3].weight.mask.reshape(50, -1).any(axis=1))
    fc_mask = model[7].weight.mask                   # 800 inputs = 50 channels x 4 x 4
    for c in dead:
        assert not fc_mask[:, c * 16:(c + 1) * 16].any()
    assert fc_mask.any(axis=0).sum() == 16 * (50 - len(dead))


def test_effective_flops_equal_the_compacted_model():
    model = models.lenet5(rng=0)
    prune.prune(model, 0.6, "magnitude", "filter", "global")
    small = delete_by_hand(model, "filter")
    total = prune.summary(model)[-1]
    assert total["effective_flops"] == prune.summary(small)[-1]["flops"]
    assert total["flops"] == 2_293_000                # LeNet-5: 288k + 1.6M + 400k + 5k


def test_masks_survive_training(rng):
    X = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = np.arange(64) % 10
    for opt_cls, kw in ((nn.optim.SGD, dict(lr=0.05, momentum=0.9)),
                        (nn.optim.Adam, dict(lr=1e-3))):
        model = models.lenet5(rng=0)
        prune.prune(model, 0.5, "magnitude", "filter", "global")
        prune.prune(model, 0.8, "magnitude", "weight", "global")
        nn.fit(model, X, y, epochs=2, optimizer=opt_cls(model.parameters(), **kw),
               batch_size=16, rng=0, progress=False)
        for p in model.parameters():
            if p.mask is not None:
                assert np.all(p.data[~p.mask] == 0.0)
