# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 05's exercises

# %%
import os

import numpy as np

from minprune import prune, zoo
from minprune.nn import evaluate

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
model = zoo.trained("lenet_300_100", quick=QUICK)
trained = prune.snapshot(model)

# %% [markdown]
# ## 1. Why raw unit norms would be unfair across layers
#
# A unit's weight row has as many entries as the layer has inputs: 784 in the first layer,
# 300 in the second. Even with weights of the same typical size, the L1 norm of a row grows
# with its length, so a global ranking of raw norms would always prune the short-row layer
# first. Normalising each layer's scores first compares units with their own layer.

# %%
layers = prune.prunable_layers(model, "unit")
norms = {layer.name: np.abs(layer.weight.data).sum(axis=1) for layer in layers}
per_weight = {name: np.abs(layer.weight.data).mean() for name, layer in
              zip(norms, layers)}
for layer in layers:
    print(f"layer {layer.name}: {layer.weight.shape[1]} inputs per unit, median unit L1 norm "
          f"{np.median(norms[layer.name]):.2f}, mean |w| {per_weight[layer.name]:.4f}")
first, second = layers[0].name, layers[1].name
ratio_norm = np.median(norms[first]) / np.median(norms[second])
ratio_length = layers[0].weight.shape[1] / layers[1].weight.shape[1]
assert np.median(norms[first]) > np.median(norms[second])
assert ratio_norm < ratio_length      # longer rows, though each weight is smaller
raw = prune.Scores("magnitude", "unit", layers, norms)
sel = prune.select(raw, 0.5, "local")   # the local choice, for comparison with a raw global one
flat = np.concatenate([norms[first], norms[second]])
cut = np.sort(flat)[len(flat) // 2]
print(f"a raw global ranking at 50% would prune {np.mean(norms[second] < cut):.0%} of layer "
      f"{second} and {np.mean(norms[first] < cut):.0%} of layer {first}")
assert np.mean(norms[second] < cut) > np.mean(norms[first] < cut)

# %% [markdown]
# ## 2. FLOPs kept at 90%, local against global
#
# Global pruning takes most from the first layer, which is also where most multiply-adds
# are, and in an MLP a weight is one multiply-add per example: the FLOPs kept follow the
# weights kept, the same 10% either way. (In a conv net they differ: a conv weight is used at
# every output position.)

# %%
kept = {}
for scope in ("local", "global"):
    prune.restore(model, trained)
    prune.prune(model, 0.9, "magnitude", "weight", scope)
    total = prune.summary(model)[-1]
    kept[scope] = total["effective_flops"] / total["flops"]
    print(f"{scope:>6}: {kept[scope]:.1%} of the dense FLOPs kept, accuracy "
          f"{evaluate(model, X_test, y_test)['accuracy']:.4f}")
assert all(abs(v - 0.1) < 0.002 for v in kept.values())

# %% [markdown]
# ## 3. Global at the budget's overall sparsity
#
# The budget measures each layer alone on the validation split. Pruned together, each
# layer's inputs are already changed by the pruning before it, so the drop together is not
# the sum of the drops alone: it can be more (damage compounds) or less (the cuts partly
# overlap in what they destroy); the two modes of this file show one of each. Global
# magnitude at the same overall sparsity spreads the cuts by weight size instead. Both are
# compared on the validation split, with exactly the same number of weights kept; on one
# network, differences of a few validation samples are not a verdict.

# %%
prune.restore(model, trained)
sensitivity = prune.layer_sensitivity(model, *validation, sparsities=(0.5, 0.75, 0.9, 0.95, 0.98))
budget = sensitivity.budget(0.01)
overall = prune.prune_per_layer(model, budget)
by_budget = evaluate(model, *validation)["accuracy"]
prune.restore(model, trained)
prune.prune(model, overall, "magnitude", "weight", "global")
by_global = evaluate(model, *validation)["accuracy"]
print(f"overall {overall:.1%}: budget {by_budget:.4f}, global {by_global:.4f} (validation)")
alone = {r["layer"]: r["drop"] for r in sensitivity if r["sparsity"] == budget.get(r["layer"])}
together = sensitivity.baseline["accuracy"] - by_budget
print(f"drops of each layer alone at its budget: {alone}; all together: {together:.4f}")
assert abs(prune.weight_sparsity(model) - overall) < 1e-3
print(f"sum of the drops alone {sum(alone.values()):.4f}")
sizes = {layer.name: layer.weight.size for layer in prune.prunable_layers(model, "weight")}
assert np.isclose(overall, sum(budget[n] * sizes[n] for n in budget) / sum(sizes.values()),
                  atol=1e-4)
