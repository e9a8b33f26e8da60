"""Retraining schedules: when to prune and how to retrain. One-shot, iterative (the same fraction
of what remains at every round, Han et al. 2015), gradual (a polynomial sparsity curve followed
during training, Zhu & Gupta 2017) and lottery tickets (prune, rewind the survivors to their
early values, retrain; Frankle & Carbin 2019, with late rewinding as in Frankle et al. 2020).

Every schedule prunes through ``prune.prune`` (so criteria, granularities and scopes are the
same), records its events in one ``Trace``, and takes ``optimizer`` as a function of the
parameters, because every round of retraining starts a fresh optimizer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import fraction, integer
from ..nn.init import as_rng
from ..nn.train import evaluate, fit
from ..tables import table
from .masks import Snapshot, get_masks, restore
from .method import Method
from .pipeline import prune
from .report import Trace
from .select import exponential_levels


@dataclass
class ScheduleResult:
    """What a schedule did: one row per round (``round``, ``sparsity``, and with validation
    data ``pruned_accuracy`` right after pruning and ``accuracy`` after retraining), the trace
    of pruning events and the training history of every round."""
    rounds: list
    trace: Trace
    histories: list
    rewind_state: dict = None      # lottery_ticket: the weights the survivors were reset to

    def __str__(self):
        return table(self.rounds, [("round", "round", "{}"), ("sparsity", "sparsity", "{:.1%}"),
                                   ("pruned_accuracy", "accuracy after pruning", "{:.4f}"),
                                   ("accuracy", "accuracy after retraining", "{:.4f}")])


def _check_positive_int(name, value):
    integer(name, value, 1)


def _check_sparsity(sparsity):
    fraction("sparsity", sparsity)


iterative_levels = exponential_levels


def polynomial_sparsity(step, final, *, begin, end, initial=0.0, exponent=3):
    """Zhu & Gupta's schedule: ``initial`` up to ``begin``, then
    s_t = final + (initial - final) · (1 - (t - begin) / (end - begin))^exponent,
    and ``final`` from ``end`` on. Prunes fast early, when many weights are redundant, and
    slowly near the end, when each one matters more."""
    if step <= begin:
        return initial
    if step >= end:
        return final
    return final + (initial - final) * (1 - (step - begin) / (end - begin)) ** exponent


class GradualPruning:
    """A ``fit`` callback that prunes to ``polynomial_sparsity`` every ``every`` training
    steps from ``begin`` to ``end`` (counted in steps since ``fit`` began, from 1).

    ``method`` (a ``prune.Method``, or its fields as ``criterion=``, ``granularity=``,
    ``scope=``, ``p=``) and ``data`` are passed to ``prune.prune``; each event goes to
    ``trace`` (a new ``Trace`` unless given) with the training step as its step.
    """

    def __init__(self, final, *, begin, end, every=1, initial=0.0, exponent=3, method=None,
                 data=None, trace=None, **choice):
        _check_sparsity(final)
        _check_sparsity(initial)
        _check_positive_int("every", every)
        if not (isinstance(begin, (int, np.integer)) and isinstance(end, (int, np.integer))
                and 0 <= begin < end):
            raise ValueError(f"begin and end must be integers with 0 <= begin < end, got "
                             f"begin={begin!r}, end={end!r}")
        self.final, self.initial, self.exponent = final, initial, exponent
        self.begin, self.end, self.every = begin, end, every
        self.method, self.data = Method.of(method, **choice), data
        self.trace = Trace() if trace is None else trace

    def due(self, step):
        """Whether this schedule prunes after training step ``step``."""
        return self.begin <= step <= self.end and (
            (step - self.begin) % self.every == 0 or step == self.end)

    def on_step_end(self, state):
        step = state.global_step
        if self.due(step):
            target = polynomial_sparsity(step, self.final, begin=self.begin, end=self.end,
                                         initial=self.initial, exponent=self.exponent)
            prune(state.model, target, data=self.data, method=self.method, trace=self.trace,
                  step=step)


def _check_optimizer(optimizer):
    if not callable(optimizer) or hasattr(optimizer, "step"):
        raise TypeError("optimizer must be a function of the parameters that returns an "
                        "optimizer, e.g. lambda params: optim.SGD(params, lr=0.01); got "
                        f"{type(optimizer).__name__}")


def _accuracy(model, val):
    return evaluate(model, *val)["accuracy"] if val is not None else None


def iterative(model, X, y, sparsity, *, steps, epochs_per_step, optimizer, method=None,
              data=None, val=None, batch_size=64, rng=None, progress=True, **choice):
    """Prune and retrain ``steps`` times, reaching ``sparsity`` at the last round
    (``iterative_levels``). ``model`` is changed in place.

    Parameters
    ----------
    model : a trained Sequential.
    X, y : training data, as for ``nn.train.fit``.
    sparsity : float in [0, 1), the final sparsity.
    steps, epochs_per_step : rounds, and epochs of retraining after each pruning.
    optimizer : function(parameters) -> optimizer, called once per round.
    method, data : as in ``prune.prune`` (``method`` a ``prune.Method``, or its fields as
        ``criterion=``, ``granularity=``, ``scope=``, ``p=``).
    val : (X_val, y_val), optional: accuracy right after each pruning and after retraining.
    """
    _check_optimizer(optimizer)
    method = Method.of(method, **choice)
    levels = iterative_levels(sparsity, steps)
    rng = as_rng(rng)
    trace, rounds, histories = Trace(), [], []
    for i, level in enumerate(levels, start=1):
        prune(model, level, data=data, method=method, rng=rng, trace=trace, step=i)
        pruned_accuracy = _accuracy(model, val)
        histories.append(fit(model, X, y, epochs=epochs_per_step,
                             optimizer=optimizer(model.parameters()), batch_size=batch_size,
                             val=val, rng=rng, progress=progress))
        rounds.append({"round": i, "sparsity": level, "pruned_accuracy": pruned_accuracy,
                       "accuracy": _accuracy(model, val)})
    return ScheduleResult(rounds, trace, histories)


def one_shot(model, X, y, sparsity, *, epochs, optimizer, **options):
    """Prune once to ``sparsity`` and retrain for ``epochs``: ``iterative`` with one step."""
    return iterative(model, X, y, sparsity, steps=1, epochs_per_step=epochs,
                     optimizer=optimizer, **options)


def lottery_ticket(model, X, y, sparsity, *, rounds, epochs, optimizer, rewind_epoch=0,
                   method=None, data=None, val=None, batch_size=64, rng=None, progress=True,
                   **choice):
    """Iterative magnitude pruning with rewinding: train, prune the same fraction of the
    remaining weights (``iterative_levels``), reset the survivors to their values after
    ``rewind_epoch`` epochs of training (0: their initial values), and train again.

    ``model`` is the untrained network; it ends as the trained ticket at ``sparsity``. The
    result has ``rounds + 1`` rows: round 0 is the dense network. Its ``rewind_state`` holds
    the rewound weights, to compare the ticket with the same mask on fresh weights.
    ``method`` (or its fields), ``data``: as in ``iterative``.
    """
    _check_optimizer(optimizer)
    method = Method.of(method, **choice)
    _check_positive_int("epochs", epochs)
    if not isinstance(rewind_epoch, (int, np.integer)) or not 0 <= rewind_epoch <= epochs:
        raise ValueError(f"rewind_epoch must be an integer in [0, epochs={epochs}], got "
                         f"{rewind_epoch!r}")
    levels = iterative_levels(sparsity, rounds)
    rng = as_rng(rng)

    def train(n_epochs):
        return fit(model, X, y, epochs=n_epochs, optimizer=optimizer(model.parameters()),
                   batch_size=batch_size, val=val, rng=rng, progress=progress)

    early = train(rewind_epoch) if rewind_epoch else None
    rewind_state = model.state_dict()                 # copies
    histories = [train(epochs - rewind_epoch)]
    if early is not None:
        histories[0] = {k: early[k] + v for k, v in histories[0].items()}
    trace = Trace()
    rows = [{"round": 0, "sparsity": 0.0, "pruned_accuracy": None,
             "accuracy": _accuracy(model, val)}]
    for i, level in enumerate(levels, start=1):
        prune(model, level, data=data, method=method, rng=rng, trace=trace, step=i)
        pruned_accuracy = _accuracy(model, val)
        restore(model, Snapshot(rewind_state, get_masks(model)))   # survivors rewound
        histories.append(train(epochs - rewind_epoch))
        rows.append({"round": i, "sparsity": level, "pruned_accuracy": pruned_accuracy,
                     "accuracy": _accuracy(model, val)})
    return ScheduleResult(rows, trace, histories, rewind_state)
