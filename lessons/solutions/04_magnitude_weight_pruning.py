# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 04's exercises

# %%
import os

import numpy as np

from minprune import prune, zoo
from minprune.nn import evaluate, fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
model = zoo.trained("lenet_300_100", quick=QUICK)
trained = prune.snapshot(model)
dense = evaluate(model, X_test, y_test)["accuracy"]

# %% [markdown]
# ## 1. Prune 90%, fine-tune one epoch
#
# The masks stay on the weights through training: the optimiser's step is masked, so pruned
# weights are still exactly zero afterwards, and the survivors adapt to their absence.

# %%
prune.prune(model, 0.9, "magnitude", "weight", "global")
pruned = evaluate(model, X_test, y_test)["accuracy"]
fit(model, X, y, epochs=1, rng=0, progress=False,
    optimizer=optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
tuned = evaluate(model, X_test, y_test)["accuracy"]
print(f"dense {dense:.4f}, pruned to 90% {pruned:.4f}, after one epoch {tuned:.4f}")
for m in model:
    if hasattr(m, "weight"):
        assert np.all(m.weight.data[~m.weight.mask] == 0)
assert abs(prune.weight_sparsity(model) - 0.9) < 1e-3
assert tuned > pruned and dense - tuned < (dense - pruned) / 2   # most of the loss comes back

# %% [markdown]
# ## 2. Pruning only the biggest layer
#
# The first layer (784 x 300) holds 235,200 of the 266,200 weights: pruning it alone to 90%
# removes 80% of all weights and costs less than pruning every layer to 90%, because the
# small later layers, whose every weight matters more, are left whole.

# %%
prune.restore(model, trained)
layers = prune.prunable_layers(model, "weight")
sizes = {layer.name: layer.weight.size for layer in layers}
biggest = max(sizes, key=sizes.get)
print({name: f"{n:,}" for name, n in sizes.items()}, "-> biggest:", biggest)
assert biggest == layers[0].name
overall = prune.prune_per_layer(model, {biggest: 0.9})
only_first = evaluate(model, X_test, y_test)["accuracy"]
prune.restore(model, trained)
prune.prune(model, 0.9, "magnitude", "weight", "local")
every_layer = evaluate(model, X_test, y_test)["accuracy"]
print(f"first layer alone at 90% ({overall:.0%} of all weights): {only_first:.4f}; every layer "
      f"at 90%: {every_layer:.4f}")
assert overall > 0.75 and only_first > every_layer
