# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 12: pre-pruning
#
# **Goal.** Stop growth early with stopping rules: maximum depth, minimum samples to split,
# minimum samples per leaf, minimum impurity decrease, maximum number of leaves. Each trades
# fit for simplicity. Then meet the horizon effect: on XOR no single split helps, so a rule
# that demands progress now stops too early, and only growing further (then pruning) finds
# the structure.

# %%
import os
from collections import Counter

from minprune import tree, viz
from minprune.data import checkerboard, make_classification, train_test_split
from minprune.tables import table

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"

X, y = make_classification(1500 if QUICK else 4000, 10, n_informative=4, n_redundant=2,
                           flip_y=0.25, random_state=1)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, random_state=1)

# %% [markdown]
# ## 1. One rule at a time

# %%
RULES = {"max_depth": [2, 4, 6, 10, None], "min_samples_split": [2, 20, 80, 320],
         "min_samples_leaf": [1, 10, 40, 160], "min_impurity_decrease": [0, 0.001, 0.005, 0.02],
         "max_leaf_nodes": [4, 16, 64, 256]}
results = {}
print(f"{'rule':>22}  {'value':>6}  {'leaves':>6}  {'depth':>5}  {'train':>6}  {'test':>6}")
for rule, values in RULES.items():
    for v in values:
        est = tree.DecisionTreeClassifier(**{rule: v}, random_state=0).fit(X_train, y_train)
        results[(rule, v)] = est
        print(f"{rule:>22}  {str(v):>6}  {est.get_n_leaves():>6}  {est.get_depth():>5}  "
              f"{est.score(X_train, y_train):>6.3f}  {est.score(X_test, y_test):>6.3f}")
full = results[("max_depth", None)]
for rule, values in RULES.items():
    leaves = [results[(rule, v)].get_n_leaves() for v in values]
    increasing = rule in ("max_depth", "max_leaf_nodes")
    assert leaves == sorted(leaves, reverse=not increasing), rule   # tighter rule, fewer leaves
assert results[("max_leaf_nodes", 16)].get_n_leaves() == 16
assert max(e.score(X_test, y_test) for e in results.values()) > full.score(X_test, y_test)

# Every rule traces the same trade-off - fewer leaves, a worse fit of the training data, and
# (up to a point) a better test score - each along its own path:
fig = viz.new_figure(6, 3.8)
ax = fig.subplots()
for rule, values in RULES.items():
    points = sorted((results[(rule, v)].get_n_leaves(), results[(rule, v)].score(X_test, y_test))
                    for v in values)
    ax.plot(*zip(*points), "o-", label=rule)
ax.axhline(full.score(X_test, y_test), color="gray", linestyle=":", label="fully grown")
ax.set(xscale="log", xlabel="leaves (log)", ylabel="test accuracy",
       title="five stopping rules, one trade-off")
ax.legend(fontsize=8)
viz.save_png(fig, "12_stopping_rules.png")

# %% [markdown]
# ## 2. Why did each leaf stop?
#
# The builder records, for every leaf, which rule stopped it (`tree_.stop_reason`);
# `tree.stopping_trace` reads it back as sentences. With three rules at once, each stops
# some of the leaves:

# %%
combined = tree.DecisionTreeClassifier(max_depth=6, min_samples_leaf=10,
                                       min_impurity_decrease=0.002, random_state=0)
combined.fit(X_train, y_train)
trace = tree.stopping_trace(combined)
print(table(trace[:8], [("node", "node", "{}"), ("depth", "depth", "{}"),
                        ("samples", "samples", "{}"), ("impurity", "impurity", "{:.3f}"),
                        ("why", "why it is a leaf", "{}")]))
counts = Counter(r["why"] for r in trace)
print(table([{"why": k, "leaves": v} for k, v in counts.most_common()],
            [("why", "why", "{}"), ("leaves", "leaves", "{}")]))
assert sum(counts.values()) == combined.get_n_leaves()
assert all(r["depth"] == 6 for r in trace if r["why"] == "max_depth reached")
assert len(counts) >= 3                           # each rule stops some leaves here

# %% [markdown]
# ## 3. The horizon effect on XOR
#
# On a 2x2 checkerboard every single split leaves both halves 50/50: the first split gains
# nothing. A rule like "split only if impurity drops by 1%" stops at the root; the full tree
# finds the pattern in two levels.

# %%
X2, y2 = checkerboard(800, tiles=2, noise=0.1, rng=0)     # fuzzy borders
X2_train, X2_test, y2_train, y2_test = train_test_split(X2, y2, test_size=0.5, random_state=0)
stopped = tree.DecisionTreeClassifier(min_impurity_decrease=0.01, random_state=0)
stopped.fit(X2_train, y2_train)
grown = tree.DecisionTreeClassifier(random_state=0).fit(X2_train, y2_train)
pruned = tree.prune_ccp(grown, 0.01)
for name, est in (("pre-pruned", stopped), ("fully grown", grown), ("grown, then pruned", pruned)):
    print(f"{name:>20}: {est.get_n_leaves():3d} leaves, test accuracy "
          f"{est.score(X2_test, y2_test):.3f}")
assert stopped.get_n_leaves() <= 3 and stopped.score(X2_test, y2_test) < 0.8
assert pruned.score(X2_test, y2_test) > 0.85 and pruned.get_n_leaves() <= grown.get_n_leaves()

# %% [markdown]
# ## Summary
#
# - Stopping rules are cheap and effective, but each needs a value chosen on validation data.
# - They are short-sighted: a split that looks useless may enable good splits below it.
#   Post-pruning looks at the grown tree and does not suffer from this.
#
# ## Exercises
#
# 1. Pick the best `min_samples_leaf` on a validation split (not the test set).
# 2. Make a 3x3 checkerboard. Does `max_depth=2` suffice?
