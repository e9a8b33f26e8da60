# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 14's exercises

# %%
import os

import numpy as np

from minprune import models, prune, zoo
from minprune.nn import evaluate, fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
one_batch = (X[:256], y[:256])


def paths(net):
    masks = [layer.weight.mask.astype(np.float64) for layer in prune.prunable_layers(net, "weight")]
    return float((masks[2] @ masks[1] @ masks[0]).sum())


def kept(net):
    return [int(layer.weight.mask.sum()) for layer in prune.prunable_layers(net, "weight")]

# %% [markdown]
# ## 1. SynFlow in one round
#
# Scored once, SynFlow is a magnitude-like product score: the first layer's weights, small
# and many, all score low together, and one global cut at 99.9% takes the layer. The
# iterative schedule is what avoids the collapse: each round's cut lowers the scores of
# what is left on thick layers and raises them on thin ones.

# %%
once, iterated = models.lenet_300_100(rng=0), models.lenet_300_100(rng=0)
prune.prune(once, 0.999, "synflow", "weight", "global", rounds=1)
prune.prune(iterated, 0.999, "synflow", "weight", "global")          # 100 rounds
print(f"one round: kept {kept(once)}, {paths(once):,.0f} paths; 100 rounds: kept "
      f"{kept(iterated)}, {paths(iterated):,.0f} paths")
assert paths(iterated) > 100 * max(paths(once), 1)

# %% [markdown]
# ## 2. SNIP, local against global, at 99%
#
# Local scope prunes every layer to 99%, so no layer can be emptied; but the last layer,
# 1,000 weights for all ten classes, keeps only ten, and the first layer keeps more than
# it needs. Same budget as the lesson, three seeds.

# %%
n_train, epochs = (3_000, 2) if QUICK else (20_000, 3)
result = {"global": [], "local": []}
for seed in (0, 1, 2):
    for scope in result:
        net = models.lenet_300_100(rng=seed)
        prune.prune(net, 0.99, "snip", "weight", scope, one_batch)
        fit(net, X[:n_train], y[:n_train], epochs=epochs, rng=seed, progress=False,
            optimizer=optim.Adam(net.parameters(), lr=3e-3))
        result[scope].append(evaluate(net, X_test, y_test)["accuracy"])
for scope, values in result.items():
    print(f"SNIP 99% {scope:>6}: {np.mean(values):.3f} ± {np.std(values):.3f}")
assert np.mean(result["global"]) > np.mean(result["local"])
