# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 13: post-pruning
#
# **Goal.** Grow the full tree, then cut back subtrees that do not earn their keep. Six
# classic methods, side by side on one tree: how each decides (their traces), the weakest
# link found by hand, cost-complexity pruning with cross-validation and the 1-SE rule, and
# finally the study Esposito, Malerba and Semeraro (1997) ran: every method on real data
# (some of it with missing values), by repeated cross-validation, measured against the
# optimally pruned tree - which methods over-prune, which under-prune.

# %%
import os

import numpy as np

from minprune import tree, viz
from minprune.data import make_classification, train_test_split
from minprune.tables import table
from minprune.tree.ccp import weakest_link_sequence

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

X, y = make_classification(1500 if QUICK else 4000, 10, n_informative=4, n_redundant=2,
                           flip_y=0.2, random_state=2)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=2)
X_train, X_prune, y_train, y_prune = train_test_split(X_rest, y_rest, test_size=0.3, random_state=2)
full = tree.DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
print(f"full tree: {full.get_n_leaves()} leaves, depth {full.get_depth()}, "
      f"test accuracy {full.score(X_test, y_test):.3f}")

# %% [markdown]
# ## 1. All six methods
#
# Reduced-error and critical value pruning need a separate pruning set; the others use only
# the training counts (cost-complexity uses an α chosen by cross-validation below). Critical
# value pruning (Mingers 1987) cuts, bottom-up, every split whose goodness - here the
# impurity decrease it achieves at its node - is at most a critical value, unless a better
# split lies below it; the critical value is the one whose tree errs least on the pruning set.

# %%
alpha, cv_table = tree.select_ccp_alpha(X_train, y_train, cv=5, rule="1se", rng=0)
methods = {
    "cost-complexity (1-SE)": tree.prune_ccp(full, alpha),
    "reduced-error": tree.prune_reduced_error(full, X_prune, y_prune),
    "pessimistic": tree.prune_pessimistic(full),
    "error-based (C4.5)": tree.prune_error_based(full, confidence=0.25),
    "minimum-error (m=2)": tree.prune_minimum_error(full, m=2.0),
    "critical value": tree.prune_critical_value(full, X_prune, y_prune),
}
print(f"{'method':>24}  {'leaves':>6}  {'depth':>5}  {'train':>6}  {'test':>6}")
print(f"{'none':>24}  {full.get_n_leaves():>6}  {full.get_depth():>5}  "
      f"{full.score(X_train, y_train):>6.3f}  {full.score(X_test, y_test):>6.3f}")
for name, est in methods.items():
    print(f"{name:>24}  {est.get_n_leaves():>6}  {est.get_depth():>5}  "
          f"{est.score(X_train, y_train):>6.3f}  {est.score(X_test, y_test):>6.3f}")
for est in methods.values():
    assert est.get_n_leaves() < full.get_n_leaves()
assert full.tree_.node_count == 2 * full.get_n_leaves() - 1     # the input is untouched
assert methods["cost-complexity (1-SE)"].score(X_test, y_test) > full.score(X_test, y_test)

# %% [markdown]
# Minimum-error and error-based pruning keep many leaves (they under-prune on noisy labels);
# cost-complexity with the 1-SE rule and reduced-error prune hardest.

# %% [markdown]
# ## 2. Reading a trace
#
# Every pruner records its decisions. Pessimistic pruning goes top-down: the first row is the
# root, compared as a leaf (errors + ½) against its subtree (errors + ½ per leaf, plus a
# standard error).

# %%
print(table(methods["pessimistic"].pruning_trace_[:6],
            [("node", "node", "{}"), ("depth", "depth", "{}"), ("samples", "samples", "{}"),
             ("leaf_error", "as a leaf", "{:.1f}"), ("subtree_error", "subtree", "{:.1f}"),
             ("estimate", "estimate", "{}"), ("decision", "decision", "{}")]))
assert methods["pessimistic"].pruning_trace_[0]["node"] == 0

# %% [markdown]
# ### C4.5's estimate, two ways
#
# Error-based pruning charges a leaf with n samples and e errors the upper limit of a
# confidence interval on its error count. Quinlan's book describes the exact binomial limit;
# his program (and Weka's J48) computes an approximation: exact at e = 0, a straight line for
# 0 < e < 1, the normal approximation with continuity correction above. `estimate="c45"`
# (the default) is the program's, `estimate="exact"` the book's. On one node:

# %%
root_n = int(full.tree_.n_node_samples[0])
root_e = int(root_n - full.tree_.value[0].max())
print(f"{'(n, e)':>10}  {'C4.5 program':>12}  {'exact binomial':>14}")
for n_, e_ in ((root_n, root_e), (200, 1), (20, 0), (6, 2)):
    program = tree.c45_errors(n_, e_, 0.25)
    book = n_ * tree.binomial_upper(e_, n_, 0.25)
    print(f"{str((n_, e_)):>10}  {program:>12.3f}  {book:>14.3f}")
assert np.isclose(tree.c45_errors(20, 0, 0.25), 20 * tree.binomial_upper(0, 20, 0.25))  # e = 0
assert abs(tree.c45_errors(200, 1, 0.25) - 200 * tree.binomial_upper(1, 200, 0.25)) > 0.1

# %% [markdown]
# ## 3. The weakest link, by hand
#
# Cost-complexity pruning charges R_α(T) = R(T) + α·|leaves(T)|, with R(t) the node's
# impurity times its share of the samples (scikit-learn's risk). Collapsing the branch T_t
# below an internal node t into a leaf changes R by R(t) - R(T_t) and saves
# |leaves(T_t)| - 1 leaves, so it pays once α reaches
#
# $$g(t) = \frac{R(t) - R(T_t)}{|\text{leaves}(T_t)| - 1}.$$
#
# The weakest link is the node with the smallest g(t); collapse it, recompute, repeat. On a
# small tree, in plain Python, three steps:

# %%
small = tree.DecisionTreeClassifier(max_leaf_nodes=8, random_state=0).fit(X_train, y_train)
t = small.tree_
risk = t.weighted_n_node_samples * t.impurity / t.weighted_n_node_samples[0]
collapsed = set()


def below(node):
    """The leaves under ``node`` in the current (partly collapsed) tree."""
    if t.children_left[node] == -1 or node in collapsed:
        return [node]
    return below(t.children_left[node]) + below(t.children_right[node])


def internal(node=0):
    """The internal nodes of the current tree under ``node``: collapsed ones are leaves now."""
    if t.children_left[node] == -1 or node in collapsed:
        return []
    return [node] + internal(t.children_left[node]) + internal(t.children_right[node])


path_small = tree.cost_complexity_path(small)
for step in range(1, 4):
    rows = []
    for node in internal():
        leaves = below(node)
        r_branch = sum(risk[leaf] for leaf in leaves)
        rows.append({"node": node, "R(t)": risk[node], "R(T_t)": r_branch,
                     "leaves": len(leaves), "g(t)": (risk[node] - r_branch) / (len(leaves) - 1)})
    weakest = min(rows, key=lambda r: (r["g(t)"], r["node"]))   # ties: the lowest node id
    print(f"step {step}: collapse node {weakest['node']} at alpha = {weakest['g(t)']:.5f}")
    print(table(sorted(rows, key=lambda r: r["g(t)"])[:4],
                [("node", "node", "{}"), ("R(t)", "R(t)", "{:.4f}"),
                 ("R(T_t)", "R(T_t)", "{:.4f}"), ("leaves", "leaves", "{}"),
                 ("g(t)", "g(t)", "{:.5f}")]))
    assert weakest["node"] == path_small.collapsed[step]
    assert np.isclose(weakest["g(t)"], path_small.ccp_alphas[step])
    collapsed.add(weakest["node"])

# %% [markdown]
# The library finds the same links with an indexed heap, in a Numba function. Every Numba
# function keeps the Python it was compiled from as `.py_func`: call that (or run the script
# with `NUMBA_DISABLE_JIT=1`) and a debugger steps through it line by line.

# %%
as_python = getattr(weakest_link_sequence, "py_func", weakest_link_sequence)
alphas, _, _, order = as_python(t.children_left, t.children_right, t.parents(), risk, -1.0)
print("weakest links in order:", order[1:].tolist())
assert np.allclose(alphas, path_small.ccp_alphas) and (order == path_small.collapsed).all()

# %% [markdown]
# ## 4. The cost-complexity path and cross-validation
#
# Each α on the path is where the next weakest link goes. The table gives the
# cross-validated error of the subtree optimal at each α; the 1-SE rule picks the simplest
# subtree within one standard error of the best.

# %%
path = tree.cost_complexity_path(full)
print(f"{len(path.ccp_alphas)} subtrees on the path; the CV table at the largest alphas:")
print(table(cv_table[-6:], [("alpha", "alpha", "{:.5f}"), ("leaves", "leaves", "{}"),
                            ("cv_error", "CV error", "{:.3f}"), ("cv_se", "SE", "{:.3f}"),
                            ("rel_error", "rpart rel error", "{:.3f}")]))
viz.ccp_path(path, cv_table, alpha, "13_ccp.png")     # CV error +/- 1 SE, and the path
ax = tree.plot_tree(methods["cost-complexity (1-SE)"], max_depth=4)
viz.save_png(ax.figure, "13_pruned_tree.png")
assert np.all(np.diff(path.ccp_alphas) >= 0) and path.n_leaves[-1] == 1

# %% [markdown]
# ## 5. The study as Esposito, Malerba and Semeraro (1997) ran it
#
# They compared the six methods by repeated cross-validation on real data, and judged each
# against a yardstick: the **optimally pruned tree**, the smallest pruning of the grown tree
# with the highest accuracy on the held-out data. They proved that reduced-error pruning run
# on the held-out data itself finds it (`tree.optimal_pruning`). A method *over-prunes*
# where it cuts splits the optimal tree keeps, and *under-prunes* where it keeps splits the
# optimal tree cuts (`tree.pruning_deviation` counts both, in splits).
#
# The data: the Wisconsin breast cancer (569 tumours, 30 features) and wine (178 wines, 13
# features) data bundled with scikit-learn, and the same two with 20% of their values removed
# at random - grown with scikit-learn's rule for missing values (each split learns a side for
# them) on the breast cancer data, and with rpart's surrogate splits on wine. 5 folds repeated
# 2 times (quick) or 10 times. Every choice is made inside the training folds: the
# pre-pruning rules' values by scikit-learn's `GridSearchCV` (our trees are scikit-learn
# estimators), α by `select_ccp_alpha` with the minimum (0-SE) and the 1-SE rule, and
# reduced-error and critical value pruning grow on two thirds of the training fold and prune
# on the rest, as Esposito et al. did. The held-out fold only measures.

# %%
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import GridSearchCV, RepeatedStratifiedKFold
from sklearn.model_selection import train_test_split as split

REPEATS = 2 if QUICK else 10
POST = ("cost-complexity (0-SE)", "cost-complexity (1-SE)", "reduced-error", "critical value",
        "pessimistic", "error-based (C4.5)", "minimum-error (m=2)")
SHORT = dict(zip(POST, ("CCP 0-SE", "CCP 1-SE", "REP", "CVP", "PEP", "EBP", "MEP")))


def pruned_trees(X_tr, y_tr, fold, missing):
    """Every method's tree, each fitted and chosen on the training fold only, with the grown
    tree it pruned (None for pre-pruning)."""
    make = lambda **kw: tree.DecisionTreeClassifier(random_state=0, missing=missing, **kw)
    grown = make().fit(X_tr, y_tr)
    out = {"none (fully grown)": (grown, grown)}
    for rule, values in (("min_samples_leaf", [1, 2, 4, 8, 16, 32]),
                         ("max_depth", [1, 2, 3, 4, 6, None])):
        search = GridSearchCV(make(), {rule: values}, cv=5)
        out[f"pre: {rule}"] = (search.fit(X_tr, y_tr).best_estimator_, None)
    for rule, label in (("min", "0-SE"), ("1se", "1-SE")):
        a, _ = tree.select_ccp_alpha(X_tr, y_tr, cv=5, rule=rule, rng=fold, estimator=make())
        out[f"cost-complexity ({label})"] = (tree.prune_ccp(grown, a), grown)
    X_g, X_p, y_g, y_p = split(X_tr, y_tr, test_size=1 / 3, random_state=fold, stratify=y_tr)
    on_two_thirds = make().fit(X_g, y_g)
    out["reduced-error"] = (tree.prune_reduced_error(on_two_thirds, X_p, y_p), on_two_thirds)
    out["critical value"] = (tree.prune_critical_value(on_two_thirds, X_p, y_p), on_two_thirds)
    out["pessimistic"] = (tree.prune_pessimistic(grown), grown)
    out["error-based (C4.5)"] = (tree.prune_error_based(grown, confidence=0.25), grown)
    out["minimum-error (m=2)"] = (tree.prune_minimum_error(grown, m=2.0), grown)
    return out


def with_holes(X, rate, seed):
    X = X.astype(np.float64).copy()
    X[np.random.default_rng(seed).random(X.shape) < rate] = np.nan
    return X


cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
wine_X, wine_y = load_wine(return_X_y=True)
DATA = {"breast_cancer": (cancer_X, cancer_y, "side"), "wine": (wine_X, wine_y, "side"),
        "breast_cancer, 20% missing": (with_holes(cancer_X, 0.2, 0), cancer_y, "side"),
        "wine, 20% missing, surrogates": (with_holes(wine_X, 0.2, 1), wine_y, "surrogate")}
study = {}
for name, (X_r, y_r, missing) in DATA.items():
    folds = RepeatedStratifiedKFold(n_splits=5, n_repeats=REPEATS, random_state=0)
    runs = {}
    for fold, (train, held) in enumerate(folds.split(X_r, y_r)):
        X_h, y_h = X_r[held], y_r[held]
        optimal = {}                               # the yardstick of each grown tree
        for method, (est, base) in pruned_trees(X_r[train], y_r[train], fold, missing).items():
            row = {"acc": est.score(X_h, y_h), "leaves": est.get_n_leaves()}
            if base is not None:
                if id(base) not in optimal:
                    optimal[id(base)] = tree.optimal_pruning(base, X_h, y_h)
                best = optimal[id(base)]
                row |= tree.pruning_deviation(base, est, best)
                row |= {"opt_acc": best.score(X_h, y_h), "opt_leaves": best.get_n_leaves()}
            runs.setdefault(method, []).append(row)
    study[name] = {m: {k: np.array([r[k] for r in rows]) for k in rows[0]}
                   for m, rows in runs.items()}

for name, results in study.items():
    base = results["none (fully grown)"]
    rows = []
    for method, v in results.items():
        diff = v["acc"] - base["acc"]
        rows.append({"method": method, "acc": f"{v['acc'].mean():.3f} ± {v['acc'].std():.3f}",
                     "leaves": f"{v['leaves'].mean():.1f} ± {v['leaves'].std():.1f}",
                     "over": f"{v['over'].mean():.1f}" if "over" in v else "-",
                     "under": f"{v['under'].mean():.1f}" if "under" in v else "-",
                     "w/t/l": f"{(diff > 0).sum()}/{(diff == 0).sum()}/{(diff < 0).sum()}"})
    print(f"{name}: {len(base['acc'])} held-out folds; the optimally pruned full tree: "
          f"{base['opt_acc'].mean():.3f} accuracy, {base['opt_leaves'].mean():.1f} leaves")
    print(table(rows, [("method", "method", "{}"), ("acc", "accuracy", "{}"),
                       ("leaves", "leaves", "{}"), ("over", "over-pruned", "{}"),
                       ("under", "under-pruned", "{}"), ("w/t/l", "w/t/l vs full", "{}")]))

fig = viz.new_figure(12, 4.5)
axes = fig.subplots(1, 2)
names = list(study)
width = 0.8 / len(names)
for i, name in enumerate(names):
    over = [study[name][m]["over"].mean() for m in POST]
    under = [study[name][m]["under"].mean() for m in POST]
    axes[0].bar(np.arange(len(POST)) + i * width, over, width, label=name)
    axes[1].bar(np.arange(len(POST)) + i * width, under, width, label=name)
for ax, what in zip(axes, ("over-pruned: splits cut that the optimal tree keeps",
                           "under-pruned: splits kept that the optimal tree cuts")):
    ax.set_xticks(np.arange(len(POST)) + 0.4 - width / 2)
    ax.set_xticklabels([SHORT[m] for m in POST])
    ax.set(ylabel="splits per fold (mean)", title=what)
axes[1].legend(fontsize=7)
viz.save_png(fig, "13_over_under.png")

# %% [markdown]
# What the folds say, on all four data sets:
#
# - Every method gives smaller trees than full growth, often several times smaller, and no
#   method moves the mean accuracy by as much as the fully grown tree's own spread from fold
#   to fold: pruning buys simplicity at (nearly) no price, and a single split of the data
#   could rank the methods any way.
# - Against the yardstick the methods part ways as Esposito et al. found: minimum-error
#   (m=2), C4.5's error-based and critical value pruning **under-prune** - they keep more
#   splits that the optimal tree cuts than they cut splits it keeps - while cost-complexity
#   with the 1-SE rule **over-prunes** most of all: it cuts more splits the optimal tree keeps
#   than any other method, and never keeps more leaves than the minimum (0-SE) rule.
# - The optimally pruned tree is not a method (it peeks at the held-out data) but it shows
#   what was there to find: on every fold it is at least as accurate as every pruning of the
#   same tree, and its size sits between the over- and the under-pruners'.
# - Missing values change little: the data sets with 20% of their values gone rank the
#   methods the same way, with the same kind of spread.

# %%
for name, results in study.items():
    base = results["none (fully grown)"]
    for method, v in results.items():
        if method != "none (fully grown)":
            assert v["leaves"].mean() < base["leaves"].mean(), (name, method)
            assert abs(v["acc"].mean() - base["acc"].mean()) < base["acc"].std(), (name, method)
    for method in ("minimum-error (m=2)", "error-based (C4.5)", "critical value"):
        assert results[method]["under"].mean() > results[method]["over"].mean(), (name, method)
    one_se = results["cost-complexity (1-SE)"]
    assert one_se["over"].mean() == max(results[m]["over"].mean() for m in POST), name
    assert (one_se["leaves"] <= results["cost-complexity (0-SE)"]["leaves"]).all(), name
    for method in POST:                  # the yardstick: no pruning of its tree does better
        if method not in ("reduced-error", "critical value"):    # those prune another tree
            assert (base["opt_acc"] >= results[method]["acc"]).all(), (name, method)
    assert (base["opt_acc"] >= base["acc"]).all()          # the full tree is one of its prunings

# %% [markdown]
# ## Summary
#
# - Post-pruning compares each subtree with the leaf that would replace it, using an estimate
#   of error: a pruning set (REP), a continuity correction (PEP), a binomial upper limit (EBP),
#   a Bayesian estimate (MEP), or a price per leaf (CCP).
# - Cost-complexity pruning gives a whole path of subtrees, one weakest link at a time;
#   cross-validation picks one.
# - On real data, compared fold by fold, pruning mostly buys smaller trees: the accuracy
#   differences between methods are smaller than the spread between folds. Measured against
#   the optimally pruned tree, minimum-error and error-based pruning under-prune and
#   cost-complexity with the 1-SE rule over-prunes, as Esposito et al. (1997) concluded.
#
# ## Exercises
#
# 1. Lower C4.5's confidence to 0.05. What happens to the number of leaves? Check: the
#    tree at 0.05 has no more leaves than at 0.25, and every tree on the way from 0.5 to
#    0.01 has no more than the one before.
# 2. Compare `rule="min"` and `rule="1se"` over ten seeds of `select_ccp_alpha` (the seed
#    draws the folds). Which choice of α varies less, measured by the spread of the number
#    of leaves? Check: `lessons/solutions/13_tree_post_pruning.py`.
