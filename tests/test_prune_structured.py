"""Structured masks compute exactly what a model with those units/filters deleted computes."""
import numpy as np
import pytest

from minprune import Tensor, models, nn, prune
from minprune.prune.groups import prunable_layers


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
