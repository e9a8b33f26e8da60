"""The optimally pruned tree as a yardstick, and how far a pruning method strays from it.

Esposito, Malerba & Semeraro (1997) judge each post-pruning method against the optimally
pruned tree: of all the prunings of the full tree, the smallest with the highest accuracy on
the test data. They prove that reduced-error pruning run on the test set itself finds it -
bottom-up, a subtree is replaced by a leaf whenever the leaf makes no more test errors. A
method over-prunes where it cuts splits that the optimal tree keeps, and under-prunes where it
keeps splits the optimal tree cuts.
"""
from __future__ import annotations

from .postprune import prune_reduced_error
from .structure import LEAF


def optimal_pruning(est, X_test, y_test):
    """The optimally pruned tree of ``est`` for (X_test, y_test): reduced-error pruning on the
    test set (no other pruning of the tree makes fewer test errors, and none as accurate is
    smaller)."""
    return prune_reduced_error(est, X_test, y_test)


def kept_splits(full, pruned):
    """The node ids of ``full``'s tree whose split ``pruned`` keeps (``pruned`` a pruning of
    ``full``: its tree is the full tree with some subtrees turned into leaves)."""
    a, b = full.tree_, pruned.tree_
    kept, stack = set(), [(0, 0)]
    while stack:
        i, j = stack.pop()
        if b.children_left[j] == LEAF:
            continue
        if a.children_left[i] == LEAF or a.feature[i] != b.feature[j] or \
                a.threshold[i] != b.threshold[j]:
            raise ValueError(f"the pruned tree is not a pruning of the full tree (node {i} "
                             f"splits differently); subtree raising moves splits")
        kept.add(int(i))
        stack += [(a.children_left[i], b.children_left[j]),
                  (a.children_right[i], b.children_right[j])]
    return kept


def pruning_deviation(full, pruned, optimal):
    """How ``pruned`` departs from ``optimal`` (both prunings of ``full``): ``over`` = splits
    the optimal tree keeps that ``pruned`` cut, ``under`` = splits ``pruned`` keeps that the
    optimal tree cuts (a split is one leaf: cutting k splits removes k leaves)."""
    mine, best = kept_splits(full, pruned), kept_splits(full, optimal)
    return {"over": len(best - mine), "under": len(mine - best)}
