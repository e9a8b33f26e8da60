# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 05: local versus global pruning
#
# **Goal.** Local pruning removes the same fraction from every layer; global pruning ranks all
# weights together and lets the layers end up at different sparsities. See which per-layer
# sparsities global pruning chooses, why, and what it does to accuracy.

# %%
import os

import numpy as np

from minprune import prune, viz, zoo
from minprune.nn import evaluate

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %%
# The trained LeNet-300-100 of `minprune.zoo` (trained once, then loaded). Its validation
# split, held out from training, chooses the per-layer budget in section 4; the test set only
# measures.
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
model = zoo.trained("lenet_300_100", quick=QUICK, log=print)
dense = evaluate(model, X_test, y_test)["accuracy"]
trained = prune.snapshot(model)
print(f"dense accuracy {dense:.4f}")


def fresh():
    prune.restore(model, trained)        # the trained weights, no masks
    return model

# %% [markdown]
# ## 1. What global pruning chooses
#
# At 90% overall, global pruning prunes the big first layer (784 x 300) hardest: its weights are
# small (fan-in 784) and plentiful. The output layer keeps most of its few, large weights.

# %%
fresh()
prune.prune(model, 0.9, "magnitude", "weight", "global")
table = prune.summary(model)
print(table)
viz.layer_sparsity(model, "05_global_layers.png", title="global magnitude, 90%")
layer_sparsity = [r["sparsity"] for r in table[:-1]]
assert layer_sparsity[0] > 0.9 > layer_sparsity[-1]
assert abs(table[-1]["sparsity"] - 0.9) < 1e-3

# %% [markdown]
# ### LAMP: a global ranking that chooses per-layer sparsities itself
#
# LAMP (Lee et al. 2021) scores a weight u by w_u² divided by the sum of the w_v² of its layer
# with |w_v| >= |w_u|. Within a layer the order is magnitude's; across layers the scores are
# comparable (each layer's largest weight scores 1, and a weight's score grows as the layer's
# mass above it shrinks), so one global threshold spares the small output layer that global
# magnitude cuts into.

# %%
by_magnitude = layer_sparsity
fresh()
prune.prune(model, 0.9, "lamp", "weight", "global")
by_lamp = [r["sparsity"] for r in prune.summary(model)[:-1]]
print(f"{'layer':>5}  {'global magnitude':>16}  {'global LAMP':>11}")
for i, (a, b) in enumerate(zip(by_magnitude, by_lamp)):
    print(f"{i:>5}  {a:>16.1%}  {b:>11.1%}")
assert abs(prune.weight_sparsity(model) - 0.9) < 1e-3
assert by_lamp[-1] < by_magnitude[-1]          # LAMP spares the small output layer

# %% [markdown]
# ## 2. Accuracy: local against global, no fine-tuning

# %%
levels = [0.5, 0.8, 0.9, 0.95, 0.98]
curves = {}
for criterion, scope in (("magnitude", "local"), ("magnitude", "global"), ("lamp", "global")):
    acc = []
    for level in levels:
        fresh()
        prune.prune(model, level, criterion, "weight", scope)
        acc.append(evaluate(model, X_test, y_test)["accuracy"])
    curves[f"{criterion}, {scope}"] = (levels, acc)
print(f"{'sparsity':>8}  {'local':>7}  {'global':>7}  {'LAMP':>7}")
for i, level in enumerate(levels):
    print(f"{level:>8.0%}  {curves['magnitude, local'][1][i]:>7.4f}  "
          f"{curves['magnitude, global'][1][i]:>7.4f}  {curves['lamp, global'][1][i]:>7.4f}")
viz.sparsity_accuracy(curves, "05_local_vs_global.png", baseline=dense)

# One network could be luck: the same comparison at 90% and 98% on three training seeds.
at = {}
for seed in (0, 1, 2):
    net = zoo.trained("lenet_300_100", quick=QUICK, seed=seed, log=print)
    saved = prune.snapshot(net)
    for level in (0.9, 0.98):
        for scope in ("local", "global"):
            prune.restore(net, saved)
            prune.prune(net, level, "magnitude", "weight", scope)
            at.setdefault((level, scope), []).append(evaluate(net, X_test, y_test)["accuracy"])
for (level, scope), values in at.items():
    print(f"{level:.0%} {scope:>6}: {np.mean(values):.4f} ± {np.std(values):.4f} (3 seeds)")
for level in (0.9, 0.98):
    local, global_ = np.array(at[(level, "local")]), np.array(at[(level, "global")])
    assert global_.mean() - local.mean() > max(global_.std(), local.std())

# %% [markdown]
# ## 3. Global never empties a layer
#
# Even at 99.9%, `min_keep` (default 1) weights survive in each layer, so the network stays
# connected; the total count is still exact.

# %%
fresh()
prune.prune(model, 0.999, "magnitude", "weight", "global")
alive = [int(np.count_nonzero(m.weight.data)) for m in model if hasattr(m, "weight")]
print("weights alive per layer:", alive)
assert min(alive) >= 1 and sum(alive) == round(0.001 * 266_200)

# %% [markdown]
# ## 4. A third way: measure each layer's sensitivity
#
# Prune one layer at a time, alone, to a range of sparsities and measure the accuracy (the
# model is restored after each measurement). Then give every layer the highest sparsity that
# costs at most one point of accuracy on its own: this is how Han et al. (2015) chose their
# per-layer thresholds. The budget is chosen on the validation split, never on the test set.

# %%
fresh()
sensitivity = prune.layer_sensitivity(model, *validation,
                                      sparsities=(0.5, 0.75, 0.9, 0.95, 0.98))
print(sensitivity)
viz.sparsity_accuracy({f"layer {name} alone": sensitivity.curve(name)
                       for name in sensitivity.layers()},
                      "05_layer_sensitivity.png", baseline=sensitivity.baseline["accuracy"],
                      title="layer sensitivity", ylabel="validation accuracy")
budget = sensitivity.budget(0.01)
overall = prune.prune_per_layer(model, budget)
by_budget = evaluate(model, X_test, y_test)["accuracy"]
print("per-layer sparsity:", {k: f"{v:.0%}" for k, v in budget.items()},
      f"-> {overall:.1%} overall, accuracy {by_budget:.4f}")
per_layer = [r["sparsity"] for r in prune.summary(model)[:-1]]
assert all(abs(a - budget[name]) < 1e-3 for a, name in zip(per_layer, ["1", "3", "5"]))

# %% [markdown]
# ## Summary
#
# - Local: same sparsity everywhere; simple, but it over-prunes small, sensitive layers.
# - Global: one threshold; layers with many small weights are pruned hardest.
# - LAMP: one threshold on scores normalised within each layer; it shares the sparsity out
#   between layers without hand tuning.
# - Sensitivity analysis: measure each layer alone, then choose per-layer levels by a budget.
#   The drops are measured one layer at a time, so together they cost more than each alone.
#
# ## Exercises
#
# 1. Global scope with structured (unit) pruning normalises each layer's scores first. Read the
#    docstring of `minprune/prune/select.py`: why would raw unit norms be unfair? Check: a
#    raw global ranking of unit L1 norms prunes the layer with the shorter rows first.
# 2. Compare the FLOPs kept by local and global pruning at 90% (`prune.summary`). Check: in
#    this MLP both keep 10% of the FLOPs (why? and why not in a conv net?).
# 3. Prune globally to the overall sparsity that the sensitivity budget reached. Which is more
#    accurate, and why might the budget's per-layer drops not simply add up? Check: the
#    budget's overall sparsity is the size-weighted mean of its layers' sparsities.
#    Solutions: `lessons/solutions/05_local_vs_global.py`.
