"""bn_scale, lamp, fpgm, synflow and both Taylor forms, each against an independent
computation: by hand on tiny layers, and with torch autograd on the ``to_torch`` twin."""
import numpy as np
import pytest
from helpers import require

from minprune import models, nn, prune
from minprune.nn.interop import to_torch
from minprune.prune import regularizers


def randomise(model, rng):
    """Random weights everywhere, BatchNorm statistics included, so nothing is symmetric."""
    for p in model.parameters():
        p.data = rng.standard_normal(p.shape).astype(p.dtype) * 0.3
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean = rng.standard_normal(m.num_features).astype(np.float32) * 0.1
            m.running_var = rng.uniform(0.5, 2.0, m.num_features).astype(np.float32)
    return model


def bn_mlp(rng=0):
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, 6, rng=rng), nn.ReLU(), nn.Linear(6, 3, rng=rng))


def data(rng, shape=(40, 12), classes=3):
    X = rng.standard_normal(shape).astype(np.float32)
    return X, rng.integers(0, classes, len(X))


# --- by hand ---------------------------------------------------------------------------------

def test_lamp_weight_score_is_the_formula(rng):
    model = models.mlp([5, 4, 3], rng=0)
    model[1].weight.data[0, :2] = 0.5                       # a tie: both count each other
    model[1].weight.data[1, 0] = -0.5
    s = prune.scores(model, "lamp", "weight").values["1"]
    w = model[1].weight.data.astype(np.float64).ravel()
    for u in range(w.size):
        expected = w[u] ** 2 / sum(w[v] ** 2 for v in range(w.size) if abs(w[v]) >= abs(w[u]))
        assert s.ravel()[u] == pytest.approx(expected, rel=1e-12)
    largest = np.abs(w) == np.abs(w).max()                  # the largest share 1 between them
    assert s.max() == pytest.approx(1 / largest.sum())


def test_fpgm_is_the_summed_distance_to_the_other_filters(rng):
    model = randomise(models.lenet5(rng=0), rng)
    s = prune.scores(model, "fpgm", "filter").values["3"]
    w = model[3].weight.data.astype(np.float64).reshape(50, -1)
    expected = [sum(np.linalg.norm(w[i] - w[j]) for j in range(50)) for i in range(50)]
    np.testing.assert_allclose(s, expected, rtol=1e-9)


def test_fpgm_keeps_a_large_filter_that_sits_at_the_median():
    model = models.mlp([3, 4, 2], rng=0)
    model[1].weight.data = np.array([[5, 5, 5], [4, 6, 5], [6, 4, 5], [0.1, 0.1, 0.1]],
                                    dtype=np.float32)
    s = prune.scores(model, "fpgm", "unit").values["1"]
    assert np.argmin(s) == 0 and np.argmin(prune.scores(model, "magnitude", "unit")
                                           .values["1"]) == 3


def test_bn_scale_and_its_penalty(rng):
    model = randomise(nn.Sequential(nn.Flatten(), nn.Linear(12, 8, rng=0), nn.BatchNorm1d(8),
                                    nn.ReLU(), nn.Linear(8, 3, rng=0)), rng)
    np.testing.assert_array_equal(prune.scores(model, "bn_scale", "unit").values["1"],
                                  np.abs(model[2].weight.data))
    assert regularizers.bn_l1(model).item() == pytest.approx(np.abs(model[2].weight.data).sum())
    model = randomise(bn_mlp(), rng)
    with pytest.raises(ValueError, match="layer 4 \\(Linear\\) has no BatchNorm after it"):
        prune.scores(model, "bn_scale", "unit")   # layer 4 is scored too, and has none
    with pytest.raises(ValueError, match="has no BatchNorm layer"):
        regularizers.bn_l1(models.mlp([3, 3, 2], rng=0))


def test_bn_scale_refused_without_batchnorm_names_the_layer():
    with pytest.raises(ValueError, match="layer 0 \\(Conv2d\\) has no BatchNorm after it"):
        prune.scores(models.lenet5(rng=0), "bn_scale", "filter")


def test_network_slimming_end_to_end(rng):
    model = models.small_vgg((4, 6, 8), rng=0)
    X = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    from minprune.nn import fit, optim
    fit(model, X, y, epochs=1, optimizer=optim.SGD(model.parameters(), lr=0.01), rng=0,
        penalty=lambda m: 1e-3 * regularizers.bn_l1(m), progress=False)
    prune.prune(model, 0.5, "bn_scale", "filter", "global")
    small = prune.compact(model)
    model.eval(), small.eval()
    np.testing.assert_allclose(small(X[:4]).data, model(X[:4]).data, atol=1e-5)
    assert sum(p.size for p in small.parameters()) < sum(p.size for p in model.parameters())


def test_synflow_prunes_in_rounds_to_the_exact_count():
    model = models.lenet_300_100(rng=0)
    result = prune.prune(model, 0.9, "synflow", "weight", "global", rounds=10)
    assert result.sparsity == pytest.approx(0.9, abs=1e-6)
    assert len({r["step"] for r in result.trace}) == 10
    once = models.lenet_300_100(rng=0)
    prune.prune(once, 0.9, "synflow", "weight", "global", rounds=1)
    assert any(not np.array_equal(a.mask, b.mask) for a, b in
               zip(model.parameters(), once.parameters()) if a.mask is not None)


def test_synflow_defaults_to_the_authors_100_rounds():
    model = models.mlp([6, 5, 3], rng=0)
    result = prune.prune(model, 0.5, "synflow", "weight", "global")
    assert len({r["step"] for r in result.trace}) == 100


@pytest.mark.parametrize("criterion, granularity", [
    ("lamp", "weight"), ("lamp", "unit"), ("fpgm", "unit"), ("synflow", "weight"),
    ("taylor", "unit"), ("taylor_2017", "unit"), ("bn_scale", "unit")])
@pytest.mark.parametrize("scope", ["local", "global"])
def test_every_new_criterion_prunes_in_both_scopes_and_schedules(rng, criterion, granularity,
                                                                 scope):
    model = randomise(nn.Sequential(nn.Flatten(), nn.Linear(12, 8, rng=0), nn.BatchNorm1d(8),
                                    nn.ReLU(), nn.Linear(8, 3, rng=0)), rng)
    X, y = data(rng)
    from minprune.nn import optim
    result = prune.schedules.iterative(
        model, X, y, 0.5, steps=2, epochs_per_step=1, criterion=criterion,
        granularity=granularity, scope=scope, data=(X, y), progress=False, rng=0,
        optimizer=lambda params: optim.SGD(params, lr=0.01))
    assert result.trace[-1]["criterion"] == criterion
    layer = model[1].weight
    kept = layer.mask.any(axis=1) if granularity == "unit" else layer.mask
    assert kept.mean() <= 0.5 + 1e-9 or scope == "global"


# --- torch autograd on the twin --------------------------------------------------------------

@pytest.fixture
def torch():
    return require("torch")


def test_synflow_against_torch_autograd(torch, rng):
    model = randomise(models.small_vgg((4, 6, 8), rng=0), rng)
    ours = prune.scores(model, "synflow", "weight").values
    twin = to_torch(model, dtype=torch.float64).eval()
    with torch.no_grad():
        for t in twin.state_dict().values():
            if t.is_floating_point():
                t.abs_()
    twin(torch.ones(1, 1, 28, 28, dtype=torch.float64)).sum().backward()
    for name, scores in ours.items():
        w = twin[int(name)].weight
        np.testing.assert_allclose(scores, (w * w.grad).abs().detach().numpy(), rtol=1e-9)


def test_taylor_2019_against_torch_autograd(torch, rng):
    model = randomise(bn_mlp(), rng)
    X, y = data(rng)
    ours = prune.scores(model, "taylor", "unit", (X, y), batch_size=16).values
    ours_w = prune.scores(model, "taylor", "weight", (X, y), batch_size=16).values
    twin = to_torch(model, dtype=torch.float64).eval()
    total = np.zeros(8)
    total_w = np.zeros((8, 12))
    for start in range(0, len(X), 16):
        twin.zero_grad()
        xb = torch.tensor(X[start:start + 16], dtype=torch.float64)
        torch.nn.functional.cross_entropy(twin(xb), torch.tensor(y[start:start + 16])).backward()
        # the unit's group: weight row and bias, BatchNorm scale and shift, next layer's column
        term = sum((p * p.grad).detach().numpy() for p in (twin[1].bias, twin[2].weight,
                                                           twin[2].bias))
        term = term + (twin[1].weight * twin[1].weight.grad).sum(1).detach().numpy()
        term = term + (twin[4].weight * twin[4].weight.grad).sum(0).detach().numpy()
        total += term ** 2
        total_w += ((twin[1].weight * twin[1].weight.grad) ** 2).detach().numpy()
    np.testing.assert_allclose(ours["1"], total, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(ours_w["1"], total_w, rtol=1e-5, atol=1e-14)


def test_taylor_2017_against_torch_autograd(torch, rng):
    model = randomise(models.small_vgg((4, 6, 8), rng=0), rng)
    X = rng.random((12, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 12)
    ours = prune.scores(model, "taylor_2017", "filter", (X, y), batch_size=5).values
    twin = to_torch(model, dtype=torch.float64).eval()
    captured = {}

    def keep(index):
        def hook(module, inputs):
            inputs[0].retain_grad()
            captured[index] = inputs[0]
        return hook
    consumers = {"0": 4, "4": 8, "8": 13}              # conv, conv, the Linear after Flatten
    for index in consumers.values():
        twin[index].register_forward_pre_hook(keep(index))
    scores = {name: np.zeros(twin[int(name)].out_channels) for name in consumers}
    for n in range(len(X)):                            # one example at a time: its own loss
        twin.zero_grad()
        out = twin(torch.tensor(X[n:n + 1], dtype=torch.float64))
        torch.nn.functional.cross_entropy(out, torch.tensor(y[n:n + 1])).backward()
        for name, index in consumers.items():
            a = captured[index]
            prod = (a * a.grad).detach().numpy().reshape(len(scores[name]), -1)
            scores[name] += np.abs(prod.mean(axis=1))
    for name in consumers:
        np.testing.assert_allclose(ours[name], scores[name] / len(X), rtol=1e-5, atol=1e-12)
