"""fit() and evaluate(): the training loop shared by lessons, retraining and the CLI."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from ..autograd import functional as F
from ..autograd.tensor import Tensor, no_grad
from ..checks import integer, one_of
from .init import as_rng
from .module import eval_mode


@dataclass
class TrainState:
    """What a callback sees: the model, the optimizer, where training is, the last loss."""
    model: object
    optimizer: object
    epoch: int = 0
    step: int = 0              # steps within the epoch
    global_step: int = 0       # steps since fit() began
    loss: float = math.nan
    history: dict = field(default_factory=dict)
    stop: bool = False         # a callback sets this to end training after the current step


LOSSES = {"cross_entropy": "integer class labels", "mse": "float targets"}


def loss_for(out, y, loss="cross_entropy"):
    """The mean loss of outputs ``out`` against ``y``: ``"cross_entropy"`` (integer class
    labels) or ``"mse"`` (float targets of the output's shape)."""
    if loss == "cross_entropy":
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y.reshape(out.shape))


def _check_loss(loss, y):
    one_of("loss", loss, tuple(LOSSES))
    if loss == "cross_entropy" and y.dtype.kind not in "iu":
        raise ValueError(f"loss 'cross_entropy' needs integer class labels, got {y.dtype} "
                         f"targets; pass loss='mse' for regression")


def _check_xy(X, y):
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("X is empty")
    return X, y


def evaluate(model, X, y, batch_size=1024, loss="cross_entropy"):
    """Mean loss and accuracy (None for the "mse" loss) of ``model`` in evaluation mode.

    X : ndarray of shape (n_samples, ...); y : int labels of shape (n_samples,) or float
    targets; loss : "cross_entropy" or "mse".
    Returns ``{"loss": float, "accuracy": float or None}``.
    """
    X, y = _check_xy(X, y)
    _check_loss(loss, y)
    classify = loss == "cross_entropy"
    total_loss, correct = 0.0, 0
    with eval_mode(model), no_grad():
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model(Tensor(xb))
            total_loss += loss_for(out, yb, loss).item() * len(xb)
            if classify:
                correct += int((out.data.argmax(axis=1) == yb).sum())
    accuracy = correct / len(X) if classify else None
    return {"loss": total_loss / len(X), "accuracy": accuracy}


def _progress(total, desc, progress):
    enabled = progress and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm                            # imported only when a bar is shown
    return tqdm(total=total, desc=desc, leave=False, unit="step")


def fit(model, X, y, *, epochs, optimizer, batch_size=64, val=None, rng=None, progress=True,
        callbacks=(), penalty=None, loss="cross_entropy"):
    """Train ``model`` by minibatch gradient descent.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples,): int class labels, or float targets for ``loss="mse"``.
    epochs : int
    optimizer : an ``optim`` optimizer over the model's parameters.
    val : (X_val, y_val), optional; evaluated after every epoch.
    rng : Generator or seed for the shuffling order (same rng, same run).
    progress : show a tqdm bar (only when stderr is a terminal).
    callbacks : objects with optional ``on_step_end(state)`` and ``on_epoch_end(state)``
        methods taking a ``TrainState``; setting ``state.stop = True`` ends training.
    penalty : function(model) -> scalar Tensor added to every batch's loss before the
        backward pass (train-time sparsity, e.g. ``lambda m: 1e-4 * regularizers.l1(m)``); the
        history records the data loss without it.
    loss : "cross_entropy" (the default) or "mse".

    Returns
    -------
    history : dict with lists ``loss``, ``accuracy`` (training, per epoch, the running mean
        over the epoch's batches; None for "mse") and ``val_loss``, ``val_accuracy`` when
        ``val`` is given.
    """
    X, y = _check_xy(X, y)
    integer("epochs", epochs, 0)
    integer("batch_size", batch_size, 1)
    _check_loss(loss, y)
    rng = as_rng(rng)
    history = {"loss": [], "accuracy": []}
    if val is not None:
        history.update(val_loss=[], val_accuracy=[])
    state = TrainState(model, optimizer, history=history)
    steps = math.ceil(len(X) / batch_size)
    bar = _progress(epochs * steps, "training", progress)
    try:
        for epoch in range(epochs):
            state.epoch = epoch
            _train_epoch(state, X, y, rng.permutation(len(X)), batch_size, loss, penalty,
                         callbacks, bar)
            if val is not None:
                scores = evaluate(model, *val, loss=loss)
                history["val_loss"].append(scores["loss"])
                history["val_accuracy"].append(scores["accuracy"])
            _notify(callbacks, "on_epoch_end", state)
            if state.stop:
                break
    finally:
        if bar is not None:
            bar.close()
    model.train()
    return history


def _notify(callbacks, event, state):
    for cb in callbacks:
        if hasattr(cb, event):
            getattr(cb, event)(state)


def _step(state, xb, yb, loss, penalty):
    """One optimisation step on a batch; returns (outputs, data loss)."""
    model, optimizer = state.model, state.optimizer
    optimizer.zero_grad()
    out = model(Tensor(xb))
    value = loss_for(out, yb, loss)
    data_loss = total = value.item()
    if penalty is not None:
        value = value + penalty(model)
        total = value.item()
    if not math.isfinite(total):
        raise FloatingPointError(
            f"the loss became {total} at epoch {state.epoch + 1}, step {state.step + 1}; "
            f"training diverged: try a smaller learning rate")
    value.backward()
    optimizer.step()
    return out, data_loss


def _train_epoch(state, X, y, order, batch_size, loss, penalty, callbacks, bar):
    """Every batch of one epoch in ``order``; appends the epoch's training loss and accuracy."""
    state.model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for step in range(math.ceil(len(order) / batch_size)):
        idx = order[step * batch_size:(step + 1) * batch_size]
        state.step = step
        out, value = _step(state, X[idx], y[idx], loss, penalty)
        total_loss += value * len(idx)
        seen += len(idx)
        if loss == "cross_entropy":
            correct += int((out.data.argmax(axis=1) == y[idx]).sum())
        state.loss = value
        state.global_step += 1
        _notify(callbacks, "on_step_end", state)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(epoch=state.epoch + 1, loss=f"{value:.4f}")
        if state.stop:
            break
    state.history["loss"].append(total_loss / seen)
    state.history["accuracy"].append(correct / seen if loss == "cross_entropy" else None)
