# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 12's exercises

# %%
import itertools
import os


from minprune import tree
from minprune.data import checkerboard, make_classification, train_test_split

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
X, y = make_classification(1500 if QUICK else 4000, 10, n_informative=4, n_redundant=2,
                           flip_y=0.25, random_state=1)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.3, random_state=1)
X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=1)

# %% [markdown]
# ## 1. Two rules at once, chosen on validation
#
# The grid of pairs contains every single rule (`max_depth=None` or `min_samples_leaf=1`
# switch one off), so its best validation score is at least the best single rule's. On the
# test split the pair is not guaranteed to win: validation picks the best *estimate*, and a
# small validation split estimates with noise.

# %%
def fitted(depth, leaf):
    return tree.DecisionTreeClassifier(max_depth=depth, min_samples_leaf=leaf,
                                       random_state=0).fit(X_train, y_train)


grid = {(d, m): fitted(d, m) for d, m in itertools.product([2, 4, 6, None], [1, 10, 40])}
best_pair = max(grid, key=lambda k: grid[k].score(X_val, y_val))
singles = {k: e for k, e in grid.items() if k[0] is None or k[1] == 1}
best_single = max(singles, key=lambda k: singles[k].score(X_val, y_val))
for name, key in (("pair", best_pair), ("single rule", best_single)):
    e = grid[key]
    print(f"best {name:11s} {key}: validation {e.score(X_val, y_val):.3f}, "
          f"test {e.score(X_test, y_test):.3f}, {e.get_n_leaves()} leaves")
assert grid[best_pair].score(X_val, y_val) >= grid[best_single].score(X_val, y_val)
full = grid[(None, 1)]
assert grid[best_pair].score(X_test, y_test) > full.score(X_test, y_test)

# %% [markdown]
# ## 2. A 3x3 checkerboard
#
# Nine tiles of alternating class need at least nine leaves (no leaf can hold two tiles that
# touch), and a tree of depth 2 has at most four: `max_depth=2` cannot suffice. A tile in the
# middle is bounded by four cuts (two on x, two on y), so its leaf lies at depth 4 or more.

# %%
X3, y3 = checkerboard(2000, tiles=3, noise=0.0, rng=0)
depth2 = tree.DecisionTreeClassifier(max_depth=2, random_state=0).fit(X3, y3)
grown = tree.DecisionTreeClassifier(random_state=0).fit(X3, y3)
print(f"max_depth=2: {depth2.get_n_leaves()} leaves, accuracy {depth2.score(X3, y3):.3f}; "
      f"grown: {grown.get_n_leaves()} leaves, depth {grown.get_depth()}")
assert depth2.get_n_leaves() <= 4 and depth2.score(X3, y3) < 0.9
assert grown.score(X3, y3) == 1.0 and grown.get_n_leaves() >= 9 and grown.get_depth() >= 4
