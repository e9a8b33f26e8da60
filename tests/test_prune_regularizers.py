"""Train-time sparsity: the penalties' values and gradients, L0 gates, folding them away."""
import math

import numpy as np
import pytest

from minprune import Tensor, models, nn, prune
from minprune.autograd.gradcheck import check_grad
from minprune.prune import regularizers as R


def small_mlp(rng=0):
    return models.mlp([12, 16, 8, 3], rng=rng)


def test_l1_is_the_sum_of_absolute_weights_and_its_gradient_their_sign(rng):
    model = small_mlp()
    prune.prune(model, 0.5, "magnitude", "weight", "global")
    value = R.l1(model)
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    assert value.item() == pytest.approx(sum(np.abs(w.data).sum() for w in weights), rel=1e-5)
    value.backward()
    for w in weights:
        np.testing.assert_array_equal(w.grad, np.sign(w.data) * w.mask)


def test_group_lasso_sums_scaled_row_norms():
    model = small_mlp()
    expected = sum(math.sqrt(m.weight.shape[1]) * np.linalg.norm(m.weight.data, axis=1).sum()
                   for m in (model[1], model[3]))          # hidden layers only
    assert R.group_lasso(model, "unit").item() == pytest.approx(expected, rel=1e-5)
    conv = models.lenet5(rng=0)                             # filters of both Conv2d layers
    expected = sum(math.sqrt(m.weight.data[0].size) * np.linalg.norm(
        m.weight.data.reshape(m.weight.shape[0], -1), axis=1).sum() for m in (conv[0], conv[3]))
    assert R.group_lasso(conv, "filter").item() == pytest.approx(expected, rel=1e-5)


def test_group_lasso_gradient_matches_finite_differences(rng):
    w = rng.standard_normal((4, 5))
    w[1] = 0                                                # a dead row: gradient 0, not NaN

    def penalty(wt):
        return ((wt * wt).sum(axis=1) + 1e-12).sqrt().sum()
    check_grad(penalty, np.where(np.arange(4)[:, None] == 1, 0.0, w))
    model = small_mlp()
    model[1].weight.data[2] = 0
    R.group_lasso(model, "unit").backward()
    assert np.all(np.isfinite(model[1].weight.grad)) and not model[1].weight.grad[2].any()


def test_fit_adds_the_penalty_to_the_loss(rng):
    X = rng.standard_normal((8, 12)).astype(np.float32)
    y = np.arange(8) % 3
    plain, penalised = small_mlp(), small_mlp()
    for model, penalty in ((plain, None), (penalised, lambda m: 0.5 * R.l1(m))):
        nn.fit(model, X, y, epochs=1, batch_size=8, optimizer=nn.optim.SGD(
            model.parameters(), lr=0.1), rng=0, progress=False, penalty=penalty)
    start = small_mlp()
    for a, b, w0 in zip(plain.parameters(), penalised.parameters(), start.parameters()):
        extra = (0.1 * 0.5 * np.sign(w0.data)) if w0.ndim == 2 else 0
        np.testing.assert_allclose(b.data, a.data - extra, atol=1e-6)


def test_l0_gate_values_and_expected_l0(rng):
    gate = R.L0Gate(6, rng=0)
    x = Tensor(rng.standard_normal((5, 6)).astype(np.float32))
    gate.eval()
    z = gate.deterministic_gates()
    np.testing.assert_allclose(gate(x).data, x.data * z, rtol=1e-6)
    gate.train()
    for _ in range(20):
        g = gate.gates().data
        assert g.shape == (6,) and np.all((g >= 0) & (g <= 1))
    shift = (2 / 3) * math.log(0.1 / 1.1)
    expected = (1 / (1 + np.exp(-(gate.log_alpha.data - shift)))).sum()
    assert gate.expected_l0().item() == pytest.approx(expected, rel=1e-5)
    gate.expected_l0().backward()
    assert np.all(gate.log_alpha.grad > 0)
    images = Tensor(rng.standard_normal((2, 6, 3, 3)).astype(np.float32))
    gate.eval()
    np.testing.assert_allclose(gate(images).data, images.data * z[None, :, None, None],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="expects"):
        gate(Tensor(np.ones((2, 5), np.float32)))


def gated_mlp(rng=0):
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16, rng=rng), nn.ReLU(), R.L0Gate(16, rng=1),
                         nn.Linear(16, 8, rng=rng), nn.Tanh(), R.L0Gate(8, rng=2),
                         nn.Linear(8, 3, rng=rng))


def gated_cnn(rng=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, rng=rng), nn.ReLU(), R.L0Gate(4, rng=1),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 13 * 13, 5, rng=rng))


@pytest.mark.parametrize("build, shape", [(gated_mlp, (6, 12)), (gated_cnn, (3, 1, 28, 28))])
def test_fold_gates_then_compact_keeps_the_evaluation_function(build, shape, rng):
    model = build()
    gates = [m for m in model if isinstance(m, R.L0Gate)]
    for gate in gates:                                      # close some gates for good
        gate.log_alpha.data[::2] = -10.0
    model.eval()
    x = Tensor(rng.standard_normal(shape).astype(np.float32))
    folded = R.fold_gates(model)
    assert not any(isinstance(m, R.L0Gate) for m in folded)
    np.testing.assert_allclose(folded(x).data, model(x).data, atol=1e-5)
    small = prune.compact(folded)
    np.testing.assert_allclose(small(x).data, model(x).data, atol=1e-5)
    assert sum(p.size for p in small.parameters()) < sum(p.size for p in folded.parameters())


def test_training_with_the_l0_penalty_closes_gates(rng):
    X = rng.standard_normal((200, 12)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)                           # one useful input
    model = gated_mlp()
    nn.fit(model, X, y, epochs=30, batch_size=50, rng=0, progress=False,
           optimizer=nn.optim.Adam(model.parameters(), lr=0.05),
           penalty=lambda m: 0.05 * R.l0(m))
    gates = [m for m in model if isinstance(m, R.L0Gate)]
    closed = sum(int((g.deterministic_gates() == 0).sum()) for g in gates)
    assert closed > 0
    assert nn.evaluate(model, X, y)["accuracy"] > 0.8


def test_bad_gate_setups_are_refused():
    with pytest.raises(ValueError, match="no L0Gate"):
        R.l0(small_mlp())
    with pytest.raises(ValueError, match="positive integer"):
        R.L0Gate(0)
    bad = nn.Sequential(nn.Linear(4, 4, rng=0), R.L0Gate(4), nn.Sigmoid(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="stands between"):
        R.fold_gates(bad)
    with pytest.raises(ValueError, match="no Linear or Conv2d after it"):
        R.fold_gates(nn.Sequential(nn.Linear(4, 4, rng=0), R.L0Gate(4)))
