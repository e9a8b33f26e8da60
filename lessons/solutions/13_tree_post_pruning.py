# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 13's exercises

# %%
import os

import numpy as np

from minprune import tree
from minprune.data import make_classification, train_test_split

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
X, y = make_classification(1500 if QUICK else 4000, 10, n_informative=4, n_redundant=2,
                           flip_y=0.2, random_state=2)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=2)
full = tree.DecisionTreeClassifier(random_state=0).fit(X_train, y_train)

# %% [markdown]
# ## 1. C4.5's confidence
#
# A lower confidence makes the upper limit on a leaf's error higher, and more so for small
# leaves: a leaf with few samples is charged more, so more subtrees lose to the leaf that
# would replace them, and the tree shrinks.

# %%
confidences = (0.5, 0.25, 0.1, 0.05, 0.01)
leaves = [tree.prune_error_based(full, confidence=c).get_n_leaves() for c in confidences]
print(dict(zip(confidences, leaves)))
assert all(a >= b for a, b in zip(leaves, leaves[1:]))
assert leaves[confidences.index(0.05)] < leaves[confidences.index(0.25)]

# %% [markdown]
# ## 2. The minimum against the 1-SE rule, over ten draws of the folds
#
# The cross-validated error curve is flat near its minimum and noisy: which alpha has the
# lowest error depends on the folds. The 1-SE rule takes the simplest tree within one
# standard error of that minimum, a choice the noise moves much less.

# %%
chosen = {"min": [], "1se": []}
for seed in range(10):
    for rule in chosen:
        alpha, _ = tree.select_ccp_alpha(X_train, y_train, cv=5, rule=rule, rng=seed)
        chosen[rule].append(tree.prune_ccp(full, alpha).get_n_leaves())
for rule, n in chosen.items():
    print(f"rule={rule:3s}: leaves {np.mean(n):5.1f} ± {np.std(n):4.1f}  {n}")
assert np.std(chosen["1se"]) < np.std(chosen["min"])
assert all(a <= b for a, b in zip(chosen["1se"], chosen["min"]))
