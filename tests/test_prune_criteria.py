"""Each criterion against an independent computation on a tiny network."""
import numpy as np
import pytest
from helpers import loss_of, tiny_network

from minprune import nn, prune
from minprune.autograd.gradcheck import numerical_grad
from minprune.prune.criteria import fisher_diagonal

tiny, loss = tiny_network, loss_of


def test_sensitivity_is_the_brute_force_loss_change(rng):
    model, data = tiny(rng)
    base = loss(model, data)
    s = prune.scores(model, "sensitivity", "weight", data)
    w = model[0].weight.data
    expected = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        w[idx] = 0
        expected[idx] = loss(model, data) - base
        w[idx] = old
    np.testing.assert_allclose(s.values["0"], expected, atol=1e-12)
    s = prune.scores(model, "sensitivity", "unit", data)
    for k in range(4):                               # zero unit k: row, bias and next column
        saved = (w[k].copy(), model[0].bias.data[k], model[2].weight.data[:, k].copy())
        w[k], model[0].bias.data[k], model[2].weight.data[:, k] = 0, 0, 0
        assert s.values["0"][k] == pytest.approx(loss(model, data) - base, abs=1e-12)
        w[k], model[0].bias.data[k], model[2].weight.data[:, k] = saved


def numeric_gradients(model, data):
    grads = {}
    for name, p in model.named_parameters():
        grads[name] = numerical_grad(lambda: loss(model, data), p.data, eps=1e-6)
    return grads


@pytest.mark.parametrize("granularity", ["weight", "unit"])
def test_taylor_is_the_squared_first_order_change_summed_over_batches(granularity, rng):
    """Molchanov et al. 2019: per minibatch, (Σ_group w·g)² with g that batch's gradient."""
    model, data = tiny(rng, nn.Tanh)
    s = prune.scores(model, "taylor", granularity, data, batch_size=5)   # batches 5, 5, 2
    W0, b0, W2 = model[0].weight.data, model[0].bias.data, model[2].weight.data
    expected = {"0": 0.0, "2": 0.0}
    for start in range(0, 12, 5):
        g = numeric_gradients(model, (data[0][start:start + 5], data[1][start:start + 5]))
        if granularity == "weight":
            expected["0"] = expected["0"] + (W0 * g["0.weight"]) ** 2
            expected["2"] = expected["2"] + (W2 * g["2.weight"]) ** 2
        else:
            expected["0"] = expected["0"] + ((W0 * g["0.weight"]).sum(1) + b0 * g["0.bias"]
                                             + (W2 * g["2.weight"]).sum(0)) ** 2
    for name in s.values:
        np.testing.assert_allclose(s.values[name], expected[name], rtol=1e-5, atol=1e-14)


def test_snip_uses_one_batch(rng):
    model, data = tiny(rng)
    first = (data[0][:4], data[1][:4])
    g = numeric_gradients(model, first)
    s = prune.scores(model, "snip", "weight", data, batch_size=4)
    np.testing.assert_allclose(s.values["0"], np.abs(model[0].weight.data * g["0.weight"]),
                               rtol=1e-6)


def test_obd_fisher_is_the_per_example_closed_form(rng):
    layer = nn.Linear(5, 3, rng=rng, dtype=np.float64)
    model = nn.Sequential(layer)
    X = rng.standard_normal((9, 5))
    y = rng.integers(0, 3, 9)
    z = X @ layer.weight.data.T + layer.bias.data
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = p - np.eye(3)[y]                           # dℓ_n/dz_n for softmax cross-entropy
    per_example = err[:, :, None] * X[:, None, :]    # dℓ_n/dW = e_n x_nᵀ
    fisher = fisher_diagonal(model, (X, y))
    np.testing.assert_allclose(fisher["0.weight"], (per_example ** 2).mean(0), rtol=1e-10)
    np.testing.assert_allclose(fisher["0.bias"], (err ** 2).mean(0), rtol=1e-10)
    s = prune.scores(model, "obd", "weight", (X, y))
    np.testing.assert_allclose(s.values["0"], 0.5 * (per_example ** 2).mean(0)
                               * layer.weight.data ** 2, rtol=1e-10)


def test_apoz_counts_active_outputs(rng):
    model, data = tiny(rng)
    h = np.maximum(data[0] @ model[0].weight.data.T + model[0].bias.data, 0)
    s = prune.scores(model, "apoz", "unit", data)
    np.testing.assert_allclose(s.values["0"], (h > 0).mean(0))


def test_apoz_needs_relu_and_groups(rng):
    model, data = tiny(rng, nn.Tanh)
    with pytest.raises(ValueError, match="ReLU"):
        prune.scores(model, "apoz", "unit", data)
    with pytest.raises(ValueError, match="unit"):
        prune.scores(tiny(rng)[0], "apoz", "weight", data)


def test_random_is_seeded(rng):
    model, _ = tiny(rng)
    a = prune.scores(model, "random", "weight", rng=3).values["0"]
    b = prune.scores(model, "random", "weight", rng=3).values["0"]
    assert np.array_equal(a, b)


def test_weight_sensitivity_refuses_big_layers():
    from minprune import models
    X = np.zeros((2, 784), np.float32)
    with pytest.raises(ValueError, match="taylor"):
        prune.scores(models.lenet_300_100(rng=0), "sensitivity", "weight", (X, np.zeros(2, int)))


def test_data_criteria_leave_the_model_as_it_was(rng):
    model, data = tiny(rng)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    model.train()
    for c in ("taylor", "snip", "obd", "sensitivity", "apoz"):
        prune.scores(model, c, "unit", data)
    assert model.training
    for k, v in model.state_dict().items():
        assert np.array_equal(v, before[k])
        assert all(p.grad is None for p in model.parameters())
