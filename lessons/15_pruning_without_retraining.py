# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 15: pruning without retraining
#
# **Goal.** Lesson 06 ended with Optimal Brain Surgeon: remove a weight and move the others
# by $-\frac{w_q}{[H^{-1}]_{qq}} H^{-1}_{:,q}$, paying $\Delta L = \frac{w_q^2}{2[H^{-1}]_{qq}}$ -
# on a 114-parameter network, whose full Hessian fits in memory. Networks are pruned today
# without any retraining by applying the same step *one layer at a time*, on a little
# calibration data: SparseGPT (Frantar & Alistarh 2023) does it exactly, Wanda (Sun et al.
# 2023) with a diagonal shortcut. We derive the step for one layer, see why every output row
# shares one Hessian and why a fixed column order lets one Cholesky factor serve every row,
# check one column's update against a direct solve, meet Wanda as the diagonal
# approximation, and measure what each method keeps of a trained network's accuracy
# without a single step of training.

# %%
import os

import numpy as np

from minprune import viz, zoo
from minprune.autograd.tensor import Tensor, no_grad
from minprune.nn import evaluate
from minprune.prune import oneshot, posttrain
from minprune.tables import table

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
SEEDS = (0, 1, 2)
(X, y), (X_held, y_held), (X_test, y_test) = zoo.dataset(quick=QUICK)
calibration = X_held[:512]        # held out from training, never the test set
net = zoo.trained("lenet_300_100", quick=QUICK, seed=0)


def inputs_of(model, index, X):
    """What layer ``index`` of the Sequential ``model`` receives for the inputs X."""
    with no_grad():
        h = X
        for module in list(model)[:index]:
            h = module(Tensor(h)).data
    return h.reshape(len(X), -1).astype(np.float64)


# the last layer of LeNet-300-100 (100 inputs -> 10 outputs), and what it receives
W = net[5].weight.data.astype(np.float64)
Xl = inputs_of(net, 5, calibration)
n = len(Xl)

# %% [markdown]
# ## 1. One layer, one objective, one Hessian for every row
#
# Pruning one layer without retraining asks: which weights $\hat W$ (zero where pruned)
# reproduce the layer's outputs best on the calibration inputs $X$ ($n$ samples, one per
# row)? The error per sample is
#
# $$E(\hat W) = \frac1n \lVert X (W - \hat W)^\top \rVert^2
#   = \sum_r \frac1n (w_r - \hat w_r)^\top X^\top X\, (w_r - \hat w_r),$$
#
# a sum over output rows $r$ with no terms between rows: each row is its own problem. Each
# is a quadratic with Hessian $H = 2 X^\top X / n$ - which depends on the inputs only, so
# **every row has the same $H$**. minprune writes the error as
# $E = \frac12 \mathrm{tr}\,(W - \hat W) H (W - \hat W)^\top$ (`posttrain.layer_error`).
# We check both: the formula against the outputs themselves, and the Hessian of two
# different rows' errors, by finite differences, against $H$.

# %%
H = 2 * Xl.T @ Xl / n
rng = np.random.default_rng(0)
W_hat = W + 0.01 * rng.standard_normal(W.shape)
direct = np.sum((Xl @ (W - W_hat).T) ** 2) / n
print(f"output error {direct:.6f}, from H {posttrain.layer_error(W, W_hat, H):.6f}")
assert np.isclose(posttrain.layer_error(W, W_hat, H), direct, rtol=1e-10)


def row_error(r, w):
    return np.sum((Xl @ (W[r] - w)) ** 2) / n


v, eps = rng.standard_normal(W.shape[1]), 1e-3
for r in (0, 7):                  # H v by central differences of the gradient, two rows
    point = W[r] + rng.standard_normal(W.shape[1])
    grad = [(row_error(r, point + eps * e) - row_error(r, point - eps * e)) / (2 * eps)
            for e in np.eye(W.shape[1])]
    grad_moved = [(row_error(r, point + eps * v + eps * e)
                   - row_error(r, point + eps * v - eps * e)) / (2 * eps)
                  for e in np.eye(W.shape[1])]
    Hv = (np.array(grad_moved) - np.array(grad)) / eps
    print(f"row {r}: largest |finite-difference Hv - H v| = {np.abs(Hv - H @ v).max():.1e}")
    assert np.allclose(Hv, H @ v, rtol=1e-4, atol=1e-4 * np.abs(H @ v).max())

# %% [markdown]
# ## 2. Optimal Brain Surgeon on one row
#
# Remove weight $q$ of row $r$ and move the rest by $\delta$ to keep the error small:
# minimise $\frac12 \delta^\top H \delta$ subject to $e_q^\top \delta + w_q = 0$. With a
# Lagrange multiplier $\lambda$: $H\delta + \lambda e_q = 0$, so
# $\delta = -\lambda H^{-1} e_q$; the constraint gives $\lambda = w_q / [H^{-1}]_{qq}$, hence
#
# $$\delta = -\frac{w_q}{[H^{-1}]_{qq}}\, H^{-1}_{:,q}, \qquad
#   \Delta E = \frac12 \delta^\top H \delta = \frac{w_q^2}{2\,[H^{-1}]_{qq}},$$
#
# lesson 06's formulas, now exact, because the layer's error *is* a quadratic. The same
# answer comes from refitting the survivors directly: the least-squares weights with
# $w_q = 0$ solve $H_{KK}\, \hat w_K = H_{K:}\, w$ over the kept columns $K$
# (`posttrain.reconstruct`). $H$ is singular when inputs are dead or fewer samples than
# columns are seen, so - as the SparseGPT authors do - we add 1% of its mean diagonal.

# %%
Hd = H + 0.01 * np.mean(np.diag(H)) * np.eye(len(H))
H_inv = np.linalg.inv(Hd)
r, q = 3, 7
delta = -W[r, q] / H_inv[q, q] * H_inv[:, q]
mask = np.zeros(W.shape, dtype=bool)
mask[r, q] = True
refit = posttrain.reconstruct(W, mask, Hd)[r]
print(f"OBS step vs direct refit: largest difference {np.abs(W[r] + delta - refit).max():.1e}; "
      f"ΔE predicted {W[r, q] ** 2 / (2 * H_inv[q, q]):.6f}, "
      f"measured {delta @ Hd @ delta / 2:.6f}")
assert np.allclose(W[r] + delta, refit, atol=1e-10)
assert np.isclose(W[r, q] ** 2 / (2 * H_inv[q, q]), delta @ Hd @ delta / 2, rtol=1e-10)

# %% [markdown]
# ## 3. Many weights: a fixed column order and one Cholesky factor
#
# Removing a second weight needs the inverse Hessian *of the weights still free to move*:
# removing $q$ turns $H^{-1}$ into $H^{-1} - H^{-1}_{:,q} H^{-1}_{q,:} / [H^{-1}]_{qq}$
# (one step of Gaussian elimination). OBS repeats that per weight, and since each row
# removes different weights, each row would need its own sequence of inverses: for a
# 784 x 300 layer that is 300 inverse updates per pruned weight.
#
# SparseGPT's trick: visit the columns in one fixed order, $0, 1, 2, \dots$, for *all* rows
# at once. At column $j$, each row either prunes $w_j$ or keeps it, and in both cases $w_j$
# is then fixed; only columns $j+1, \dots$ may still move. So at column $j$ every row needs the
# same matrix, the inverse of $H$ restricted to the columns $j, j+1, \dots$ - whatever each row
# pruned before. Those inverses, for every $j$, are all in one upper Cholesky factor $U$ of
# $H^{-1}$ ($H^{-1} = U^\top U$): row $j$ of $U$ is the first row of $(H_{j:,j:})^{-1}$
# divided by the square root of its first entry. We check that for a few $j$.

# %%
U = posttrain.inverse_factor(Hd)
for j in (0, 5, 50, 98):
    S = np.linalg.inv(Hd[j:, j:])
    assert np.allclose(U[j, j:], S[0] / np.sqrt(S[0, 0]), rtol=1e-8, atol=1e-12)
print("row j of U = the first row of inv(H[j:, j:]) / sqrt(its first entry), j = 0, 5, 50, 98")

# %% [markdown]
# So pruning $w_j$ in any row is the OBS step of section 2 on the columns $j, j+1, \dots$:
# the error $e = w_j / U_{jj}$, and the columns after $j$ move by $-e\, U_{j, j+1:}$. One
# column's update for one row, against the direct solution (fix $w_j = 0$ and the columns
# before it, and let the columns after it minimise the error: $\delta_{>j} =
# -(H_{>j,>j})^{-1} H_{>j,j}\, \delta_j$ with $\delta_j = -w_j$):

# %%
r, j = 3, 10
w_j = W[r, j]
by_factor = -(w_j / U[j, j]) * U[j, j + 1:]
by_solve = -np.linalg.solve(Hd[j + 1:, j + 1:], Hd[j + 1:, j] * -w_j)
rows = [{"column": j + 1 + k, "w": W[r, j + 1 + k], "factor": by_factor[k],
         "solve": by_solve[k], "diff": abs(by_factor[k] - by_solve[k])} for k in range(6)]
print(f"pruning w[{r}, {j}] = {w_j:+.4f}: how the next six weights of row {r} move")
print(table(rows, [("column", "column", "{}"), ("w", "weight", "{:+.5f}"),
                   ("factor", "update from U", "{:+.3e}"),
                   ("solve", "update by direct solve", "{:+.3e}"),
                   ("diff", "|difference|", "{:.1e}")]))
assert np.allclose(by_factor, by_solve, rtol=1e-8, atol=1e-14)

# %% [markdown]
# That loop over columns, with a mask chosen up front by OBS's saliency
# $w^2 / [H^{-1}]_{jj}^2$ read off the diagonal of $U$ (the lowest 60% of the whole matrix
# here), is SparseGPT for one block. A student's version of it, next to the library's
# (`posttrain.sparsegpt` with one block covering every column and an exact count, given the
# same damped $H$ - so `percdamp=0`: the library's own damping first sets $H_{jj} = 1$ for an
# input that is never active, a dead ReLU unit, which the damped $H$ has no need of):

# %%


def sparsegpt_by_hand(W, H, sparsity):
    W, U = W.copy(), posttrain.inverse_factor(H)
    score = W ** 2 / np.diag(U)[None, :] ** 2
    pruned = np.zeros(W.size, dtype=bool)
    pruned[np.argsort(score.ravel(), kind="stable")[:round(sparsity * W.size)]] = True
    pruned = pruned.reshape(W.shape)
    for j in range(W.shape[1]):
        error = np.where(pruned[:, j], W[:, j], 0.0) / U[j, j]
        W[:, j:] -= error[:, None] * U[j, j:]          # zeroes the pruned w_j, moves the rest
    W[pruned] = 0.0
    return W, pruned


mine, pruned = sparsegpt_by_hand(W, Hd, 0.6)
library, _ = posttrain.sparsegpt(W, Hd, 0.6, blocksize=W.shape[1], percdamp=0.0,
                                 selection="exact")
errors = {"masked, nothing moved": posttrain.layer_error(W, np.where(pruned, 0, W), H),
          "SparseGPT (left to right)": posttrain.layer_error(W, mine, H),
          "refit of the same mask": posttrain.layer_error(
              W, posttrain.reconstruct(W, pruned, Hd), H)}
print(f"by hand vs library: largest difference {np.abs(mine - library).max():.1e}")
print(table([{"how": k, "error": v} for k, v in errors.items()],
            [("how", "60% of the last layer pruned", "{}"), ("error", "output error E", "{:.4f}")]))
assert np.allclose(mine, library, atol=1e-12)
e = list(errors.values())
assert e[2] <= e[1] < e[0] / 3

# %% [markdown]
# The compensation cuts the error several times over. A refit of the same mask does a
# little better still: SparseGPT only moves the columns *after* a pruned weight, the refit
# moves every survivor (at the price of one solve per row - the reason SparseGPT exists).

# %% [markdown]
# ## 4. Wanda: the diagonal approximation
#
# If the inputs were uncorrelated, $H$ would be diagonal, $H_{jj} = 2\lVert X_j\rVert^2/n$,
# and OBS's saliency $w_q^2 / [H^{-1}]_{qq} = w_q^2 H_{qq} = \frac2n (|w_q|\, \lVert X_q
# \rVert)^2$: the square of Wanda's score $|w_q|\,\lVert X_q \rVert_2$, the same ranking.
# Wanda keeps that ranking and drops two things: the off-diagonal terms of $H$ (how inputs
# move together) and the compensating update ($H^{-1}_{:,q}$ is zero off $q$ for a diagonal
# $H$: nothing to move). It is close to OBS's choice when $H$ is close to diagonal - which
# needs inputs that are uncorrelated *and* centred on zero, for $H = 2X^\top X/n$ is not a
# covariance: pixels and ReLU outputs are never negative, so any two of them have a positive
# product on average and $H$ is far from diagonal even where they are independent. We compare,
# per output row, the half of the weights each would prune, on independent zero-mean inputs
# and on the two ends of LeNet-300-100: the pixels and the last hidden layer.

# %%
norms = np.sqrt((Xl ** 2).sum(axis=0))
diagonal = np.diag(np.diag(H))
assert np.allclose(W ** 2 / np.diag(np.linalg.inv(diagonal + 1e-300 * (diagonal == 0)))[None],
                   2 / n * posttrain.wanda_scores(W, norms) ** 2, rtol=1e-9)


def lowest_half(score):
    chosen = np.zeros(score.shape, dtype=bool)
    np.put_along_axis(chosen, np.argsort(score, axis=1)[:, :score.shape[1] // 2], True, axis=1)
    return chosen


def agreement(W, Xin):
    """How far from diagonal H is (the off-diagonal share of H scaled to a unit diagonal,
    in Frobenius norm: 0 for a diagonal H), and the share of Wanda's pruned weights that
    OBS's saliency prunes too (half of every row)."""
    Hin = 2 * Xin.T @ Xin / len(Xin)
    scale = np.sqrt(np.diag(Hin))
    scale[scale == 0] = 1.0
    unit = Hin / scale[:, None] / scale[None, :]
    off = np.sqrt((np.sum(unit ** 2) - np.sum(np.diag(unit) ** 2)) / np.sum(unit ** 2))
    Hin += 0.01 * np.mean(np.diag(Hin)) * np.eye(len(Hin))
    obs = W ** 2 / np.diag(np.linalg.inv(Hin))[None, :]
    wanda = posttrain.wanda_scores(W, np.sqrt((Xin ** 2).sum(axis=0)))
    return off, (lowest_half(obs) & lowest_half(wanda)).sum() / lowest_half(wanda).sum()


W1 = net[1].weight.data.astype(np.float64)
independent = rng.standard_normal((4096, 100)) * rng.uniform(0.2, 2.0, 100)
cases = {"independent, zero-mean (100)": agreement(W, independent),
         "last layer's inputs (100)": agreement(W, Xl),
         "pixels, first layer (784)": agreement(W1, inputs_of(net, 1, calibration))}
print(table([{"case": k, "off": c, "same": s} for k, (c, s) in cases.items()],
            [("case", "inputs", "{}"), ("off", "off-diagonal share of H", "{:.3f}"),
             ("same", "same weights pruned", "{:.1%}")]))
independent_share = cases["independent, zero-mean (100)"]
assert independent_share[0] < 0.3 and independent_share[1] > 0.97
for case in ("last layer's inputs (100)", "pixels, first layer (784)"):
    assert cases[case][0] > 0.9 and cases[case][1] < independent_share[1]

# %% [markdown]
# On the network's own inputs, where $H$ is far from diagonal, Wanda and OBS disagree about
# a good share of the weights (most on the pixels, whose neighbours also move together).
# And Wanda does what it was built for: its choice leaves a smaller *uncompensated* error
# than magnitude's, here on the last layer - which section 5 shows is not the same as
# keeping the accuracy.

# %%
magnitude_mask = lowest_half(np.abs(W))
wanda_mask = lowest_half(posttrain.wanda_scores(W, norms))
e_magnitude = posttrain.layer_error(W, np.where(magnitude_mask, 0, W), H)
e_wanda = posttrain.layer_error(W, np.where(wanda_mask, 0, W), H)
print(f"half of every row of the last layer pruned, no update: output error magnitude "
      f"{e_magnitude:.3f}, Wanda {e_wanda:.3f}")
assert e_wanda < e_magnitude

# %% [markdown]
# ## 5. What survives without retraining
#
# Now the whole network, layer after layer, each layer pruned on the inputs it receives in
# the network *as pruned so far* (`prune.oneshot.prune_posttrain`): magnitude and Wanda
# (the same fraction of every row, no update), magnitude + refit, and SparseGPT, from 50%
# to 90% and the 2:4 pattern, on the three seeds of the zoo's model, 512 calibration
# samples, no training at all. (Quick mode: LeNet-300-100; full mode adds LeNet-5.)

# %%
MODELS = ("lenet_300_100",) if QUICK else ("lenet_300_100", "lenet5")
LEVELS = (0.5, 0.7, 0.8, 0.9)
METHODS = tuple(oneshot.METHODS)            # magnitude, wanda, magnitude+reconstruct, sparsegpt
accuracy = {}
for name in MODELS:
    for seed in SEEDS:
        accuracy[(name, "dense", seed)] = evaluate(zoo.trained(name, quick=QUICK, seed=seed),
                                                   X_test, y_test)["accuracy"]
        for method in METHODS:
            for level in LEVELS + ("2:4",):
                model = zoo.trained(name, quick=QUICK, seed=seed)
                oneshot.prune_posttrain(model, 0.5 if level == "2:4" else level, method,
                                        calibration, granularity="weight" if level != "2:4"
                                        else "2:4")
                accuracy[(name, method, level, seed)] = evaluate(model, X_test,
                                                                 y_test)["accuracy"]


def over_seeds(*key):
    values = [accuracy[key + (seed,)] for seed in SEEDS]
    return np.mean(values), np.std(values, ddof=1)


for name in MODELS:
    mean, sd = over_seeds(name, "dense")
    print(f"\n{name}: dense {mean:.3f} ± {sd:.3f} (mean ± sample std over seeds {SEEDS})")
    print(table([{"method": m, **{str(s): "{:.3f} ± {:.3f}".format(*over_seeds(name, m, s))
                                  for s in LEVELS + ("2:4",)}} for m in METHODS],
                [("method", "method", "{}")]
                + [(str(s), s if s == "2:4" else f"{s:.0%}", "{}") for s in LEVELS + ("2:4",)]))

fig = viz.new_figure(4.6 * len(MODELS), 3.4)
for ax, name in zip(np.atleast_1d(fig.subplots(1, len(MODELS), sharey=True)), MODELS):
    for marker, method in zip("osvD", METHODS):
        means, sds = zip(*(over_seeds(name, method, s) for s in LEVELS))
        ax.errorbar([100 * s for s in LEVELS], means, yerr=sds, fmt=marker + "-", capsize=2,
                    ms=4, label=method)
    ax.axhline(over_seeds(name, "dense")[0], color="grey", linestyle=":", label="dense")
    ax.set(title=f"{name}, no retraining", xlabel="sparsity (%)")
fig.axes[0].set_ylabel("test accuracy (mean ± sd, 3 seeds)")
fig.axes[0].legend(fontsize=8)
viz.save_png(fig, "15_accuracy_without_retraining.png")

for name in MODELS:
    for seed in SEEDS:
        for level in (0.8, 0.9):
            base = accuracy[(name, "magnitude", level, seed)]
            for method in ("magnitude+reconstruct", "sparsegpt"):    # compensation wins
                assert accuracy[(name, method, level, seed)] > base, (name, method, level)
    gain = {m: over_seeds(name, m, 0.8)[0] - over_seeds(name, "magnitude", 0.8)[0]
            for m in ("magnitude+reconstruct", "sparsegpt")}
    assert min(gain.values()) > 0.05, gain
    assert over_seeds(name, "sparsegpt", 0.5)[0] > over_seeds(name, "dense")[0] - 0.02
    # Wanda: far below compensation, and nothing gained over magnitude on average
    assert over_seeds(name, "wanda", 0.8)[0] < min(over_seeds(name, m, 0.8)[0] for m in gain) - 0.05
    assert np.mean([over_seeds(name, "wanda", s)[0] - over_seeds(name, "magnitude", s)[0]
                    for s in (0.7, 0.8, 0.9)]) < 0.02

# %% [markdown]
# Without a step of training, compensating the survivors is what keeps the accuracy: at 80%
# magnitude + refit and SparseGPT stay far above magnitude alone on every seed, and at 50%
# SparseGPT costs at most a point or two. Wanda gains nothing over magnitude here on average
# (it is worse on LeNet-300-100, on either side of it on LeNet-5), although section 4 showed
# its choice leaves a smaller error in a layer: a layer's output error weighs every output
# direction alike, the network's loss does not, and nothing in Wanda corrects what the pruned
# weights carried. Its scores were designed for language models, where a few input features
# are orders of magnitude larger than the rest and magnitude alone removes the weights that
# read them; pixels have no such outliers. The two compensating methods are close: SparseGPT
# chooses and compensates together but only moves later columns, the refit moves every
# survivor of magnitude's choice. The README's study adds calibration sizes (128, 512, 2048)
# and one epoch of fine-tuning, after which most of these gaps close.

# %% [markdown]
# ## Summary
#
# - One layer's reconstruction error is a quadratic per output row with the same Hessian
#   $H = 2X^\top X/n$ for every row: OBS on it is exact, and equals a least-squares refit of
#   the survivors.
# - Visiting the columns in one fixed order makes the inverse Hessian of the free weights the
#   same for every row; all of them are rows of one Cholesky factor of $H^{-1}$ - SparseGPT
#   costs one factorisation per layer instead of one inverse per pruned weight.
# - Wanda is OBS's saliency with a diagonal $H$ and no update: close to OBS's choice when
#   inputs are uncorrelated, and without compensation it keeps no more than magnitude on a
#   small vision network.
# - Without retraining, compensation (SparseGPT, or a refit after any mask) keeps most of a
#   trained network's accuracy up to 80%; fine-tuning, when affordable, still does better.
#
# ## Exercises
#
# 1. Give SparseGPT 64 calibration samples instead of 512 (`calibration[:64]`) on the
#    784 x 300 layer: $H$ is then singular. What does the dampening do, and how much accuracy
#    is lost at 80%? Check: `oneshot.prune_posttrain(...)` returns a trace with the samples
#    per layer.
# 2. Change `sparsegpt_by_hand` to choose its mask per row (60% of each row) instead of over
#    the whole matrix. Is the output error larger or smaller? Why might a whole-matrix choice
#    be better?
# 3. Run SparseGPT on the 2:4 pattern with `blocksize=4` and with `blocksize=128`
#    (`oneshot.prune_posttrain(..., granularity="2:4", blocksize=...)`). The masks are chosen
#    the same way; what changes?
