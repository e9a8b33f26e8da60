# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 07: unit and filter pruning
#
# **Goal.** Prune whole neurons and whole convolution filters. A structured group is more than
# a row of weights: the bias, the matching BatchNorm entries and the next layer's inputs belong
# to it. Masked this way, the network computes exactly what a physically smaller network
# computes, and the FLOP count says how much smaller.

# %%
import os

import numpy as np

from minprune import Tensor, models, nn, prune, viz, zoo
from minprune.nn import evaluate
from minprune import tables

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %% [markdown]
# ## 1. What a unit group spans

# %%
mlp = models.lenet_300_100(rng=0)
unit_layers = prune.prunable_layers(mlp, "unit")
for layer in unit_layers:
    print(f"layer {layer.name}: {layer.n_groups} units, each spanning",
          ", ".join(f"{m.name}[axis {m.axis}]" for m in layer.members))
assert [layer.name for layer in unit_layers] == ["1", "3"]        # output layer keeps its units

# %% [markdown]
# ## 2. Filters of LeNet-5, and the Flatten block
#
# Filter k of the last convolution becomes 16 consecutive inputs of the first Linear layer
# (its 4x4 feature map after pooling): those 16 columns belong to the filter's group.

# %%
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
net = zoo.trained("lenet5", quick=QUICK, log=print)   # trained once (seconds), then loaded
dense = evaluate(net, X_test, y_test)["accuracy"]
print(f"dense LeNet-5: test accuracy {dense:.4f}")
assert dense > 0.95
trained = prune.snapshot(net)
result = prune.prune(net, 0.5, "magnitude", "filter", "local")
print(result)
dead = np.flatnonzero(~net[3].weight.mask.reshape(50, -1).any(axis=1))
assert not net[7].weight.mask[:, dead[0] * 16:(dead[0] + 1) * 16].any()

# %% [markdown]
# ## 3. What the FLOP count says
#
# FLOPs are multiply-adds of Linear and Conv2d layers. Removing half the filters of both
# convolutions cuts the second convolution's FLOPs by three quarters (half its inputs, half its
# outputs), and half of the first Linear layer's.

# %%
table = prune.summary(net)
print(table)
total = table[-1]
print(f"FLOPs: {total['flops']:,} dense, {total['effective_flops']:,} effective "
      f"({total['flops'] / total['effective_flops']:.1f}x fewer)")
assert table[1]["effective_flops"] == table[1]["flops"] // 4
viz.layer_sparsity(net, "07_filter_sparsity.png", title="50% of filters")

# %% [markdown]
# ## 4. Masked equals smaller
#
# Delete the pruned filters for real (a few lines of slicing) and compare outputs.

# %%
alive0 = np.flatnonzero(net[0].weight.mask.reshape(20, -1).any(1))
alive3 = np.flatnonzero(net[3].weight.mask.reshape(50, -1).any(1))
small = nn.Sequential(nn.Conv2d(1, len(alive0), 5), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Conv2d(len(alive0), len(alive3), 5), nn.ReLU(), nn.MaxPool2d(2),
                      nn.Flatten(), nn.Linear(16 * len(alive3), 500), nn.ReLU(),
                      nn.Linear(500, 10))
small[0].weight.data, small[0].bias.data = net[0].weight.data[alive0], net[0].bias.data[alive0]
small[3].weight.data = net[3].weight.data[alive3][:, alive0]
small[3].bias.data = net[3].bias.data[alive3]
cols = (alive3[:, None] * 16 + np.arange(16)).ravel()        # each filter's 4x4 block
small[7].weight.data, small[7].bias.data = net[7].weight.data[:, cols], net[7].bias.data
small[9].weight.data, small[9].bias.data = net[9].weight.data, net[9].bias.data
x = Tensor(X_test[:8])
np.testing.assert_allclose(small(x).data, net(x).data, atol=1e-5)
print("the masked network and the smaller network agree; the smaller one has",
      sum(p.size for p in small.parameters()), "parameters instead of",
      sum(p.size for p in net.parameters()))

# %% [markdown]
# `prune.compact` does the same surgery for any flat Sequential: it deletes every unit or
# filter whose consumer has only zeros for it, with its bias, BatchNorm entries and the
# consumer's columns, and leaves the masked model untouched.

# %%
compacted = prune.compact(net)
print(compacted)
assert [p.shape for p in compacted.parameters()] == [p.shape for p in small.parameters()]
np.testing.assert_allclose(compacted(x).data, net(x).data, atol=1e-5)

# %% [markdown]
# ## 5. Accuracy against FLOPs saved: weights versus filters

# %%
# "30% of the weights" and "30% of the filters" are not the same amount of pruning, so the
# comparison is made at equal FLOPs kept: for each filter level, the weight sparsity that keeps
# the same fraction of multiply-adds (found by bisection). Three training seeds of LeNet-5
# from the shelf: at 30% of the filters the two are close, and one network could be luck.


def flops_kept(model, saved, granularity, level):
    prune.restore(model, saved)                            # the trained weights, no masks
    prune.prune(model, level, "magnitude", granularity, "global")
    t = prune.summary(model)[-1]
    return t["effective_flops"] / t["flops"]


def accuracy(model):
    return evaluate(model, X_test, y_test)["accuracy"]


nets = [(net, trained)] + [(m, prune.snapshot(m)) for m in
                           (zoo.trained("lenet5", quick=QUICK, seed=s, log=print) for s in (1, 2))]
rows, equal_flops = [], {0.3: [], 0.5: []}
for seed, (model, saved) in enumerate(nets):
    for level in equal_flops:
        kept = flops_kept(model, saved, "filter", level)
        acc_filter = accuracy(model)
        lo, hi = 0.0, 0.999
        for _ in range(12):                                 # weight level with those FLOPs
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if flops_kept(model, saved, "weight", mid) > kept else (lo, mid)
        kept_w = flops_kept(model, saved, "weight", hi)
        assert abs(kept_w - kept) < 0.01
        equal_flops[level].append((acc_filter, accuracy(model)))
        rows.append({"seed": seed, "kept": kept, "filters": level, "acc_f": acc_filter,
                     "weights": hi, "acc_w": accuracy(model)})
    prune.restore(model, saved)
print(tables.table(rows, [("seed", "seed", "{}"), ("kept", "FLOPs kept", "{:.1%}"),
                          ("filters", "filters pruned", "{:.0%}"), ("acc_f", "accuracy", "{:.4f}"),
                          ("weights", "weights pruned", "{:.1%}"),
                          ("acc_w", "accuracy", "{:.4f}")]))
for level, pairs in equal_flops.items():
    f, w = np.array(pairs).T
    print(f"{level:.0%} of the filters: filters {f.mean():.4f} ± {f.std():.4f}, weights at "
          f"the same FLOPs {w.mean():.4f} ± {w.std():.4f}")
# At the same FLOPs, removing single weights costs less accuracy than removing whole filters
# once half the filters go. Each seed is its own network, so the comparison is paired: the
# weights' lead, seed by seed, is above zero by more than its standard error. At 30% the two
# are close (which is ahead depends on the seeds, and even on the machine's rounding during
# training), and the weights' lead grows with the FLOPs removed:
lead = {level: np.array([w - f for f, w in pairs]) for level, pairs in equal_flops.items()}
print("the weights' lead, seed by seed:", {k: np.round(v, 4).tolist() for k, v in lead.items()})
assert lead[0.5].mean() > lead[0.5].std(ddof=1) / np.sqrt(len(lead[0.5]))
assert lead[0.3].mean() < lead[0.5].mean()

# %% [markdown]
# ## Summary
#
# - A unit or filter group spans the producing weights, bias, BatchNorm entries and the
#   consumer's inputs; masking all of them makes the masked model equal the smaller model.
# - `prune.compact` builds that smaller model: fewer parameters, fewer FLOPs, same outputs.
# - Structured pruning saves FLOPs any dense library can use; unstructured pruning needs sparse
#   kernels (lesson 10) to turn zeros into speed.
#
# ## Exercises
#
# 1. Prune filters by `apoz`. Which filters die first? Check: the pruned filters are those
#    with the lowest scores of `prune.scores(net, "apoz", "filter", data)`.
# 2. Why must the model's output layer never lose units? Check: no group of
#    `prune.prunable_layers` lies in the last layer.
# 3. Time a forward pass of `net` and of `prune.compact(net)` on 256 test images. Is the
#    speed-up the FLOP ratio printed in section 3? Why not exactly? Check: both give the same
#    outputs. Solutions: `lessons/solutions/07_unit_and_filter_pruning.py`.
