# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 06: sensitivity criteria
#
# **Goal.** Magnitude is a guess at importance. The honest answer is to remove a unit and
# measure how much the loss goes up (`sensitivity`), which costs one evaluation per unit. The
# other criteria are cheap estimates of that: first-order Taylor, SNIP, Optimal Brain Damage,
# activation statistics. We compare every criterion against the brute-force answer.

# %%
import os

import numpy as np

from minprune import data, models, nn, prune
from minprune.nn import fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %% [markdown]
# ## 1. A small network on glyph digits

# %%
(X, y), (X_test, y_test) = data.load_glyph_digits(2000 if QUICK else 10000, 1000, rng=1)
# Criteria are calibrated on training samples held out from training, never on the test set.
(X, y), calibration = data.calibration_split(X, y, 300)
model = models.mlp([784, 64, 32, 10], rng=0)
fit(model, X, y, epochs=3 if QUICK else 10, batch_size=64, rng=0,
    optimizer=optim.SGD(model.parameters(), lr=0.05, momentum=0.9))

# %% [markdown]
# ## 2. Every criterion on the 96 hidden units

# %%
CRITERIA = ["sensitivity", "magnitude", "taylor", "taylor_2017", "snip", "obd", "apoz", "fpgm",
            "lamp", "random"]
results = {c: prune.scores(model, c, "unit", calibration, rng=0).values for c in CRITERIA}
truth = np.concatenate([results["sensitivity"][k] for k in ("1", "3")])

# %% [markdown]
# ## 3. Rank correlation with the measured loss change
#
# Spearman's ρ: the correlation of the ranks. Pruning only cares about the order.

# %%
def ranks(v):
    r = np.empty(len(v))
    r[np.argsort(v, kind="stable")] = np.arange(len(v))
    return r


def spearman(a, b):
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


rho = {c: spearman(np.concatenate([results[c][k] for k in ("1", "3")]), truth)
       for c in CRITERIA}
print(f"{'criterion':12s}  {'Spearman rho vs sensitivity':>28s}")
for c in CRITERIA:
    print(f"{c:12s}  {rho[c]:>28.3f}")
assert rho["sensitivity"] == 1.0 and all(np.isfinite(v) for v in rho.values())
if not QUICK:                      # a trained network: the estimates beat chance
    assert min(rho["taylor"], rho["obd"], rho["snip"]) > rho["random"] + 0.2

# %% [markdown]
# ## 4. Does the better estimate prune better?
#
# Prune half the hidden units by each criterion (local scope) and measure the test loss.

# %%
trained = prune.snapshot(model)
print(f"{'criterion':12s}  {'test loss after pruning 50% of units':>36s}")
loss_after = {}
for c in CRITERIA:
    prune.restore(model, trained)        # the trained weights, no masks
    r = prune.prune(model, 0.5, c, "unit", "local", calibration, rng=0,
                    eval_data=(X_test, y_test))
    loss_after[c] = r.trace[-1]["loss_after"]
    print(f"{c:12s}  {loss_after[c]:>36.4f}")
if not QUICK:
    assert loss_after["sensitivity"] <= loss_after["random"]

# %% [markdown]
# ## 5. Network slimming: the BatchNorm scale
#
# With a BatchNorm after each hidden layer, every unit's output is multiplied by its own scale
# gamma: a unit whose |gamma| is small contributes little whatever its weights (Liu et al.
# 2017 push the gammas down with an L1 penalty while training; lesson 09 does so).

# %%
bn_model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64, rng=0), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, 32, rng=0), nn.BatchNorm1d(32), nn.ReLU(),
                         nn.Linear(32, 10, rng=0))
fit(bn_model, X, y, epochs=3 if QUICK else 10, batch_size=64, rng=0,
    optimizer=optim.SGD(bn_model.parameters(), lr=0.05, momentum=0.9))
bn_truth = prune.scores(bn_model, "sensitivity", "unit", calibration).values
bn_rho = {}
for c in ("bn_scale", "magnitude", "random"):
    s = prune.scores(bn_model, c, "unit", rng=0).values
    bn_rho[c] = spearman(np.concatenate([s[k] for k in ("1", "4")]),
                         np.concatenate([bn_truth[k] for k in ("1", "4")]))
    print(f"{c:12s}  {bn_rho[c]:>28.3f}")
assert all(np.isfinite(v) for v in bn_rho.values())

# %% [markdown]
# ## Summary
#
# - `sensitivity` is exact for one group removed alone but costs one pass over the data per
#   group (and removing many groups together is not the sum of removing each).
# - `taylor` (Molchanov 2019: the squared first-order term per batch) and `obd` approximate it
#   from gradients (first and second order); `taylor_2017` weighs the activations by their
#   gradients; `snip` uses one batch; `apoz` looks only at activations; `magnitude`, `lamp` and
#   `fpgm` look only at weights (`fpgm` at how far a unit is from the others); `bn_scale` only
#   at the BatchNorm scale.
#
# ## Exercises
#
# 1. Repeat at weight granularity on a smaller network (sensitivity refuses big layers: why?).
# 2. Why is the 2019 Taylor score of a group the square of a sum over the group, not a sum of
#    squares? (Hint: what does removing the whole group change, to first order?)
