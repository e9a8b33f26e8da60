# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 07's exercises

# %%
import os
import time

import numpy as np

from minprune import Tensor, no_grad, prune, zoo
from minprune.nn import evaluate

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
net = zoo.trained("lenet5", quick=QUICK)
calibration = (validation[0][:500], validation[1][:500])

# %% [markdown]
# ## 1. Filters by APoZ
#
# APoZ scores a filter by how often its ReLU output is non-zero on calibration images (the
# criterion keeps the *active* ones): the first to go are the filters that are almost always
# zero - dead, or tuned to something the digits rarely show.

# %%
scores = prune.scores(net, "apoz", "filter", calibration).values
first_conv = prune.prunable_layers(net, "filter")[0].name
prune.prune(net, 0.25, "apoz", "filter", "local", calibration)
mask = prune.get_masks(net)[f"{first_conv}.weight"]
gone = np.flatnonzero(~mask.reshape(mask.shape[0], -1).any(axis=1))
print(f"layer {first_conv}: pruned filters {gone.tolist()}, their fraction of non-zero "
      f"outputs {np.round(scores[first_conv][gone], 3).tolist()} (median of all "
      f"{np.median(scores[first_conv]):.3f})")
assert set(gone) == set(np.argsort(scores[first_conv], kind="stable")[:len(gone)])

# %% [markdown]
# ## 2. The output layer keeps its units
#
# The last layer's units are the classes: removing one would delete a class from the
# answer, and nothing after it could make up for the loss. The groups never include it.

# %%
units = {layer.name for layer in prune.prunable_layers(net, "unit")}
filters = {layer.name for layer in prune.prunable_layers(net, "filter")}
last = str(len(net) - 1)
print("unit groups in layers", sorted(units), "; filter groups in", sorted(filters),
      "; the output layer is", last)
assert last not in units | filters

# %% [markdown]
# ## 3. Compacted against masked, timed
#
# The compacted network computes the same function with smaller matrices. Its speed-up is
# not the FLOP ratio: pooling, activations, the Python per layer and memory traffic do not
# shrink in proportion. (The times are for you to read; the check is that the outputs agree.)

# %%
small = prune.compact(net)
x = Tensor(X_test[:256])
net.eval(), small.eval()
with no_grad():
    for name, model in (("masked", net), ("compacted", small)):
        model(x)                                            # warm up
        start = time.perf_counter()
        for _ in range(3):
            out = model(x)
        print(f"{name:>10}: {(time.perf_counter() - start) / 3 * 1e3:.1f} ms per 256 images")
    np.testing.assert_allclose(small(x).data, net(x).data, rtol=1e-4, atol=1e-4)
print(f"accuracy masked {evaluate(net, X_test, y_test)['accuracy']:.4f}, compacted "
      f"{evaluate(small, X_test, y_test)['accuracy']:.4f}")
