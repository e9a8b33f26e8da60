# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 16: pruning networks with shortcuts
#
# **Goal.** Every network so far was a chain, where a filter's group is its row, its
# BatchNorm entry and the next layer's input. A ResNet adds each block's input to its output,
# and that addition ties channels of different layers together: they can only go together.
# We see the network break when a filter is cut alone, let minprune find the coupled groups
# from the structure, and then compare the two ways to make a ResNet smaller: thinner (fewer
# filters in every group) or shallower (whole blocks removed, their shortcuts kept), at equal
# FLOPs, over three seeds - and see which block each criterion removes, and why.

# %%
import copy
import os

import numpy as np

from minprune import Tensor, nn, prune, viz, zoo
from minprune.nn import evaluate, fit, optim
from minprune.nn.walk import depth, named_leaves
from minprune.prune.blocks import stages
from minprune.tables import table
from minprune.timing import interleaved_times, one_thread

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
SEEDS = (0, 1, 2)
(X, y), (X_held, y_held), (X_test, y_test) = zoo.dataset(quick=QUICK)
if QUICK:
    X_test, y_test = X_test[:300], y_test[:300]
calibration = (X_held[:256], y_held[:256])      # held out from training, never the test set
net = zoo.trained("resnet8", quick=QUICK, log=print)
dense_accuracy = evaluate(net, X_test, y_test)["accuracy"]
print(net[5])
print(f"resnet8 (width {net[0].out_channels}): test accuracy {dense_accuracy:.4f}, "
      f"{depth(net)} layers deep")

# %% [markdown]
# ## 1. Why an addition couples channels
#
# Block 3 computes `body(x) + x`. Its body ends with a convolution (`3.body.3`) and a
# BatchNorm; channel k of the sum is channel k of that convolution plus channel k of `x` -
# which the stem convolution (`0`) made. Delete half the filters of `3.body.3` the way lesson
# 07 deletes a chain's filters, and the addition no longer adds up:

# %%
broken = copy.deepcopy(net).eval()
body = broken[3].body
half = body[3].out_channels // 2
body[3].weight.data = body[3].weight.data[:half]
body[3].out_channels = half
for name in ("weight", "bias"):
    getattr(body[4], name).data = getattr(body[4], name).data[:half]
body[4].running_mean, body[4].running_var = body[4].running_mean[:half], body[4].running_var[:half]
body[4].num_features = half
try:
    broken(Tensor(X_test[:1]))
    raise AssertionError("the cut network ran")
except ValueError as error:
    message = str(error)
print(message)
assert "the body gives" in message and "but the shortcut" in message

# %% [markdown]
# To remove channel k of that sum, every layer that makes it (the stem convolution, the last
# convolution of block 3, their BatchNorms) must lose filter k, and every layer that reads it
# (the first convolution of blocks 3 and 5, block 5's shortcut) must lose input channel k.
#
# ## 2. The groups, found from the structure
#
# `prune.graph` follows each tensor's channels through the model: a Conv2d reads one channel
# space and opens a new one, a BatchNorm or ReLU keeps it, an addition merges the spaces of
# its two branches (union-find), a depthwise convolution keeps its input's space. Every merged
# space that is neither the image's channels nor the output's is one group. (Torch-Pruning's
# DependencyGraph finds the same groups on the PyTorch twin: `tests/test_prune_graph.py`.)

# %%
groups = prune.prunable_layers(net, "filter")
print(table([{"group": " + ".join(g.producers), "channels": g.n_groups,
              "layers": ", ".join(sorted({m.name.rsplit(".", 1)[0] for m in g.members}))}
             for g in groups],
            [("group", "produced by", "{}"), ("channels", "channels", "{}"),
             ("layers", "layers it spans", "{}")]))
coupled = [g for g in groups if g.coupled]
assert len(groups) == 6 and [g.producers for g in coupled] == [
    ["0", "3.body.3"], ["5.body.3", "5.shortcut.0"], ["7.body.3", "7.shortcut.0"]]

layer_names = [n for n, m in named_leaves(net) if isinstance(m, (nn.Conv2d, nn.Linear))]
fig = viz.new_figure(9, 3.2)
ax = fig.subplots()
for row, g in enumerate(groups):
    for m in g.members:
        if not m.name.endswith(".weight") or m.param.ndim < 2:
            continue
        col = layer_names.index(m.name.rsplit(".", 1)[0])
        produces = m.axis == 0
        ax.plot(col, row, "s" if produces else "o", ms=9, color=f"C{row}",
                markerfacecolor=f"C{row}" if produces else "white")
ax.set(xticks=range(len(layer_names)), yticks=range(len(groups)),
       yticklabels=[" + ".join(g.producers) for g in groups],
       title="each group's layers: filled = its filters, hollow = its input channels")
ax.set_xticklabels(layer_names, rotation=40, ha="right", fontsize=8)
ax.invert_yaxis()
viz.save_png(fig, "16_groups.png")

# %% [markdown]
# Pruned group by group, the masked network computes exactly what the physically smaller
# network computes: `prune.compact` deletes each group's channels everywhere they appear.

# %%
thin = copy.deepcopy(net)
prune.prune(thin, 0.5, "magnitude", "filter", "local")
small = prune.compact(thin).eval()
same = np.abs(small(Tensor(X_test[:64])).data - thin.eval()(Tensor(X_test[:64])).data).max()
print(f"half of every group pruned: {sum(p.size for p in net.parameters()):,} -> "
      f"{sum(p.size for p in small.parameters()):,} parameters; largest output difference "
      f"masked vs compacted {same:.1e}")
assert same < 1e-4

# %% [markdown]
# ## 3. Thinner or shallower, at equal FLOPs and at equal time
#
# Removing a block (granularity `"block"`, criterion `block_influence`: the block that turns
# its input least goes) keeps its shortcut: the network is one block shallower. Removing
# filters keeps every block but makes them thinner. Which keeps more accuracy for the same
# cost? Cost is two things: multiply-adds, and measured time - a block removed saves its
# calls as well as its arithmetic. For each seed of the zoo's resnet8 we remove one of its
# three blocks, then find the filter sparsity with the closest FLOPs, and the one whose
# compiled plan takes the closest time at batch 64 (timed once, on seed 0's networks, in
# turns on one thread: a measurement of this machine, which the lesson prints and does not
# check), and fine-tune all three the same way (one epoch at a tenth of the training rate).

# %%
from minprune import infer  # noqa: E402

n_tune = 400 if QUICK else 8_000
LEVELS = np.round(np.arange(0.1, 0.95, 0.1), 2)


def flops(model):
    return prune.summary(model)[-1]["effective_flops"]


def tuned(model, seed):
    fit(model, X[:n_tune], y[:n_tune], epochs=1, batch_size=64, rng=seed, progress=False,
        optimizer=optim.SGD(model.parameters(), lr=0.02, momentum=0.9))
    return evaluate(model, X_test, y_test)["accuracy"]


def pruned_versions(seed):
    """Seed's network one block shallower, and thinner at every level of LEVELS."""
    dense = zoo.trained("resnet8", quick=QUICK, seed=seed)
    shallow = copy.deepcopy(dense)
    prune.prune(shallow, 0.34, "block_influence", "block", "global", data=calibration)
    thin_at = {}
    for level in LEVELS:
        candidate = copy.deepcopy(dense)
        prune.prune(candidate, float(level), "magnitude", "filter", "local")
        thin_at[level] = prune.compact(candidate)
    return dense, prune.compact(shallow), thin_at


dense, shallow, thin_at = pruned_versions(0)
plans = {"dense": infer.compile(dense.eval()), "shallower, one block":
         infer.compile(shallow.eval())}
plans.update({f"thinner, {level:.0%}": infer.compile(thin_at[level].eval())
              for level in LEVELS})
timed = []
with one_thread():
    for batch in (1, 64):
        x = X_test[:batch]
        times = interleaved_times({k: (lambda p=p, x=x: p(x)) for k, p in plans.items()},
                                  rounds=5 if QUICK else 30)
        timed += [{"model": k, "batch": batch, "ms": 1e3 * t,
                   "speedup": times["dense"] / t} for k, t in times.items()]
print(table(timed, [("model", "model", "{}"), ("batch", "batch", "{}"),
                    ("ms", "milliseconds", "{:.3f}"), ("speedup", "vs dense", "{:.2f}x")]))
at_64 = {r["model"]: r["ms"] for r in timed if r["batch"] == 64}
same_time = min(LEVELS, key=lambda s: abs(at_64[f"thinner, {s:.0%}"]
                                               - at_64["shallower, one block"]))
print(f"at batch 64 the shallower network takes as long as the thinner one with "
      f"{same_time:.0%} of its filters pruned")

results = []
for seed in SEEDS:
    dense, shallow, thin_at = pruned_versions(seed) if seed else (dense, shallow, thin_at)
    level = min(LEVELS, key=lambda s: abs(flops(thin_at[s]) - flops(shallow)))
    row = {"seed": seed, "dense": evaluate(dense, X_test, y_test)["accuracy"],
           "level": level, "flops_dense": flops(dense), "flops_shallow": flops(shallow),
           "flops_thin": flops(thin_at[level]), "depth": depth(shallow),
           "shallow_before": evaluate(shallow, X_test, y_test)["accuracy"],
           "thin_before": evaluate(thin_at[level], X_test, y_test)["accuracy"]}
    row["shallow"], row["thin"] = tuned(shallow, seed), tuned(thin_at[level], seed)
    row["same_time"] = tuned(copy.deepcopy(thin_at[same_time]), seed)
    results.append(row)
print(table(results, [("seed", "seed", "{}"), ("dense", "dense", "{:.3f}"),
                      ("depth", "depth left", "{}"), ("level", "filters, same FLOPs", "{:.0%}"),
                      ("flops_shallow", "FLOPs, shallower", "{:,}"),
                      ("flops_thin", "FLOPs, thinner", "{:,}"),
                      ("shallow_before", "shallower, no tuning", "{:.3f}"),
                      ("thin_before", "thinner, no tuning", "{:.3f}"),
                      ("shallow", "shallower, tuned", "{:.3f}"),
                      ("thin", "thinner (FLOPs), tuned", "{:.3f}"),
                      ("same_time", "thinner (time), tuned", "{:.3f}")]))


def mean_sd(key):
    values = [r[key] for r in results]
    return np.mean(values), np.std(values, ddof=1)


for key in ("dense", "shallow", "thin", "same_time"):
    print(f"{key}: {mean_sd(key)[0]:.3f} ± {mean_sd(key)[1]:.3f} (mean ± sample std, 3 seeds)")
for r in results:                                   # the FLOPs match within a grid step
    assert abs(r["flops_thin"] - r["flops_shallow"]) < 0.1 * r["flops_dense"]
    assert r["depth"] < depth(net)
assert mean_sd("thin")[0] > mean_sd("shallow")[0]   # resnet8: thinner keeps more

# %% [markdown]
# On resnet8, where each block is a third of the network, the thinner network keeps more
# at equal FLOPs. At equal time the comparison depends on the machine: the shallower network
# makes fewer calls, which counts most at batch 1, and which of the two wins there is printed
# above, not checked.

# %% [markdown]
# ## 4. Which block each criterion removes, and why
#
# Three scores for each of the three blocks of seed 0's network: the norm of its weights
# (`magnitude`), the loss increase measured when it alone is removed (`sensitivity`, on
# the calibration samples), and `block_influence`, 1 - cos between what the block receives
# (or, for a block that changes the shape, what its shortcut gives) and what it returns.

# %%
scored = {c: np.concatenate([v for v in prune.scores(
    zoo.trained("resnet8", quick=QUICK, seed=0), c, "block", calibration).values.values()])
    for c in ("magnitude", "sensitivity", "block_influence")}
names = [n for s in stages(net) for n, _ in s.blocks]
print(table([{"block": n, **{c: scored[c][i] for c in scored},
              "removed by": ", ".join(c for c in scored if np.argmin(scored[c]) == i)}
             for i, n in enumerate(names)],
            [("block", "block", "{}"), ("magnitude", "weight norm", "{:.2f}"),
             ("sensitivity", "loss increase", "{:+.4f}"),
             ("block_influence", "1 - cos", "{:.4f}"), ("removed by", "removed by", "{}")]))
without = {}
for name in names:                         # each block alone masked away, the loss measured
    model = zoo.trained("resnet8", quick=QUICK, seed=0)
    params = dict(model.named_parameters())
    for stage in stages(model):
        keep = np.array([n != name for n, _ in stage.blocks])
        for param, mask in stage.expand(keep).items():
            params[param].mask = mask
            params[param].data *= mask
    without[name] = evaluate(model, *calibration)["loss"]
base = evaluate(zoo.trained("resnet8", quick=QUICK, seed=0), *calibration)["loss"]
assert np.allclose([without[n] - base for n in names], scored["sensitivity"], atol=1e-4)
assert int(np.argmin(scored["sensitivity"])) == int(np.argmin([without[n] for n in names]))

# %% [markdown]
# `sensitivity` is the measured answer - it removes the block whose absence costs least -
# at the price of one pass over the calibration data per block. `block_influence` needs one
# pass in all and asks a cheaper question: how far does the block turn its input? The weight
# norm knows nothing of the data; wider blocks have larger norms just by having more weights.

# %% [markdown]
# ## Summary
#
# - An addition joins the channels of everything that produces it and everything that reads
#   it: cutting one layer alone breaks the network (or, masked, silently changes it).
# - The coupled groups follow from the structure: channel spaces merged at every addition and
#   kept through depthwise convolutions; pruned as groups, masked equals compacted.
# - A ResNet can be made thinner (filters of every group) or shallower (whole blocks, their
#   shortcuts kept); at equal FLOPs the two keep different accuracy and take different time.
# - Block criteria range from the free (weight norm) through the cheap (block influence) to
#   the measured (sensitivity).
#
# ## Exercises
#
# 1. Remove two of the three blocks instead of one. What does the shallower network keep,
#    and how many filters must the thinner one lose to match its FLOPs?
# 2. Prune `zoo.trained("mobilenet")` by filters. Which groups does its inverted residual
#    make, and where does each depthwise convolution's filter go?
# 3. Compare `magnitude` and `block_influence` on `resnet20` (nine blocks, three stages) with
#    local scope (a third of every stage). Do they remove the same blocks?
