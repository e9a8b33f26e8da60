# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 04: magnitude weight pruning
#
# **Goal.** Remove the smallest weights of a trained network and watch what happens to its
# accuracy: the sparsity-accuracy curve without fine-tuning, and the weight distribution before
# and after. Han et al. (2015) showed that most weights of LeNet-300-100 can go.

# %%
import os

import numpy as np

from minprune import prune, viz, zoo
from minprune.nn import evaluate

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %% [markdown]
# ## 1. Train LeNet-300-100 on glyph digits
#
# Glyph digits are digits rendered from matplotlib's fonts with random warps and noise: an
# MNIST-like task that needs no download. The trained network comes from `minprune.zoo`: the
# first run trains it (a few seconds in quick mode, by a fixed recipe: SGD with momentum,
# seed 0) and keeps it on disk; every later run, in any lesson, loads it in milliseconds.

# %%
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
model = zoo.trained("lenet_300_100", quick=QUICK, log=print)
dense = evaluate(model, X_test, y_test)["accuracy"]
print(f"dense test accuracy: {dense:.4f}")
assert dense > 0.9                        # a trained network: what follows is about pruning it
trained = prune.snapshot(model)          # weights, masks and statistics, to restore

# %% [markdown]
# ## 2. The three questions, by hand
#
# How important is each weight? Its magnitude |w|. Which to remove? The 80% with the smallest
# magnitude, in each layer (local scope). Remove them: set a mask, zero the data.

# %%
s = prune.scores(model, criterion="magnitude", granularity="weight")
selection = prune.select(s, sparsity=0.8, scope="local")
for name, keep in selection.keep.items():
    print(f"layer {name}: keep {keep.sum():,} of {keep.size:,}, threshold "
          f"{selection.threshold[name]:.4f}")
prune.apply(model, selection)
print(prune.summary(model))
assert abs(prune.weight_sparsity(model) - 0.8) < 1e-3
assert all(np.all(m.weight.data[~m.weight.mask] == 0) for m in model if hasattr(m, "weight"))

# %% [markdown]
# ## 3. The sparsity-accuracy curve (no fine-tuning)
#
# Reload the trained weights before each level so every point starts from the dense network.

# %%
levels = [0.5, 0.7, 0.8, 0.9, 0.95, 0.98]
accuracy = []
for level in levels:
    prune.restore(model, trained)        # the trained weights, no masks
    prune.prune(model, level, "magnitude", "weight", "local")
    accuracy.append(evaluate(model, X_test, y_test)["accuracy"])
    print(f"sparsity {level:.0%}: accuracy {accuracy[-1]:.4f} (dense {dense:.4f})")
viz.sparsity_accuracy({"magnitude, local": (levels, accuracy)}, "04_curve.png", baseline=dense)
assert accuracy[0] >= accuracy[-1]
assert accuracy[0] > dense - 0.02                         # half the weights cost little
assert accuracy[-1] < dense - 0.1                         # ... and 98% a lot

# %% [markdown]
# ## 4. Weights before and after
#
# Trained weights cluster around zero; magnitude pruning cuts out the middle of the
# distribution and leaves two tails.

# %%
prune.restore(model, trained)
before = {str(i): m.weight.data.copy() for i, m in enumerate(model) if hasattr(m, "weight")}
prune.prune(model, 0.9, "magnitude", "weight", "local")
after = {str(i): m.weight.data for i, m in enumerate(model) if hasattr(m, "weight")}
viz.weight_histograms(before, after, "04_histograms.png")
viz.mask_image(model[3].weight, "04_mask.png")
kept = after["1"][after["1"] != 0]
assert np.abs(kept).min() >= np.quantile(np.abs(before["1"]), 0.9) - 1e-7
w = before["1"].ravel()
# A uniform initialisation has 29% of its weights within half a standard deviation of zero;
# training piles them up there (about half of them here):
assert np.mean(np.abs(w) < 0.5 * w.std()) > 0.4

# %% [markdown]
# ## Summary
#
# - Magnitude pruning keeps the largest |w|; the count per layer is exact.
# - Without any retraining a large fraction of weights can be removed at little cost; past a
#   point accuracy falls off a cliff.
#
# ## Exercises
#
# 1. Prune 90% and fine-tune for one epoch with `minprune.nn.fit`: how much accuracy comes
#    back? Check that the pruned weights are still exactly zero afterwards.
# 2. Which layer holds most of the weights, and what happens if you only prune that one?
#    Check: pruning only that layer to 90% removes over 75% of all weights and loses less
#    than pruning every layer to 90%. Solutions: `lessons/solutions/04_magnitude_weight_pruning.py`.
