"""fit() and evaluate(): the training loop shared by lessons, retraining and the CLI."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from ..autograd import functional as F
from ..autograd.tensor import Tensor, no_grad
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


def loss_for(out, y):
    """Cross-entropy for integer labels, mean squared error for float targets."""
    if np.asarray(y).dtype.kind in "iu":
        return F.cross_entropy(out, y)
    return F.mse_loss(out, y.reshape(out.shape))


def _check_xy(X, y):
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("X is empty")
    return X, y


def evaluate(model, X, y, batch_size=1024):
    """Mean loss and accuracy (None for float targets) of ``model`` in evaluation mode.

    X : ndarray of shape (n_samples, ...); y : int labels of shape (n_samples,) or float targets.
    Returns ``{"loss": float, "accuracy": float or None}``.
    """
    X, y = _check_xy(X, y)
    total_loss, correct = 0.0, 0
    with eval_mode(model), no_grad():
        for start in range(0, len(X), batch_size):
            xb, yb = X[start:start + batch_size], y[start:start + batch_size]
            out = model(Tensor(xb))
            total_loss += loss_for(out, yb).item() * len(xb)
            if y.dtype.kind in "iu":
                correct += int((out.data.argmax(axis=1) == yb).sum())
    accuracy = correct / len(X) if y.dtype.kind in "iu" else None
    return {"loss": total_loss / len(X), "accuracy": accuracy}


def _progress(total, desc, progress):
    enabled = progress and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm                            # imported only when a bar is shown
    return tqdm(total=total, desc=desc, leave=False, unit="step")


def fit(model, X, y, *, epochs, optimizer, batch_size=64, val=None, rng=None, progress=True,
        callbacks=(), penalty=None):
    """Train ``model`` by minibatch gradient descent.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
    y : ndarray of shape (n_samples,): int class labels (cross-entropy) or float targets (MSE).
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

    Returns
    -------
    history : dict with lists ``loss``, ``accuracy`` (training, per epoch, the running mean
        over the epoch's batches) and ``val_loss``, ``val_accuracy`` when ``val`` is given.
    """
    X, y = _check_xy(X, y)
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    rng = as_rng(rng)
    classify = y.dtype.kind in "iu"
    history = {"loss": [], "accuracy": []}
    if val is not None:
        history.update(val_loss=[], val_accuracy=[])
    state = TrainState(model, optimizer, history=history)
    steps = math.ceil(len(X) / batch_size)
    bar = _progress(epochs * steps, "training", progress)
    try:
        for epoch in range(epochs):
            model.train()
            state.epoch = epoch
            order = rng.permutation(len(X))
            total_loss, correct = 0.0, 0
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                xb, yb = X[idx], y[idx]
                optimizer.zero_grad()
                out = model(Tensor(xb))
                loss = loss_for(out, yb)
                value = total = loss.item()
                if penalty is not None:
                    loss = loss + penalty(model)
                    total = loss.item()
                if not math.isfinite(total):
                    raise FloatingPointError(
                        f"the loss became {total} at epoch {epoch + 1}, step {step + 1}; "
                        f"training diverged: try a smaller learning rate")
                loss.backward()
                optimizer.step()
                total_loss += value * len(idx)
                if classify:
                    correct += int((out.data.argmax(axis=1) == yb).sum())
                state.step, state.loss = step, value
                state.global_step += 1
                for cb in callbacks:
                    if hasattr(cb, "on_step_end"):
                        cb.on_step_end(state)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{value:.4f}")
                if state.stop:
                    break
            seen = min(len(X), (step + 1) * batch_size)
            history["loss"].append(total_loss / seen)
            history["accuracy"].append(correct / seen if classify else None)
            if val is not None:
                scores = evaluate(model, *val)
                history["val_loss"].append(scores["loss"])
                history["val_accuracy"].append(scores["accuracy"])
            for cb in callbacks:
                if hasattr(cb, "on_epoch_end"):
                    cb.on_epoch_end(state)
            if state.stop:
                break
    finally:
        if bar is not None:
            bar.close()
    model.train()
    return history
