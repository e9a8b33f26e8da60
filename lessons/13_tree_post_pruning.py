# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 13: post-pruning
#
# **Goal.** Grow the full tree, then cut back subtrees that do not earn their keep. Five
# classic methods, side by side on one tree: which over-prune, which under-prune, how each
# decides (their traces), and cost-complexity pruning with cross-validation and the 1-SE rule.

# %%
import os

import numpy as np

from minprune import tree, viz
from minprune.data import make_classification, train_test_split

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

X, y = make_classification(1500 if QUICK else 4000, 10, n_informative=4, n_redundant=2,
                           flip_y=0.2, random_state=2)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=2)
X_train, X_prune, y_train, y_prune = train_test_split(X_rest, y_rest, test_size=0.3, random_state=2)
full = tree.DecisionTreeClassifier(random_state=0).fit(X_train, y_train)
print(f"full tree: {full.get_n_leaves()} leaves, depth {full.get_depth()}, "
      f"test accuracy {full.score(X_test, y_test):.3f}")

# %% [markdown]
# ## 1. All five methods
#
# Reduced-error pruning needs a separate pruning set; the others use only the training counts
# (cost-complexity uses an α chosen by cross-validation below).

# %%
alpha, table = tree.select_ccp_alpha(X_train, y_train, cv=5, rule="1se", rng=0)
methods = {
    "cost-complexity (1-SE)": tree.prune_ccp(full, alpha),
    "reduced-error": tree.prune_reduced_error(full, X_prune, y_prune),
    "pessimistic": tree.prune_pessimistic(full),
    "error-based (C4.5)": tree.prune_error_based(full, confidence=0.25),
    "minimum-error (m=2)": tree.prune_minimum_error(full, m=2.0),
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
if not QUICK:
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
for row in methods["pessimistic"].pruning_trace_[:5]:
    print(row)
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
# ## 3. The cost-complexity path and cross-validation
#
# Each α on the path is where the next weakest link goes. The table gives the
# cross-validated error of the subtree optimal at each α; the 1-SE rule picks the simplest
# subtree within one standard error of the best.

# %%
path = tree.cost_complexity_path(full)
print(f"{len(path.ccp_alphas)} subtrees on the path; the CV table at the largest alphas:")
for row in table[-6:]:
    print(row)
viz.ccp_path(path, table, alpha, "13_ccp.png")     # CV error +/- 1 SE, and the path
ax = tree.plot_tree(methods["cost-complexity (1-SE)"], max_depth=4)
viz.save_png(ax.figure, "13_pruned_tree.png")
assert np.all(np.diff(path.ccp_alphas) >= 0) and path.n_leaves[-1] == 1

# %% [markdown]
# ## Summary
#
# - Post-pruning compares each subtree with the leaf that would replace it, using an estimate
#   of error: a pruning set (REP), a continuity correction (PEP), a binomial upper limit (EBP),
#   a Bayesian estimate (MEP), or a price per leaf (CCP).
# - Cost-complexity pruning gives a whole path of subtrees; cross-validation picks one.
#
# ## Exercises
#
# 1. Lower C4.5's confidence to 0.05. What happens to the number of leaves?
# 2. Compare `rule="min"` and `rule="1se"` on ten seeds. Which is more stable?
