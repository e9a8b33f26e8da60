"""The named records the tree builder passes around: what each array or number holds.

They are named tuples, which Numba compiles as plain structs (an attribute is as fast as a
position), so the builder reads as scikit-learn's C++ does - ``split.pos``, ``pending.depth[top]``
- and a debugger stepping through it with ``NUMBA_DISABLE_JIT=1`` shows the names. Their yes/no
fields are 0/1 integers, not bools: a bool field of a named tuple kept Numba from specialising
the split scan on it, and the builder ran markedly slower (``minprune bench tree``).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..jit import njit

# Minimum leaf size and weight, and the sample weights (``weighted`` 0: every weight is 1).
LeafRules = namedtuple("LeafRules", "min_samples min_weight sample_weight weighted")

# The stopping rules of ``grow.StoppingRules`` as the kernels read them (all floats).
StopRules = namedtuple("StopRules",
                       "max_depth split_limit min_samples_leaf min_impurity_decrease min_weight")

# Which features a node searches (``visit.visit_order``): the features in draw order, the
# constant ones found so far, the xorshift state (uint64, one entry), whether the order is
# random (1, scikit-learn's draw) or by index (0, rpart's), and at most how many to visit.
FeatureDraw = namedtuple("FeatureDraw", "features constant state random max_features")

# The tree under construction, one entry per node (``structure.Tree``'s arrays).
Nodes = namedtuple("Nodes", "left right feature threshold value impurity n_samples "
                            "weighted_n_samples stop_reason missing_left")

# The stack of nodes still to create: their rows [start, end) in every feature's order, depth,
# parent, which child they are, their impurity (computed by the parent's split) and how many
# constant features they inherit.
Pending = namedtuple("Pending", "start end depth parent is_left impurity n_constants")

# Each created node's split, kept until the node is expanded (at once depth-first; when it
# leaves the frontier best-first): its rows, depth, the cut position, the children's
# impurities, the improvement negated (the frontier's key), whether it splits, and the
# constant features its children inherit.
Splits = namedtuple("Splits", "start end depth pos impurity_left impurity_right "
                              "neg_improvement ok n_constants")

# The outcome of one node's split search (``grow._split``): SPLIT or why the node stays a leaf
# (``grow.STOP_REASONS``), the feature, the cut position, the threshold, the children's
# impurities, the weighted improvement, how many other features tied, and the constant
# features the children inherit, and where missing values go. ``pos``: the rows [start, pos)
# of every feature go left.
Split = namedtuple("Split", "reason feature pos threshold impurity_left impurity_right "
                            "improvement ties n_constants missing_left")

# The best cut of a node's split search (``splitter.best_split_*``): the feature, the position
# in its sorted row before which the present values go left, the threshold (+inf: every
# present value left, the missing ones right), whether one was found, how many other features
# were as good, whether the missing values go left (for a feature with none in the node: the
# side with more samples, where they go at predict) and how many samples go left.
Cut = namedtuple("Cut", "feature pos threshold found ties missing_left n_left")

# A node's sums over its samples: Σw·y, Σw·y² (float targets) and Σw.
NodeSums = namedtuple("NodeSums", "total total_sq weight")

# Buffers for partitioning a node's rows (``splitter.partition``): which samples go left, and
# room for the right side's values, sample ids, class targets and float targets.
PartitionBuffers = namedtuple("PartitionBuffers", "goes_left values samples classes targets")

# absolute_error's buffers (``splitter.absolute_errors``, ``median.prefix_errors``): the
# absolute error of every left and right prefix and their medians, the node's targets sorted,
# the samples' weights in scan order, the two Fenwick trees (w and w·y), each sample's rank and
# the ranks in scan order.
MedianScratch = namedtuple("MedianScratch", "left_error right_error left_median right_median "
                                            "sorted_targets weights fenwick_w fenwick_wy "
                                            "rank_of ranks")


@njit(cache=True)
def median_scratch(slots):
    """``MedianScratch`` with ``slots`` entries each: n + 1 for a node of n samples (the
    Fenwick trees count from 1), or 1 where absolute_error is not used."""
    floats, ints = np.zeros((8, slots)), np.zeros((2, slots), dtype=np.int64)
    return MedianScratch(floats[0], floats[1], floats[2], floats[3], floats[4], floats[5],
                         floats[6], floats[7], ints[0], ints[1])
