# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 06's exercises
#
# Each solution ends with the check that says it is right.

# %%
import os

import numpy as np

from minprune import data, models, prune, zoo
from minprune.nn import fit, optim
from minprune.nn.train import evaluate
from minprune.prune.expansion import expansion

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %% [markdown]
# ## 1. Re-measuring between steps
#
# One-shot `sensitivity` removes together the units whose removal *alone* helps; with
# `rounds=5` it removes a fifth of the way, measures again, and so on, so each round sees
# what the earlier removals did. Three seeds, 30% of the hidden units, global scope.

# %%
_, validation, test = zoo.dataset(quick=QUICK)
calibration = (validation[0][:300], validation[1][:300])
increase = {"one shot": [], "rounds=5": []}
for seed in (0, 1, 2):
    model = zoo.trained("lenet_300_100", quick=QUICK, seed=seed)
    base = evaluate(model, *test)["loss"]
    trained = prune.snapshot(model)
    for name, rounds in (("one shot", 1), ("rounds=5", 5)):
        prune.restore(model, trained)
        prune.prune(model, 0.3, "sensitivity", "unit", "global", calibration, rounds=rounds)
        increase[name].append(evaluate(model, *test)["loss"] - base)
for name, values in increase.items():
    print(f"{name:9s} test loss increase {np.mean(values):.3f} ± {np.std(values):.3f}")
# On average re-measuring loses less, and it varies much less from seed to seed: one-shot
# selection depends on which units happen to help alone on these calibration samples.
assert np.mean(increase["rounds=5"]) < np.mean(increase["one shot"])
assert np.std(increase["rounds=5"]) < np.std(increase["one shot"])

# %% [markdown]
# ## 2. Square of the sum, not sum of squares
#
# Removing a whole unit moves all its weights at once, d = -w_S. To first order the loss
# changes by g·d = -Σ_s g_s w_s: one number, the *sum* over the group, whose terms can
# cancel. Its square is what `taylor` keeps. The sum of squares Σ (g_s w_s)² would be the
# first-order change of removing each weight separately, added up without their signs.
# Check on a small network: the square root of the `taylor` score is |g·d|, the slope of the
# loss along the removal, measured by finite differences.

# %%
X, y = data.two_moons(200, noise=0.2, rng=0)
X = X.astype(np.float64)
net = models.mlp([2, 8, 8, 2], activation="tanh", rng=0)
for p in net.parameters():
    p.data = p.data.astype(np.float64)
fit(net, X, y, epochs=50, batch_size=32, rng=0, progress=False,
    optimizer=optim.SGD(net.parameters(), lr=0.1, momentum=0.9))
layer = prune.prunable_layers(net, "unit")[0]
taylor = prune.scores(net, "taylor", "unit", (X, y), batch_size=len(X)).values[layer.name]
first = expansion(net, "unit", (X, y)).first[layer.name]


def slope(k, eps=1e-6):
    """d/dt of the loss at w - t·w_S (t from 0): the first-order change of removing unit k."""
    saved = [(m.param, m.index(k), m.param.data[m.index(k)].copy()) for m in layer.members]
    values = []
    for t in (eps, -eps):
        for p, idx, w in saved:
            p.data[idx] = w * (1 - t)
        values.append(evaluate(net, X, y)["loss"])
    for p, idx, w in saved:
        p.data[idx] = w
    return (values[0] - values[1]) / (2 * eps)


slopes = np.array([slope(k) for k in range(8)])
np.testing.assert_allclose(np.sqrt(taylor), np.abs(slopes), rtol=1e-5, atol=1e-9)
np.testing.assert_allclose(first, slopes, rtol=1e-5, atol=1e-9)
print("sqrt(taylor) = |slope of the loss along the removal| for all 8 units")
