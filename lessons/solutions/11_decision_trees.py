# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 11's exercises

# %%
import numpy as np

from minprune import tree

x = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.7, 0.2, 0.55, 0.6, 0.95, 0.05, 0.3])
y = np.array([0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0])


def entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def gini(counts):
    p = counts / counts.sum()
    return float(1 - (p * p).sum())

# %% [markdown]
# ## 1. The same search with entropy
#
# Only the impurity changes. Here both criteria pick the same threshold: the cut that leaves
# one child pure is best by either measure. They can disagree when the best cuts trade
# purity on one side against balance on the other.

# %%
def best_threshold(impurity):
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    best = (np.inf, None)
    for i in range(len(x) - 1):
        left, right = np.bincount(ys[:i + 1], minlength=2), np.bincount(ys[i + 1:], minlength=2)
        score = (left.sum() * impurity(left) + right.sum() * impurity(right)) / len(x)
        best = min(best, (score, (xs[i] + xs[i + 1]) / 2))
    return best[1]


for name, impurity in (("gini", gini), ("entropy", entropy)):
    stump = tree.DecisionTreeClassifier(criterion=name, max_depth=1, random_state=0)
    chosen = stump.fit(x[:, None], y).tree_.threshold[0]
    print(f"{name:>8}: by hand {best_threshold(impurity):.3f}, the tree {chosen:.3f}")
    assert abs(best_threshold(impurity) - chosen) < 1e-6
assert best_threshold(gini) == best_threshold(entropy)

# %% [markdown]
# ## 2. Why only between different values
#
# A threshold between two equal values does not exist: every sample with that value goes
# the same way, so there is no cut there. With repeated values the candidates are the
# midpoints between consecutive *distinct* values, one fewer than there are distinct values.

# %%
repeated = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 5.0, 5.0])
labels = np.array([0, 1, 0, 1, 1, 0, 1, 1])
full = tree.DecisionTreeClassifier(random_state=0).fit(repeated[:, None], labels)
used = set(full.tree_.threshold[full.tree_.children_left != -1])
candidates = set((np.unique(repeated)[:-1] + np.unique(repeated)[1:]) / 2)
print("thresholds used:", sorted(used), " candidates:", sorted(candidates))
assert used <= candidates and len(candidates) == len(np.unique(repeated)) - 1
