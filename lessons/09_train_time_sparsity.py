# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 09: sparsity during training
#
# **Goal.** Instead of pruning a network trained without a thought for sparsity, ask for
# sparsity while training: an L1 penalty pushes single weights to zero, a group-lasso penalty
# pushes whole units to zero, and L0 gates learn which units to keep at all. Each makes the
# pruning that follows cheaper.

# %%
import os

import numpy as np

from minprune import Tensor, models, nn, prune, viz, zoo
from minprune.nn import evaluate, fit, optim
from minprune.prune import regularizers as R

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
EPOCHS = 2 if QUICK else 6
# The shelf's glyph digits (`minprune.zoo`): every network here is trained from scratch, with
# its penalty, on the same training split, and measured on the test split.
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)


def train(model, penalty=None, lr=0.05):
    fit(model, X, y, epochs=EPOCHS, rng=0, penalty=penalty,
        optimizer=optim.SGD(model.parameters(), lr=lr, momentum=0.9))
    return model


def accuracy(model):
    return evaluate(model, X_test, y_test)["accuracy"]

# %% [markdown]
# ## 1. L1: many small weights
#
# The penalty λ·Σ|w| adds λ·sign(w) to every weight's gradient: a constant pull towards zero,
# which small weights cannot resist. Compare the weight histograms, then prune both networks
# by magnitude without fine-tuning.

# %%
plain = train(models.lenet_300_100(rng=0))
sparse_l1 = train(models.lenet_300_100(rng=0), penalty=lambda m: 1e-5 * R.l1(m))
fig = viz.new_figure()
ax = fig.subplots()
for name, net in (("plain", plain), ("L1", sparse_l1)):
    ax.hist(net[1].weight.data.ravel(), bins=120, range=(-0.15, 0.15), alpha=0.6, label=name)
ax.set(xlabel="weight", ylabel="count", yscale="log", title="first layer, 784 x 300")
ax.legend()
viz.save_png(fig, "09_l1_histograms.png")
rows = []
for level in (0.8, 0.9, 0.95):
    row = {"sparsity": level}
    for name, net in (("plain", plain), ("L1", sparse_l1)):
        trial = models.lenet_300_100(rng=0)
        trial.load_state_dict(net.state_dict())
        prune.prune(trial, level, "magnitude", "weight", "global")
        row[name] = accuracy(trial)
    rows.append(row)
print(f"dense: plain {accuracy(plain):.4f}, L1 {accuracy(sparse_l1):.4f}")
for row in rows:
    print(f"pruned to {row['sparsity']:.0%} without fine-tuning: plain {row['plain']:.4f}, "
          f"L1 {row['L1']:.4f}")
near_zero = [float((np.abs(net[1].weight.data) < 1e-3).mean()) for net in (plain, sparse_l1)]
print(f"first-layer weights below 1e-3: plain {near_zero[0]:.1%}, L1 {near_zero[1]:.1%}")
assert near_zero[1] > near_zero[0]
assert rows[-1]["L1"] > rows[-1]["plain"]                  # L1 survives heavy pruning better

# %% [markdown]
# ## 2. Group lasso: whole units
#
# The penalty Σ √size·‖w_unit‖₂ is an L1 norm over units: it pulls a unit's whole weight row
# towards zero together, so the units die as a whole and unit pruning loses less.

# %%
grouped = train(models.lenet_300_100(rng=0), penalty=lambda m: 2e-4 * R.group_lasso(m, "unit"))
norms = np.linalg.norm(grouped[1].weight.data, axis=1)
plain_norms = np.linalg.norm(plain[1].weight.data, axis=1)
print(f"unit norms, first layer: plain median {np.median(plain_norms):.3f}, "
      f"group lasso median {np.median(norms):.3f}")
unit_rows = {}
for name, net in (("plain", plain), ("group lasso", grouped)):
    trial = models.lenet_300_100(rng=0)
    trial.load_state_dict(net.state_dict())
    prune.prune(trial, 0.7, "magnitude", "unit", "global")
    unit_rows[name] = accuracy(trial)
    print(f"{name:>12}: 70% of units pruned, accuracy {unit_rows[name]:.4f}")
assert np.median(norms) < np.median(plain_norms)

# %% [markdown]
# ## 3. L0 gates: learn which units to keep
#
# A gate z ∈ [0, 1] multiplies each hidden unit. During training z is random (the
# hard-concrete distribution, which can be exactly 0 or 1); the penalty is the expected number
# of open gates. After training, closed gates are folded into the next layer and
# `prune.compact` deletes their units.

# %%
gated = nn.Sequential(nn.Flatten(), nn.Linear(784, 300, rng=0), nn.ReLU(), R.L0Gate(300, rng=1),
                      nn.Linear(300, 100, rng=0), nn.ReLU(), R.L0Gate(100, rng=2),
                      nn.Linear(100, 10, rng=0))
# The gates start with sigmoid(log_alpha) = 0.9 (the `open_probability` argument); a gate is
# then non-zero with probability P(z > 0) = sigmoid(log_alpha - beta·log(-gamma/zeta)) = 0.978,
# the term `expected_l0()` sums. A gate closes once its log_alpha has moved by about 4.6 (to a
# deterministic 0); Adam moves it by about the learning rate per step, so the short quick run
# needs a larger rate.
first_gate = gated[3]
start_open = first_gate.expected_l0().data / first_gate.n
print(f"P(gate > 0) at the start: {start_open:.3f}")
assert abs(start_open - 0.978) < 0.001
fit(gated, X, y, epochs=3 if QUICK else EPOCHS, rng=0, penalty=lambda m: 0.02 * R.l0(m),
    optimizer=optim.Adam(gated.parameters(), lr=5e-3 if QUICK else 3e-3))
small = prune.compact(R.fold_gates(gated))
x = Tensor(X_test[:16])
gated.eval()
np.testing.assert_allclose(small(x).data, gated(x).data, atol=1e-4)
print(small)
print(f"gated network {accuracy(gated):.4f}; compacted: {accuracy(small):.4f}, hidden units "
      f"{small[1].out_features} + {small[3].out_features} of 300 + 100, "
      f"{sum(p.size for p in small.parameters()):,} parameters")
assert small[1].out_features < 300
assert accuracy(small) > 0.85

# %% [markdown]
# ## 4. Network slimming: L1 on the BatchNorm scales of a conv net
#
# Every filter of `small_vgg` is followed by a BatchNorm whose scale gamma multiplies the
# filter's output. Liu et al. (2017) put the L1 penalty on the gammas alone
# (`regularizers.bn_l1`): filters the network can do without get gamma near zero, are pruned
# by `criterion="bn_scale"` and deleted by `prune.compact`.

# %%
vgg_plain = models.small_vgg(rng=0)
vgg_slim = models.small_vgg(rng=0)
X_vgg, y_vgg = (X[:3000], y[:3000]) if QUICK else (X[:12000], y[:12000])   # conv: slower
for net, penalty in ((vgg_plain, None), (vgg_slim, lambda m: 1e-2 * R.bn_l1(m))):
    fit(net, X_vgg, y_vgg, epochs=3, rng=0, penalty=penalty,
        optimizer=optim.SGD(net.parameters(), lr=0.05, momentum=0.9))
gammas = {name: np.concatenate([np.abs(m.weight.data) for m in net
                                if isinstance(m, nn.BatchNorm2d)])
          for name, net in (("plain", vgg_plain), ("bn_l1", vgg_slim))}
fig = viz.new_figure(6, 3.2)
ax = fig.subplots()
edges = np.linspace(0, max(g.max() for g in gammas.values()), 40)
for name, g in gammas.items():
    ax.hist(g, edges, alpha=0.6, label=f"{name} (median {np.median(g):.3f})")
ax.set(xlabel="|gamma|", ylabel="filters", title="BatchNorm scales of small_vgg")
ax.legend(fontsize=8)
viz.save_png(fig, "09_bn_scales.png")
print({name: f"median |gamma| {np.median(g):.3f}" for name, g in gammas.items()})
assert np.median(gammas["bn_l1"]) < np.median(gammas["plain"])
slim_rows = {}
for name, net in (("plain", vgg_plain), ("bn_l1", vgg_slim)):
    before = accuracy(net)
    prune.prune(net, 0.5, "bn_scale", "filter", "global")
    compact = prune.compact(net)
    slim_rows[name] = (before, accuracy(net), sum(p.size for p in compact.parameters()))
    x = Tensor(X_test[:8])
    net.eval(), compact.eval()
    np.testing.assert_allclose(compact(x).data, net(x).data, atol=1e-4)
    print(f"{name:>6}: dense {before:.4f}, half the filters pruned by |gamma| "
          f"{slim_rows[name][1]:.4f}, compacted to {slim_rows[name][2]:,} parameters")
assert slim_rows["bn_l1"][2] < sum(p.size for p in models.small_vgg(rng=0).parameters())
# What the penalty guarantees: the half of the filters that |gamma| prunes carries a much
# smaller share of all the scale in the slimmed network - they were switched off already.
# (Whether that shows as a smaller accuracy loss in one run of a small net is luck; compare
# several seeds in the exercises.)
share = {}
for name, g in gammas.items():
    ranked = np.sort(g)
    share[name] = ranked[: len(g) // 2].sum() / g.sum()
    print(f"{name:>6}: the lower half of |gamma| holds {share[name]:.1%} of the total")
assert share["bn_l1"] < 0.5 * share["plain"]

# %% [markdown]
# ## Summary
#
# - L1 makes most weights small, so magnitude pruning removes them at little cost.
# - Group lasso does the same for whole units (or filters): structured pruning gets cheaper.
# - L0 gates learn the architecture: units whose gate closes are deleted for real.
# - Network slimming puts L1 on the BatchNorm scales only: the filters to prune are the ones
#   whose scale went to zero.
# - All three trade a little accuracy during training for sparsity afterwards; the strength λ
#   sets the trade.
#
# ## Exercises
#
# 1. Raise the L1 strength tenfold. What happens to the dense accuracy, and to the 95% column?
# 2. Use `group_lasso(m, "filter")` on `lenet5` and prune filters afterwards (lesson 07).
# 3. Plot the number of open gates after each epoch (a `fit` callback with `on_epoch_end`).
# 4. Train the plain and the slimmed `small_vgg` with three seeds each and prune 70% of the
#    filters by |gamma|: does the slimmed one lose less on average, and by more than the
#    spread between seeds?
