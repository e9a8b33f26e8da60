# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 02: training an MLP
#
# **Goal.** Put the autograd to work: layers hold parameters, a loss measures the error, an
# optimizer follows the gradient, and `fit` repeats this over minibatches. We train a
# multilayer perceptron on two interleaved spirals, a task no linear model can solve.

# %%
import os

import numpy as np

from minprune import Tensor, functional as F, models, no_grad, viz
from minprune.nn import evaluate, fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The data: two spirals

# %%
def spirals(n, rng, noise=0.1):
    t = np.sqrt(rng.random(n)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    X = np.concatenate([arm, -arm]) + noise / (3 * np.pi) * rng.standard_normal((2 * n, 2))
    return X.astype(np.float32), np.repeat([0, 1], n)


X, y = spirals(500, rng)
X_test, y_test = spirals(250, rng)
print(X.shape, np.bincount(y))
assert X.shape == (1000, 2) and np.bincount(y).tolist() == [500, 500]

# %% [markdown]
# ## 2. A model is a Sequential of layers
#
# `mlp([2, 64, 64, 2])` is Flatten, Linear(2, 64), ReLU, Linear(64, 64), ReLU, Linear(64, 2).
# Weights follow PyTorch's layout and default initialisation.

# %%
model = models.mlp([2, 64, 64, 2], rng=rng)
print(model)
for name, p in model.named_parameters():
    print(f"{name:10s} {p.shape}")
assert model[1].weight.shape == (64, 2)

# %% [markdown]
# ## 3. One training step by hand
#
# Forward, loss, backward, update. `cross_entropy` takes integer labels.

# %%
opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
batch = rng.choice(len(X), 32, replace=False)
before = F.cross_entropy(model(Tensor(X[batch])), y[batch]).item()
for _ in range(20):
    opt.zero_grad()
    loss = F.cross_entropy(model(Tensor(X[batch])), y[batch])
    loss.backward()
    opt.step()
print(f"loss on one batch: {before:.3f} -> {loss.item():.3f}")
assert loss.item() < before

# %% [markdown]
# ## 4. The training loop
#
# `fit` shuffles with the rng you give it (same rng, same run), shows a progress bar in a
# terminal, and returns a history of loss and accuracy per epoch.

# %%
epochs = 60 if QUICK else 200
model = models.mlp([2, 64, 64, 2], rng=np.random.default_rng(1))
history = fit(model, X, y, epochs=epochs, optimizer=optim.Adam(model.parameters(), lr=0.01),
              batch_size=50, val=(X_test, y_test), rng=np.random.default_rng(2))
scores = evaluate(model, X_test, y_test)
print(f"after {epochs} epochs: train loss {history['loss'][-1]:.3f}, "
      f"test accuracy {scores['accuracy']:.3f}")
assert history["loss"][-1] < history["loss"][0]
assert scores["accuracy"] >= 0.97

# %% [markdown]
# ## 5. SGD against Adam
#
# Adam rescales each weight's step by a running estimate of its gradient's size. On this task
# it converges in fewer epochs than plain SGD at the same budget.

# %%
curves = {}
for name, make in {"SGD lr=0.1": lambda p: optim.SGD(p, lr=0.1),
                   "SGD momentum": lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                   "Adam": lambda p: optim.Adam(p, lr=0.01)}.items():
    m = models.mlp([2, 64, 64, 2], rng=np.random.default_rng(1))
    h = fit(m, X, y, epochs=epochs // 2, optimizer=make(m.parameters()), batch_size=50,
            rng=np.random.default_rng(2), progress=False)
    curves[name] = h["loss"]
    print(f"{name:13s} final loss {h['loss'][-1]:.3f}")

fig = viz.new_figure(5, 3.5)
ax = fig.subplots()
for name, c in curves.items():
    ax.plot(c, label=name)
ax.set(xlabel="epoch", ylabel="training loss", yscale="log")
ax.legend()
viz.save_png(fig, "02_optimizers.png")
assert os.path.exists("02_optimizers.png")

# %% [markdown]
# ## 6. What the network learned: its decision boundary

# %%
grid = np.stack(np.meshgrid(np.linspace(-1.2, 1.2, 150), np.linspace(-1.2, 1.2, 150)), -1)
with no_grad():
    probs = F.softmax(model(Tensor(grid.reshape(-1, 2).astype(np.float32))), axis=1).data
with no_grad():
    wrong = model(Tensor(X_test.astype(np.float32))).data.argmax(axis=1) != y_test
fig = viz.new_figure(4.5, 4)
ax = fig.subplots()
ax.contourf(grid[..., 0], grid[..., 1], probs[:, 1].reshape(150, 150), levels=20, cmap="RdBu")
ax.contour(grid[..., 0], grid[..., 1], probs[:, 1].reshape(150, 150), levels=[0.5],
           colors="k", linewidths=1)
ax.scatter(*X_test[~wrong].T, c=y_test[~wrong], cmap="RdBu", edgecolors="w", linewidths=0.6,
           s=16)
ax.scatter(*X_test[wrong].T, marker="x", c="gold", s=40, linewidths=2,
           label=f"misclassified ({wrong.sum()} of {len(wrong)})")
ax.set(title="the decision boundary (p = 0.5, black)")
ax.legend(loc="lower right", fontsize=8)
viz.save_png(fig, "02_boundary.png")
assert probs.shape == (150 * 150, 2)

# %% [markdown]
# ## Summary
#
# - A layer is a Module with Parameters; `Sequential` chains them.
# - A step is forward, loss, `backward()`, `optimizer.step()`; `fit` loops it over batches.
# - The history tells whether training works; the decision boundary shows what was learned.
#
# ## Exercises
#
# 1. Replace ReLU by Tanh (`models.mlp(..., activation="tanh")`). What changes?
# 2. Train with plain SGD at `lr=10`, then at `lr=1e6`. One of them makes `fit` stop with a
#    `FloatingPointError` (the loss became NaN: it names the epoch and step); what does the
#    other one's loss do instead, and why (look at how many ReLUs still output anything)?
#    Check: `with pytest.raises(FloatingPointError): fit(...)` around the one you expect.
#    Solutions to all three: `lessons/solutions/02_training_an_mlp.py`.
# 3. Shrink the hidden layers until the spirals can no longer be separated. How small is too
#    small? (This is the question pruning asks, one weight at a time.)
