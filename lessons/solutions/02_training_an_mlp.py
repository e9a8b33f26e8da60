# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 02's exercises

# %%
import os

import numpy as np

from minprune import models
from minprune.nn import evaluate, fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
EPOCHS = 60 if QUICK else 200


def spirals(n, rng, noise=0.1):                       # lesson 02's data
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    X = np.concatenate([arm, -arm]) + noise / (3 * np.pi) * rng.standard_normal((2 * n, 2))
    return X.astype(np.float32), np.repeat([0, 1], n)


rng = np.random.default_rng(0)
X, y = spirals(500, rng)
X_test, y_test = spirals(250, rng)


def trained(sizes, activation="relu", optimizer=lambda p: optim.Adam(p, lr=0.01), epochs=EPOCHS):
    model = models.mlp(sizes, activation, rng=np.random.default_rng(1))
    history = fit(model, X, y, epochs=epochs, optimizer=optimizer(model.parameters()),
                  batch_size=50, rng=np.random.default_rng(2), progress=False)
    return model, history

# %% [markdown]
# ## 1. Tanh instead of ReLU
#
# A ReLU network is piecewise linear: its boundary is made of straight segments. A tanh
# network is smooth, its boundary curves. Both learn the spirals at this size and budget.

# %%
accuracy = {}
for activation in ("relu", "tanh"):
    model, _ = trained([2, 64, 64, 2], activation)
    accuracy[activation] = evaluate(model, X_test, y_test)["accuracy"]
print(accuracy)
assert min(accuracy.values()) > 0.9

# %% [markdown]
# ## 2. Plain SGD at lr = 10 and lr = 1e6
#
# At 1e6 the first steps throw the weights so far that the logits overflow and the loss is
# nan: `fit` stops with a FloatingPointError naming the epoch and step. At 10 the loss
# stays finite but training stalls: large steps push most ReLUs to output 0 for every
# input ("dead" units, whose gradient is then 0 forever), so the network predicts almost
# one class.

# %%
try:
    with np.errstate(over="ignore", invalid="ignore"):      # the overflow is the point here
        trained([2, 64, 64, 2], optimizer=lambda p: optim.SGD(p, lr=1e6), epochs=5)
    raise AssertionError("lr=1e6 should have stopped with a FloatingPointError")
except FloatingPointError as error:
    print("lr=1e6:", error)
model, history = trained([2, 64, 64, 2], optimizer=lambda p: optim.SGD(p, lr=10), epochs=20)
hidden = np.maximum(X @ model[1].weight.data.T + model[1].bias.data, 0)
dead = float(np.mean((hidden > 0).sum(axis=0) == 0))
print(f"lr=10: final loss {history['loss'][-1]:.3f}, accuracy "
      f"{evaluate(model, X_test, y_test)['accuracy']:.3f}, first-layer units dead on every "
      f"input: {dead:.0%}")
assert np.isfinite(history["loss"][-1]) and evaluate(model, X_test, y_test)["accuracy"] < 0.7
assert dead > 0.3

# %% [markdown]
# ## 3. How small is too small?
#
# Two spiral arms that wind one and a half times need several bends: a handful of units
# cannot draw them.

# %%
for width in (2, 4, 16, 64):
    model, _ = trained([2, width, width, 2])
    accuracy[width] = evaluate(model, X_test, y_test)["accuracy"]
    print(f"hidden width {width:>2}: test accuracy {accuracy[width]:.3f}")
assert accuracy[2] < 0.8 < accuracy[64]
