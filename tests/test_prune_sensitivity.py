"""Layer-wise sensitivity: each layer pruned alone, the model left as it was, budgets read right."""
import numpy as np
import pytest

from minprune import models, nn, prune
from minprune.data import make_classification


@pytest.fixture(scope="module")
def trained():
    X, y = make_classification(600, 20, n_informative=8, n_redundant=4, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    model = models.mlp([20, 64, 32, 3], rng=0)
    nn.fit(model, X, y, epochs=8, optimizer=nn.optim.SGD(model.parameters(), lr=0.05,
                                                          momentum=0.9), rng=0, progress=False)
    return model, X, y


def test_each_measurement_prunes_one_layer_alone(trained):
    model, X, y = trained
    before = {k: v.copy() for k, v in model.state_dict().items()}
    result = prune.layer_sensitivity(model, X, y, sparsities=(0.5, 0.9))
    for k, v in model.state_dict().items():                 # nothing changed
        np.testing.assert_array_equal(v, before[k])
    assert all(p.mask is None for p in model.parameters())
    assert result.layers() == ["1", "3", "5"] and len(result) == 6
    assert result.baseline == nn.evaluate(model, X, y)
    for row in result:                                       # the same as doing it by hand
        copy = models.mlp([20, 64, 32, 3], rng=0)
        copy.load_state_dict(before)
        s = prune.scores(copy, "magnitude", "weight")
        layer = next(layer for layer in s.layers if layer.name == row["layer"])
        one = prune.Scores("magnitude", "weight", [layer], {layer.name: s.values[layer.name]})
        prune.apply(copy, prune.select(one, row["sparsity"], "local"))
        assert nn.evaluate(copy, X, y)["accuracy"] == row["accuracy"]
        assert row["drop"] == pytest.approx(result.baseline["accuracy"] - row["accuracy"])
    assert "unpruned" in str(result)


def test_existing_masks_are_restored(trained):
    model, X, y = trained
    work = models.mlp([20, 64, 32, 3], rng=0)
    work.load_state_dict(model.state_dict())
    prune.prune(work, 0.3, "magnitude", "weight", "global")
    masks = [None if p.mask is None else p.mask.copy() for p in work.parameters()]
    result = prune.layer_sensitivity(work, X, y, sparsities=(0.2, 0.8))
    for p, mask in zip(work.parameters(), masks):
        np.testing.assert_array_equal(p.mask, mask)
    assert all(r["sparsity"] in (0.2, 0.8) for r in result)


def test_budget_takes_the_highest_level_within_the_drop():
    rows = [{"layer": "1", "sparsity": s, "loss": 0, "accuracy": a, "drop": 0.9 - a}
            for s, a in ((0.5, 0.9), (0.75, 0.885), (0.9, 0.7))]
    rows += [{"layer": "3", "sparsity": s, "loss": 0, "accuracy": a, "drop": 0.9 - a}
             for s, a in ((0.5, 0.8), (0.75, 0.9))]
    result = prune.Sensitivity(rows, {"loss": 0, "accuracy": 0.9})
    assert result.budget(0.02) == {"1": 0.75, "3": 0.0}     # a bad level stops the layer
    assert result.budget(0.25) == {"1": 0.9, "3": 0.75}
    with pytest.raises(ValueError, match="max_drop"):
        result.budget(-1)


def test_prune_per_layer_reaches_each_level(trained):
    model, X, y = trained
    work = models.mlp([20, 64, 32, 3], rng=0)
    work.load_state_dict(model.state_dict())
    overall = prune.prune_per_layer(work, {"1": 0.5, "5": 0.9})
    table = prune.summary(work)
    sizes = [20 * 64, 64 * 32, 32 * 3]
    expected = [round(level * n) / n for level, n in zip((0.5, 0.0, 0.9), sizes)]
    assert [r["sparsity"] for r in table[:-1]] == pytest.approx(expected)
    assert overall == pytest.approx(table[-1]["sparsity"])
    with pytest.raises(ValueError, match="no 'weight' groups"):
        prune.prune_per_layer(work, {"2": 0.5})


def test_bad_levels_are_refused(trained):
    model, X, y = trained
    with pytest.raises(ValueError, match="sparsities must be a number in"):
        prune.layer_sensitivity(model, X, y, sparsities=(0.5, 1.0))
