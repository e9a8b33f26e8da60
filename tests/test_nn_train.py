"""The training loop: it learns, it is reproducible, it reports divergence, it calls back."""
import numpy as np
import pytest

from minprune import models
from minprune.nn import evaluate, fit, optim


def spirals(n, rng, noise=0.1):
    """Two interleaved spirals, ``n`` points each."""
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    X = np.concatenate([arm, -arm]) + noise / (3 * np.pi) * rng.standard_normal((2 * n, 2))
    return X.astype(np.float32), np.repeat([0, 1], n)


def test_mlp_learns_two_spirals():
    rng = np.random.default_rng(0)
    X, y = spirals(500, rng)
    Xt, yt = spirals(250, rng)
    model = models.mlp([2, 64, 64, 2], rng=rng)
    opt = optim.Adam(model.parameters(), lr=0.01)
    history = fit(model, X, y, epochs=150, optimizer=opt, batch_size=50, rng=rng,
                  progress=False, val=(Xt, yt))
    assert history["loss"][-1] < history["loss"][0]
    assert evaluate(model, Xt, yt)["accuracy"] >= 0.97


def run(seed):
    rng = np.random.default_rng(seed)
    X, y = spirals(100, rng)
    model = models.mlp([2, 16, 2], rng=seed)
    fit(model, X, y, epochs=3, optimizer=optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        batch_size=16, rng=seed, progress=False)
    return model.state_dict()


def test_same_rng_same_weights():
    a, b, c = run(1), run(1), run(2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


def test_history_has_train_and_validation_columns(rng):
    X, y = spirals(50, rng)
    model = models.mlp([2, 8, 2], rng=rng)
    h = fit(model, X, y, epochs=2, optimizer=optim.SGD(model.parameters(), lr=0.1),
            val=(X, y), progress=False, rng=rng)
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 for v in h.values())
    assert h["val_accuracy"][-1] == evaluate(model, X, y)["accuracy"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_names_epoch_and_step(rng):
    X, y = spirals(50, rng)
    X[7] = np.inf                                   # the first shuffled batch holding it diverges
    model = models.mlp([2, 8, 2], rng=rng)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step \d+.*smaller learning rate"):
        fit(model, X, y, epochs=2, optimizer=optim.SGD(model.parameters(), lr=0.1),
            batch_size=10, progress=False, rng=rng)


def test_callbacks_see_every_step_and_epoch_and_can_stop(rng):
    X, y = spirals(40, rng)                         # 80 samples, 8 steps per epoch

    class Recorder:
        def __init__(self):
            self.steps, self.epochs = [], []

        def on_step_end(self, state):
            self.steps.append((state.epoch, state.step))
            if state.global_step == 12:
                state.stop = True

        def on_epoch_end(self, state):
            self.epochs.append(state.epoch)

    rec = Recorder()
    model = models.mlp([2, 8, 2], rng=rng)
    h = fit(model, X, y, epochs=5, optimizer=optim.SGD(model.parameters(), lr=0.1),
            batch_size=10, progress=False, rng=rng, callbacks=[rec])
    assert rec.steps[:9] == [(0, s) for s in range(8)] + [(1, 0)]
    assert len(rec.steps) == 12 and rec.epochs == [0, 1] and len(h["loss"]) == 2


def test_regression_targets_use_mse(rng):
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5])).astype(np.float32)
    model = models.mlp([3, 1], rng=rng)
    fit(model, X, y, epochs=60, optimizer=optim.SGD(model.parameters(), lr=0.1),
        batch_size=16, progress=False, rng=rng, loss="mse")
    scores = evaluate(model, X, y, loss="mse")
    assert scores["accuracy"] is None and scores["loss"] < 1e-3
    with pytest.raises(ValueError, match="needs integer class labels, got float32 targets"):
        fit(model, X, y, epochs=1, optimizer=optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="loss must be one of cross_entropy, mse, got 'l2'"):
        evaluate(model, X, y, loss="l2")


def test_bad_arguments(rng):
    model = models.mlp([2, 2], rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="3 samples but y has 2"):
        fit(model, np.zeros((3, 2)), np.zeros(2, int), epochs=1, optimizer=opt)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, np.zeros((3, 2)), np.zeros(3, int), epochs=1, optimizer=opt, batch_size=0)
