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
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=1)
# the values of the rules are chosen on a validation split; the test split only measures
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=1)

# %% [markdown]
# ## 1. One rule at a time

# %%
RULES = {"max_depth": [2, 4, 6, 10, None], "min_samples_split": [2, 20, 80, 320],
         "min_samples_leaf": [1, 10, 40, 160], "min_impurity_decrease": [0, 0.001, 0.005, 0.02],
         "max_leaf_nodes": [4, 16, 64, 256]}
results = {}
rows = []
for rule, values in RULES.items():
    for v in values:
        est = tree.DecisionTreeClassifier(**{rule: v}, random_state=0).fit(X_train, y_train)
        results[(rule, v)] = est
        rows.append({"rule": rule, "value": str(v), "leaves": est.get_n_leaves(),
                     "depth": est.get_depth(), "train": est.score(X_train, y_train),
                     "val": est.score(X_val, y_val)})
print(table(rows, [("rule", "rule", "{}"), ("value", "value", "{}"), ("leaves", "leaves", "{}"),
                   ("depth", "depth", "{}"), ("train", "train", "{:.3f}"),
                   ("val", "validation", "{:.3f}")]))
full = results[("max_depth", None)]
for rule, values in RULES.items():
    leaves = [results[(rule, v)].get_n_leaves() for v in values]
    increasing = rule in ("max_depth", "max_leaf_nodes")
    assert leaves == sorted(leaves, reverse=not increasing), rule   # tighter rule, fewer leaves
assert results[("max_leaf_nodes", 16)].get_n_leaves() == 16

# %% [markdown]
# Each rule's value is chosen where the validation accuracy is highest; only then is the
# test split used, once per rule, to measure the choice.

# %%
chosen = []
for rule, values in RULES.items():
    best = max(values, key=lambda v: results[(rule, v)].score(X_val, y_val))
    est = results[(rule, best)]
    chosen.append({"rule": rule, "value": str(best), "leaves": est.get_n_leaves(),
                   "test": est.score(X_test, y_test)})
chosen.append({"rule": "none (fully grown)", "value": "-", "leaves": full.get_n_leaves(),
               "test": full.score(X_test, y_test)})
print(table(chosen, [("rule", "rule", "{}"), ("value", "chosen on validation", "{}"),
                     ("leaves", "leaves", "{}"), ("test", "test accuracy", "{:.3f}")]))
assert all(r["test"] > full.score(X_test, y_test) for r in chosen[:-1])
assert all(r["leaves"] < full.get_n_leaves() / 4 for r in chosen[:-1])

# Every rule traces the same trade-off - fewer leaves, a worse fit of the training data, and
# (up to a point) a better test score - each along its own path:
fig = viz.new_figure(6, 3.8)
ax = fig.subplots()
for rule, values in RULES.items():
    points = sorted((results[(rule, v)].get_n_leaves(), results[(rule, v)].score(X_val, y_val))
                    for v in values)
    ax.plot(*zip(*points), "o-", label=rule)
ax.axhline(full.score(X_val, y_val), color="gray", linestyle=":", label="fully grown")
ax.set(xscale="log", xlabel="leaves (log)", ylabel="validation accuracy",
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
                                       min_impurity_decrease=0.001, random_state=0)
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
# ### Stepping through the builder
#
# The builder is compiled by Numba (`minprune/tree/grow.py`: `_grow` pops a node, `_split`
# searches its best cut, `_create` records the node and why it stops). Every one of those
# functions is plain Python underneath: with `NUMBA_DISABLE_JIT=1` in the environment they
# run as Python, so `breakpoint()` in `_create`, or `python -m pdb`, steps through the
# growth node by node. The tree is the same, only slower:

# %%
import subprocess
import sys

code = ("import numpy as np, time; from minprune import tree;"
        "from minprune.data import make_classification;"
        "X, y = make_classification(600, 10, n_informative=4, flip_y=0.25, random_state=1);"
        "make = lambda: tree.DecisionTreeClassifier(max_depth=6, min_samples_leaf=10,"
        " random_state=0);"
        "make().fit(X, y);"                                    # compiles (or loads) the builder
        "t = time.perf_counter();"
        "est = make().fit(X, y);"
        "print(time.perf_counter() - t);"
        "print(est.tree_.threshold.tolist()); print(est.tree_.stop_reason.tolist())")
runs = {}
for jit in ("0", "1"):
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, NUMBA_DISABLE_JIT=jit),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    runs[jit] = out
print(f"compiled: {float(runs['0'][0]) * 1e3:.1f} ms, as plain Python: "
      f"{float(runs['1'][0]) * 1e3:.1f} ms; the same thresholds and stop reasons: "
      f"{runs['0'][1:] == runs['1'][1:]}")
assert runs["0"][1:] == runs["1"][1:]

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
alpha, _ = tree.select_ccp_alpha(X2_train, y2_train, cv=5, rule="1se", rng=0)  # training data only
pruned = tree.prune_ccp(grown, alpha)
for name, est in (("pre-pruned", stopped), ("fully grown", grown), ("grown, then pruned", pruned)):
    print(f"{name:>20}: {est.get_n_leaves():3d} leaves, test accuracy "
          f"{est.score(X2_test, y2_test):.3f}")
assert stopped.get_n_leaves() <= 3 and stopped.score(X2_test, y2_test) < 0.8
assert pruned.score(X2_test, y2_test) > 0.85 and pruned.get_n_leaves() <= grown.get_n_leaves()

# %% [markdown]
# ## Summary
#
# - Stopping rules are cheap and effective, but each needs a value chosen on validation data
#   (never on the test set, which only measures the choice).
# - The builder records why each leaf stopped, and runs as plain Python under
#   `NUMBA_DISABLE_JIT=1`, to be stepped through.
# - They are short-sighted: a split that looks useless may enable good splits below it.
#   Post-pruning looks at the grown tree and does not suffer from this.
#
# ## Exercises
#
# 1. Pick the best pair (`max_depth`, `min_samples_leaf`) on the validation split, from
#    `max_depth` in {2, 4, 6, None} and `min_samples_leaf` in {1, 10, 40}. Is it better on
#    the test split than the best single rule? Check: `lessons/solutions/12_tree_pre_pruning.py`
#    (scikit-learn's `GridSearchCV` does the same search by cross-validation).
# 2. Make a 3x3 checkerboard (`checkerboard(..., tiles=3)`). Does `max_depth=2` suffice? How
#    many leaves does the pattern need at least, and what depth do they need? Check: the same
#    solutions file.
