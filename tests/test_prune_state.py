"""Masks as model state: get/set_masks, snapshot/restore, and a load_state_dict that loads
what it is given."""
import numpy as np
import pytest

from minprune import models, prune
from minprune.nn import BatchNorm1d, Flatten, Linear, ReLU, Sequential


def bn_mlp(rng=0):
    return Sequential(Flatten(), Linear(12, 8, rng=rng), BatchNorm1d(8), ReLU(),
                      Linear(8, 3, rng=rng))


def test_get_and_set_masks_round_trip(rng):
    model = bn_mlp()
    prune.prune(model, 0.5, "magnitude", "weight", "local")
    masks = prune.get_masks(model)
    assert set(masks) == {n for n, _ in model.named_parameters()}
    assert masks["1.weight"] is not None and masks["1.bias"] is None
    masks["1.weight"][0, 0] = not masks["1.weight"][0, 0]         # a copy: the model keeps its own
    assert model[1].weight.mask[0, 0] != masks["1.weight"][0, 0]
    other = bn_mlp(rng=1)
    prune.set_masks(other, prune.get_masks(model))
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        if p.mask is None:
            assert q.mask is None
        else:
            np.testing.assert_array_equal(p.mask, q.mask)
            assert np.all(q.data[~q.mask] == 0), name              # set_masks zeroes the pruned


def test_set_masks_refuses_wrong_names_and_shapes():
    model = bn_mlp()
    masks = prune.get_masks(model)
    with pytest.raises(KeyError, match="missing names"):
        prune.set_masks(model, {k: v for k, v in masks.items() if k != "1.weight"})
    masks["1.weight"] = np.ones((2, 2), dtype=bool)
    with pytest.raises(ValueError, match=r"'1.weight' has shape \(2, 2\)"):
        prune.set_masks(model, masks)


def test_snapshot_restore_brings_back_weights_masks_and_statistics(rng):
    model = bn_mlp()
    x = rng.standard_normal((16, 12)).astype(np.float32)
    model(x)                                     # training mode: running statistics move
    prune.prune(model, 0.3, "magnitude", "unit", "global")
    saved = prune.snapshot(model)
    out = model.eval()(x).data.copy()
    prune.prune(model, 0.7, "magnitude", "weight", "global")     # change all three
    model.train()(x)
    for p in model.parameters():
        p.data = p.data + 1
    prune.restore(model, saved)
    np.testing.assert_array_equal(model.eval()(x).data, out)
    for name, mask in saved.masks.items():
        got = dict(model.named_parameters())[name].mask
        assert (got is None) == (mask is None)
        if mask is not None:
            np.testing.assert_array_equal(got, mask)
    np.testing.assert_array_equal(model[2].running_mean, saved.state["2.running_mean"])


def test_load_state_dict_loads_what_it_is_given():
    model = models.lenet_300_100(rng=0)
    dense = model.state_dict()
    prune.prune(model, 0.9, "magnitude", "weight", "global")
    model.load_state_dict(dense)                 # the masks stay, the weights are as given
    np.testing.assert_array_equal(model[1].weight.data, dense["1.weight"])
    assert model[1].weight.mask is not None
