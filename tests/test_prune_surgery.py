"""compact(): the pruned units and filters deleted for real, outputs unchanged."""
import numpy as np
import pytest
from helpers import CASES, delete_by_hand, randomise_batchnorm

from minprune import Tensor, models, nn, prune


def n_params(model):
    return sum(p.size for p in model.parameters())


@pytest.mark.parametrize("name, build, granularity", CASES, ids=[c[0] for c in CASES])
def test_compact_equals_the_masked_model_and_the_hand_deleted_one(name, build, granularity,
                                                                   rng):
    model = build(rng)
    randomise_batchnorm(model, rng)
    prune.prune(model, 0.5, "magnitude", granularity, "global")
    before = {k: v.copy() for k, v in model.state_dict().items()}
    small = prune.compact(model)
    for k, v in model.state_dict().items():                 # the input is not changed
        np.testing.assert_array_equal(v, before[k])
    by_hand = delete_by_hand(model, granularity)
    assert [tuple(p.shape) for p in small.parameters()] == \
        [tuple(p.shape) for p in by_hand.parameters()]
    for a, b in zip(small.parameters(), by_hand.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    assert n_params(small) < n_params(model)
    x = Tensor(rng.random((4, 1, 28, 28), dtype=np.float32))
    model.eval(), small.eval()
    np.testing.assert_allclose(small(x).data, model(x).data, atol=1e-5)
    assert prune.summary(small)[-1]["flops"] == prune.summary(model)[-1]["effective_flops"]


def test_sizes_follow_the_pruned_counts():
    model = models.lenet5(rng=0)
    prune.prune(model, 0.5, "magnitude", "filter", "local")
    small = prune.compact(model)
    assert (small[0].out_channels, small[3].in_channels, small[3].out_channels) == (10, 10, 25)
    assert small[7].in_features == 25 * 16 and small[7].weight.shape == (500, 400)
    assert small[0].weight.shape == (10, 1, 5, 5) and small[3].weight.shape == (25, 10, 5, 5)


def test_weight_masks_inside_kept_units_are_kept(rng):
    model = models.lenet_300_100(rng=0)
    prune.prune(model, 0.5, "magnitude", "unit", "local")
    prune.prune(model, 0.8, "magnitude", "weight", "global")
    small = prune.compact(model)
    assert small[1].weight.shape == (150, 784) and small[3].weight.shape == (50, 150)
    assert small[1].weight.mask is not None and not small[1].weight.mask.all()
    assert np.all(small[1].weight.data[~small[1].weight.mask] == 0)
    x = Tensor(rng.random((3, 784), dtype=np.float32))
    np.testing.assert_allclose(small(x).data, model(x).data, atol=1e-5)
    opt = nn.optim.SGD(small.parameters(), lr=0.1)            # and they keep acting
    nn.fit(small, rng.random((16, 784), dtype=np.float32), np.arange(16) % 10, epochs=1,
           optimizer=opt, progress=False, rng=0)
    assert np.all(small[1].weight.data[~small[1].weight.mask] == 0)


def test_batchnorm_statistics_follow_their_channels(rng):
    model = models.small_vgg(rng=0)
    randomise_batchnorm(model, rng)
    prune.prune(model, 0.5, "magnitude", "filter", "global")
    small = prune.compact(model)
    for m in small:
        if isinstance(m, nn.BatchNorm2d):
            assert m.num_features == len(m.running_mean) == len(m.running_var) == m.weight.size


def test_an_unpruned_model_comes_back_the_same_size():
    model = models.lenet5(rng=0)
    small = prune.compact(model)
    assert [p.shape for p in small.parameters()] == [p.shape for p in model.parameters()]
    assert small is not model


def test_a_layer_whose_units_are_all_dead_keeps_one(rng):
    model = models.mlp([20, 8, 3], rng=0)
    model[3].weight.data[:] = 0                           # nothing reaches the output layer
    small = prune.compact(model)
    assert small[1].weight.shape == (1, 20) and small[3].weight.shape == (3, 1)
    x = Tensor(rng.random((2, 20), dtype=np.float32))
    np.testing.assert_allclose(small(x).data, model(x).data)


def test_compact_refuses_what_it_cannot_read():
    with pytest.raises(TypeError, match="Sequential"):
        prune.compact(nn.Linear(3, 2))
