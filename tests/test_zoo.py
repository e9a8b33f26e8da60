"""The model shelf: trained once and deterministically, stored atomically, loaded afterwards."""
import dataclasses
import os

import numpy as np
import pytest

from minprune import nn, zoo


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """Small recipes and an empty cache folder of the test's own."""
    monkeypatch.setenv("MINPRUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(zoo, "RECIPES", {
        key: dataclasses.replace(r, n_train=500, n_val=100, n_test=100, epochs=1,
                                 subset=min(r.subset, 200)) for key, r in zoo.RECIPES.items()})
    return tmp_path


def weights(model):
    return [p.data.copy() for p in model.parameters()]


def test_trained_once_then_loaded(tiny, monkeypatch):
    lines = []
    first = zoo.trained("lenet_300_100", quick=True, log=lines.append)
    assert len(lines) == 1 and "training lenet_300_100" in lines[0]
    assert os.path.exists(zoo.path("lenet_300_100"))

    def no_training(*args, **kwargs):
        raise AssertionError("the shelf trained again instead of loading")
    monkeypatch.setattr(nn, "fit", no_training)
    again = zoo.trained("lenet_300_100", quick=True, log=lines.append)
    assert len(lines) == 1
    for a, b in zip(weights(first), weights(again)):
        np.testing.assert_array_equal(a, b)
    again.parameters()[0].data[:] = 0                       # a copy: the shelf is untouched
    assert np.any(weights(zoo.trained("lenet_300_100", quick=True))[0])


def test_deterministic_and_a_damaged_file_is_retrained(tiny, monkeypatch):
    first = weights(zoo.trained("lenet_300_100"))
    with open(zoo.path("lenet_300_100"), "wb") as f:
        f.write(b"not a model")
    second = weights(zoo.trained("lenet_300_100"))
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_splits_are_disjoint_and_names_are_checked(tiny):
    (X, y), (X_val, y_val), (X_test, y_test) = zoo.dataset(quick=True)
    assert (len(X), len(X_val), len(X_test)) == (400, 100, 100)
    seen = {x.tobytes() for x in X}
    assert not any(x.tobytes() in seen for x in X_val)
    with pytest.raises(ValueError, match="name must be one of lenet5, lenet_300_100, .*, got "
                                         "'vgg'"):
        zoo.trained("vgg")
    with pytest.raises(ValueError, match="data must be one of glyph-digits"):
        zoo.dataset("mnist")


def test_penalised_recipes_share_their_twin_budget():
    for (name, quick), r in zoo.RECIPES.items():
        if r.penalty:
            twin = zoo.RECIPES[(r.arch if r.arch in zoo.MODELS else "lenet_300_100", quick)]
            assert (r.n_train, r.n_val, r.epochs, r.subset) == \
                (twin.n_train, twin.n_val, twin.epochs, twin.subset), name
            assert r.penalty[0] in zoo.PENALTIES


def test_penalised_models_are_trained_with_their_penalty(tiny):
    from minprune.nn.gates import L0Gate
    from minprune.prune import regularizers
    plain, l1 = zoo.trained("lenet_300_100"), zoo.trained("lenet_300_100_l1")
    assert regularizers.l1(l1).item() < regularizers.l1(plain).item()   # same seed and data
    gated = zoo.trained("lenet_300_100_l0")
    assert sum(isinstance(m, L0Gate) for m in gated) == 2
    assert isinstance(zoo.trained("lenet_300_100_l0"), type(gated))    # loads back, gates too
    slim = zoo.trained("small_vgg_slim")
    assert regularizers.bn_l1(slim).item() < regularizers.bn_l1(zoo.trained("small_vgg")).item()
