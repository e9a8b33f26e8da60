"""Retraining schedules: the sparsity they reach and when, what retraining and rewinding do."""
import numpy as np
import pytest

from minprune import models, nn, prune
from minprune.data import make_classification
from minprune.prune import schedules


def problem():
    X, y = make_classification(600, 20, n_informative=8, n_redundant=4, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    return (X[:400], y[:400]), (X[400:], y[400:])


def sgd(params):
    return nn.optim.SGD(params, lr=0.05, momentum=0.9)


def trained_mlp(train, epochs=8):
    model = models.mlp([20, 64, 32, 3], rng=0)
    nn.fit(model, *train, epochs=epochs, optimizer=sgd(model.parameters()), rng=0,
           progress=False)
    return model


def test_iterative_levels_prune_the_same_fraction_of_what_remains():
    levels = schedules.iterative_levels(0.9, 4)
    assert len(levels) == 4 and levels[-1] == 0.9
    remaining = 1 - np.array([0.0] + levels)
    np.testing.assert_allclose(remaining[1:] / remaining[:-1], 0.1 ** 0.25)
    assert schedules.iterative_levels(0.5, 1) == [0.5]


def test_polynomial_sparsity_follows_zhu_and_gupta():
    s = lambda t: schedules.polynomial_sparsity(t, 0.8, begin=10, end=110, initial=0.2)
    assert s(0) == s(10) == 0.2 and s(110) == s(500) == 0.8
    assert s(60) == pytest.approx(0.8 + (0.2 - 0.8) * 0.5 ** 3)
    values = [s(t) for t in range(0, 120)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    steps = np.diff(values[10:111])                      # fast early, slow late
    assert steps[0] > steps[50] > steps[-1] > 0


def test_iterative_reaches_each_level_and_retraining_recovers():
    train, val = problem()
    model = trained_mlp(train)
    result = schedules.iterative(model, *train, 0.9, steps=3, epochs_per_step=3, optimizer=sgd,
                                 val=val, rng=0, progress=False)
    assert [r["sparsity"] for r in result.rounds] == schedules.iterative_levels(0.9, 3)
    assert prune.weight_sparsity(model) == pytest.approx(0.9, abs=1e-3)
    assert sorted({row["step"] for row in result.trace}) == [1, 2, 3]
    assert len(result.histories) == 3 and len(result.histories[0]["loss"]) == 3
    last = result.rounds[-1]
    assert last["accuracy"] >= last["pruned_accuracy"]     # retraining recovers
    assert "accuracy after retraining" in str(result)


def test_one_shot_is_one_round():
    train, val = problem()
    model = trained_mlp(train)
    result = schedules.one_shot(model, *train, 0.8, epochs=2, optimizer=sgd, val=val, rng=0,
                                progress=False)
    assert len(result.rounds) == 1 and result.rounds[0]["sparsity"] == 0.8
    assert prune.weight_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_gradual_pruning_prunes_on_schedule_during_training():
    train, _ = problem()
    model = models.mlp([20, 64, 32, 3], rng=0)
    steps_per_epoch = int(np.ceil(400 / 50))              # 8
    gradual = schedules.GradualPruning(0.75, begin=8, end=40, every=8)
    seen = []

    class Watch:
        def on_step_end(self, state):
            seen.append((state.global_step, prune.weight_sparsity(state.model)))

    nn.fit(model, *train, epochs=6, batch_size=50, optimizer=sgd(model.parameters()), rng=0,
           progress=False, callbacks=[gradual, Watch()])
    assert 6 * steps_per_epoch == len(seen)
    assert sorted({row["step"] for row in gradual.trace}) == [8, 16, 24, 32, 40]
    sparsity = dict(seen)
    assert sparsity[7] == 0 and sparsity[40] == pytest.approx(0.75, abs=1e-3)
    for t in (16, 24, 32):
        expected = schedules.polynomial_sparsity(t, 0.75, begin=8, end=40)
        assert sparsity[t] == pytest.approx(expected, abs=1e-3)
    assert sparsity[48] == sparsity[40]                   # nothing after end; nothing revived


def test_lottery_ticket_rewinds_the_survivors():
    train, val = problem()
    model = models.mlp([20, 64, 32, 3], rng=0)
    init = [p.data.copy() for p in model.parameters()]
    starts = []                                # the weights each round of training starts from

    def recording_sgd(params):
        starts.append([p.data.copy() for p in params])
        return sgd(params)
    result = schedules.lottery_ticket(model, *train, 0.8, rounds=2, epochs=3,
                                      optimizer=recording_sgd, val=val, rng=0, progress=False)
    assert [r["round"] for r in result.rounds] == [0, 1, 2] and len(starts) == 3
    assert prune.weight_sparsity(model) == pytest.approx(0.8, abs=1e-3)
    for start in starts[1:]:                   # rewound: every survivor at its initial value
        for w0, w in zip(init, start):
            np.testing.assert_array_equal(w[w != 0], w0[w != 0])
    final_masks = [p.mask for p in model.parameters()]
    for w0, w, mask in zip(init, starts[2], final_masks):
        np.testing.assert_array_equal(w, w0 if mask is None else w0 * mask)
    assert len(result.histories) == 3


def test_late_rewinding_keeps_the_early_weights():
    train, _ = problem()
    model = models.mlp([20, 64, 32, 3], rng=0)
    result = schedules.lottery_ticket(model, *train, 0.5, rounds=1, epochs=3, rewind_epoch=1,
                                      optimizer=sgd, rng=0, progress=False)
    probe = models.mlp([20, 64, 32, 3], rng=0)
    nn.fit(probe, *train, epochs=1, optimizer=sgd(probe.parameters()), rng=0, progress=False)
    for name, value in probe.state_dict().items():
        np.testing.assert_allclose(result.rewind_state[name], value, rtol=1e-6)
    assert len(result.histories[0]["loss"]) == 3            # 1 early + 2 more epochs


@pytest.mark.parametrize("call, match", [
    (lambda m, t: schedules.iterative(m, *t, 1.0, steps=2, epochs_per_step=1, optimizer=sgd),
     "sparsity must be a number in"),
    (lambda m, t: schedules.iterative(m, *t, 0.5, steps=0, epochs_per_step=1, optimizer=sgd),
     "steps must be a positive integer"),
    (lambda m, t: schedules.iterative(m, *t, 0.5, steps=2, epochs_per_step=1,
                                      optimizer=sgd(m.parameters())), "optimizer must be"),
    (lambda m, t: schedules.lottery_ticket(m, *t, 0.5, rounds=1, epochs=2, rewind_epoch=3,
                                           optimizer=sgd), "rewind_epoch must be"),
    (lambda m, t: schedules.GradualPruning(0.5, begin=10, end=5), "0 <= begin < end"),
])
def test_bad_schedule_arguments_are_refused(call, match):
    train, _ = problem()
    model = models.mlp([20, 8, 3], rng=0)
    with pytest.raises((ValueError, TypeError), match=match):
        call(model, train)
