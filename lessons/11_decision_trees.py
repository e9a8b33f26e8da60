# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 11: decision trees
#
# **Goal.** Grow a CART tree by hand-checkable steps: impurity, the search for the best split,
# recursion; then see why a fully grown tree overfits noisy data, which is what pruning is for.

# %%
import os

import numpy as np

from minprune import tree, viz
from minprune.data import make_classification, train_test_split
from minprune.tree.criteria import entropy, gini

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

# %% [markdown]
# ## 1. Impurity
#
# Gini: the chance that two random labels of the node differ, 1 - Σ p_k². Entropy: the bits
# needed to name a label, -Σ p_k log2 p_k. Both are 0 for a pure node and largest when classes
# are balanced.

# %%
for counts in ([10, 0], [8, 2], [5, 5]):
    c = np.array(counts, dtype=float)
    print(f"counts {counts}: gini {gini(c, c.sum()):.3f}, entropy {entropy(c, c.sum()):.3f}")
assert gini(np.array([5.0, 5.0]), 10.0) == 0.5 and entropy(np.array([5.0, 5.0]), 10.0) == 1.0

# %% [markdown]
# ## 2. The split search, step by step
#
# Sort one feature; move the samples one by one from the right child to the left, keeping the
# class counts of both sides; at every boundary between two different values, score the split by
# the weighted impurity of the children. Here on 12 points:

# %%
x = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.7, 0.2, 0.55, 0.6, 0.95, 0.05, 0.3])
y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0])
order = np.argsort(x)
left, right = np.zeros(2), np.bincount(y, minlength=2).astype(float)
print(f"{'threshold':>9}  {'left':>8}  {'right':>8}  weighted gini")
best = (np.inf, None)
for i in range(len(x) - 1):
    c = y[order[i]]
    left[c] += 1
    right[c] -= 1
    t = (x[order[i]] + x[order[i + 1]]) / 2
    score = (left.sum() * gini(left, left.sum()) + right.sum() * gini(right, right.sum())) / 12
    best = min(best, (score, t))
    print(f"{t:>9.3f}  {str(left.astype(int)):>8}  {str(right.astype(int)):>8}  {score:.4f}")
stump = tree.DecisionTreeClassifier(max_depth=1, random_state=0).fit(x[:, None], y)
print(f"best threshold {best[1]:.3f}; the tree chose {stump.tree_.threshold[0]:.3f}")
assert abs(stump.tree_.threshold[0] - best[1]) < 1e-6

# %% [markdown]
# ### The library's own search, run as plain Python
#
# Inside `fit` the search is a Numba kernel, `best_split_classes` in `minprune/tree/splitter.py`.
# Every Numba function keeps the Python it was compiled from as `.py_func`: call that, and a
# debugger (or a `print` you add) steps through it line by line; `NUMBA_DISABLE_JIT=1` in the
# environment runs every kernel of minprune that way. Asked for one feature at a time, it gives
# the search's table at the root: each feature's best cut and what it scores.

# %%
from minprune.tree.criteria import GINI  # noqa: E402
from minprune.tree.records import LeafRules  # noqa: E402
from minprune.tree.splitter import best_split_classes, presort  # noqa: E402

noise = np.random.default_rng(3)
X3 = np.stack([x, x + noise.normal(0, 0.2, len(x)), noise.random(len(x))], axis=1)
vals, rows, ys = presort(np.ascontiguousarray(X3.T, dtype=np.float32), y.astype(np.int64))
counts = np.bincount(y, minlength=2).astype(float)
no_weights = LeafRules(min_samples=1, min_weight=0.0, sample_weight=np.ones(1), weighted=0)
as_python = getattr(best_split_classes, "py_func", best_split_classes)  # plain already without JIT
table = []
for f in range(3):
    cut = as_python(vals, rows, ys, 0, len(y), 2, no_weights, GINI, counts, np.array([f]), 1)
    threshold = cut.threshold                  # a Cut record: feature, pos, threshold, ...
    left_y = ys[f, :cut.pos]
    right_y = ys[f, cut.pos:]
    score = sum(len(side) * gini(np.bincount(side, minlength=2).astype(float), len(side))
                for side in (left_y, right_y)) / len(y)
    table.append((score, f, threshold))
    print(f"feature {f}: best cut at {threshold:.3f}, weighted gini {score:.4f}")
chosen = best_split_classes(vals, rows, ys, 0, len(y), 2, no_weights, GINI, counts,
                            np.arange(3), 3).feature
print(f"the compiled kernel, all three features: feature {chosen}")
assert chosen == min(table)[1]              # the lowest score wins; on a tie, the first visited
# (Here features 0 and 1 split the 12 points the same way and tie. The kernel was told to visit
# them in index order; inside `fit` the order is scikit-learn's random draw for the node, so
# `random_state` decides such ties, exactly as it does in scikit-learn.)

# %% [markdown]
# ## 3. A whole tree, printed

# %%
X, y = make_classification(1200, 10, n_informative=4, n_redundant=2, flip_y=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=0)
small = tree.DecisionTreeClassifier(max_depth=2, random_state=0).fit(X_train, y_train)
print(tree.export_text(small))
assert small.get_n_leaves() == 4

# %% [markdown]
# ## 4. The overfitting curve
#
# With 25% of labels flipped at random, a tree that fits every training point memorises the
# noise: training accuracy climbs to 1 while test accuracy peaks early and then falls.

# %%
depths = list(range(1, 16 if QUICK else 21))
train_acc, test_acc = [], []
for d in depths:
    est = tree.DecisionTreeClassifier(max_depth=d, random_state=0).fit(X_train, y_train)
    train_acc.append(est.score(X_train, y_train))
    test_acc.append(est.score(X_test, y_test))
best_depth = depths[int(np.argmax(test_acc))]
print(f"best test accuracy {max(test_acc):.3f} at depth {best_depth}; at depth {depths[-1]}: "
      f"train {train_acc[-1]:.3f}, test {test_acc[-1]:.3f}")
fig = viz.new_figure()
ax = fig.subplots()
ax.plot(depths, train_acc, "o-", label="train")
ax.plot(depths, test_acc, "s-", label="test")
ax.set(xlabel="max_depth", ylabel="accuracy", title="a tree on noisy labels")
ax.legend()
viz.save_png(fig, "11_overfitting.png")
assert train_acc[-1] > 0.99 and max(test_acc) > test_acc[-1]

# %% [markdown]
# ## Summary
#
# - A split is chosen greedily: the cut with the lowest weighted child impurity.
# - Growing until pure memorises label noise; limiting growth (pre-pruning, lesson 12) or
#   cutting back afterwards (post-pruning, lesson 13) fixes that.
#
# ## Exercises
#
# 1. Redo section 2 with entropy. Does the chosen threshold change? Check: your threshold
#    equals the one `DecisionTreeClassifier(criterion="entropy", max_depth=1)` chooses.
# 2. Why does the split search only consider boundaries between *different* values? Check:
#    on data with repeated values every threshold a grown tree uses is a midpoint between
#    consecutive distinct values. Solutions: `lessons/solutions/11_decision_trees.py`.
