# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 14: pruning at initialisation
#
# **Goal.** Every lesson so far pruned a *trained* network. Could we prune before training,
# and pay for training only the small network? Lottery tickets (lesson 08) say a good sparse
# network exists at initialisation, but find it by training first. Three criteria try without
# training: magnitude at initialisation, SNIP (Lee et al. 2019: |w·∂L/∂w| on one batch) and
# SynFlow (Tanaka et al. 2020: no data at all, pruned in 100 rounds). We see where each puts
# its cuts, meet **layer collapse** - a criterion that empties a whole layer, after which no
# training can help - and train what each one keeps.

# %%
import os

import numpy as np

from minprune import models, prune, viz, zoo
from minprune.nn import evaluate, fit, optim
from minprune.tables import table

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
SEEDS = (0, 1, 2)
CRITERIA = ("random", "magnitude", "snip", "synflow")
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
one_batch = (X[:256], y[:256])            # SNIP looks at one batch of training data


def pruned_at_init(criterion, sparsity, seed):
    """A fresh LeNet-300-100, pruned before any training (global scope)."""
    net = models.lenet_300_100(rng=seed)
    prune.prune(net, sparsity, criterion, "weight", "global", one_batch, rng=seed)
    return net


def kept(net):
    """Weights kept in each of the three layers."""
    return [int(layer.weight.mask.sum()) for layer in prune.prunable_layers(net, "weight")]


def paths(net):
    """Input-to-output paths through the kept weights: the product of the 0/1 masks."""
    masks = [layer.weight.mask.astype(np.float64) for layer in prune.prunable_layers(net, "weight")]
    return float((masks[2] @ masks[1] @ masks[0]).sum())

# %% [markdown]
# ## 1. Where each criterion cuts
#
# LeNet-300-100 has 235,200 + 30,000 + 1,000 weights. At initialisation every layer's
# weights are drawn with a scale of 1/√fan-in, so the first layer's are the smallest: a
# global magnitude ranking takes them first. SNIP's |w·g| and SynFlow's |w·∂R/∂w| depend on
# the layers around each weight too. At each sparsity: the fraction of each layer kept and
# the number of input-to-output paths left.

# %%
LEVELS = (0.99, 0.999)
sizes = [235_200, 30_000, 1_000]
at_init = {(c, s): pruned_at_init(c, s, 0) for c in CRITERIA for s in LEVELS}
rows = []
for (c, s), net in at_init.items():
    k = kept(net)
    rows.append({"criterion": c, "sparsity": s, **{f"l{i}": k[i] for i in range(3)},
                 "paths": paths(net)})
print(table(rows, [("criterion", "criterion", "{}"), ("sparsity", "sparsity", "{:.1%}"),
                   ("l0", "784x300 kept", "{:,}"), ("l1", "300x100 kept", "{:,}"),
                   ("l2", "100x10 kept", "{:,}"), ("paths", "paths", "{:,.0f}")]))

fig = viz.new_figure(10, 3.4)
for ax, c in zip(fig.subplots(1, len(CRITERIA), sharey=True), CRITERIA):
    for i, name in enumerate(("784x300", "300x100", "100x10")):
        ax.plot([1 - s for s in LEVELS], [max(kept(at_init[(c, s)])[i] / sizes[i], 1e-6)
                                          for s in LEVELS], "o-", label=name)
    ax.set(xscale="log", yscale="log", title=c, xlabel="fraction of all weights kept")
    ax.invert_xaxis()
fig.axes[0].set_ylabel("fraction of the layer kept")
fig.axes[0].legend(fontsize=8)
viz.save_png(fig, "14_layer_fractions.png")

assert kept(at_init[("magnitude", 0.99)])[0] <= 1              # the first layer emptied
at_most = {c: paths(at_init[(c, 0.999)]) for c in CRITERIA}
assert at_most["magnitude"] == at_most["random"] == 0 and at_most["snip"] < at_most["synflow"]
assert kept(at_init[("snip", 0.999)])[0] <= 1 < 100 < kept(at_init[("synflow", 0.999)])[0]

# %% [markdown]
# Magnitude at initialisation knows nothing but the layers' scales: by 99% it has emptied
# the first layer down to a single weight (layer collapse: the network sees one pixel), by
# 99.9% no path is left at all. SNIP keeps gradient-weighted weights and starves the first
# layer down to a single weight at 99.9%: at, or one weight away from, collapse (which of
# the two depends on the batch it sees). SynFlow's score is a weight's share of the
# products along all paths, and its 100 rounds re-score as paths disappear: a weight on a
# thinning layer becomes more important, so the layers thin together and the most paths
# survive - by design it never empties a layer before the network is maximally pruned.
# Random pruning thins every layer by the same fraction, and at 99.9% the few survivors no
# longer line up into a single path.

# %% [markdown]
# ## 2. Train what each one keeps
#
# Each pruned network is trained with the same budget (Adam, 3e-3, 4 epochs on 6,000
# training images in quick mode, 3 epochs on 20,000 in full mode), from the same
# initialisation, over three seeds; the dense network as the reference. (Magnitude's
# collapse and the dense reference are not luck: one seed each.)

# %%
n_train, epochs = (6_000, 4) if QUICK else (20_000, 3)


def trained(net, seed):
    fit(net, X[:n_train], y[:n_train], epochs=epochs, rng=seed, progress=False,
        optimizer=optim.Adam(net.parameters(), lr=3e-3))
    return evaluate(net, X_test, y_test)["accuracy"]


accuracy = {"dense": [trained(models.lenet_300_100(rng=0), 0)],
            "magnitude": [trained(at_init[("magnitude", 0.99)], 0)]}
for c in ("random", "snip", "synflow"):
    accuracy[c] = [trained(at_init[(c, 0.99)] if s == 0 else pruned_at_init(c, 0.99, s), s)
                   for s in SEEDS]
print(table([{"name": k, "mean": np.mean(v), "sd": np.std(v)} for k, v in accuracy.items()],
            [("name", "99% pruned at initialisation", "{}"), ("mean", "test accuracy", "{:.3f}"),
             ("sd", "sd over seeds", "{:.3f}")]))
mean = {k: np.mean(v) for k, v in accuracy.items()}
spread = max(np.std(v) for v in accuracy.values())
assert max(accuracy["magnitude"]) < 0.15                 # collapsed: chance, whatever training
assert min(mean["snip"], mean["synflow"]) > mean["random"] + 2 * spread
assert mean["dense"] > max(mean[c] for c in CRITERIA)

# %% [markdown]
# ## Summary
#
# - Pruning at initialisation is cheap - one batch (SNIP) or none (SynFlow) - and at 99% the
#   data-aware and path-aware criteria keep networks that train far better than random.
# - Magnitude at initialisation only sees the initialiser's per-layer scale: it empties the
#   widest layer, and a collapsed network stays at chance however long it trains.
# - SynFlow avoids layer collapse by construction (iterative, conserving the paths' flow);
#   SNIP comes close to collapse at the highest sparsities.
# - None of them matches the dense network at this sparsity and budget; pruning a trained
#   network (lessons 04-08) still keeps more for the same size.
#
# ## Exercises
#
# 1. Run SynFlow with `rounds=1` (`prune.prune(..., rounds=1)`) at 99.9%. Does it collapse
#    a layer now? Check: count the paths with `paths(net)` against the 100-round result
#    (`lessons/solutions/14_pruning_at_initialisation.py`).
# 2. Prune 99% by `snip` with local scope (every layer 99%) and train it as in section 2.
#    Is it better or worse than global SNIP?
#    Check: `lessons/solutions/14_pruning_at_initialisation.py`.
