"""Impurities from class counts or target sums: Gini, entropy (in bits) and squared error.

``friedman_mse`` is squared error, as in scikit-learn 1.9 (which made it an alias: Friedman's
improvement ranks splits as squared error does); ``absolute_error``'s medians and errors are in
``median.py``.

Written as plain loops over small arrays so the same functions run inside the Numba splitter
and in ordinary Python; their arithmetic follows scikit-learn's order of operations, so the
impurities agree with it to the last bits on the same counts.
"""
from __future__ import annotations

import math

from ..jit import njit

CLASSIFICATION = ("gini", "entropy", "log_loss")      # log_loss: scikit-learn's entropy alias
REGRESSION = ("squared_error", "friedman_mse", "absolute_error")
GINI, ENTROPY, SQUARED_ERROR, ABSOLUTE_ERROR = 0, 1, 2, 3
CODES = {"gini": GINI, "entropy": ENTROPY, "log_loss": ENTROPY, "squared_error": SQUARED_ERROR,
         "friedman_mse": SQUARED_ERROR, "absolute_error": ABSOLUTE_ERROR}


@njit(cache=True)
def gini(counts, n):
    """1 - Σ_k (n_k / n)², computed as 1 - (Σ n_k²) / n²."""
    sq = 0.0
    for c in counts:
        sq += c * c
    return 1.0 - sq / (n * n)


@njit(cache=True)
def entropy(counts, n):
    """-Σ_k p_k log2 p_k with p_k = n_k / n (bits)."""
    h = 0.0
    for c in counts:
        if c > 0.0:
            p = c / n
            h -= p * (math.log(p) / math.log(2.0))
    return h


@njit(cache=True)
def class_impurity(counts, n, code):
    return gini(counts, n) if code == GINI else entropy(counts, n)


@njit(cache=True)
def squared_error(total, sq_total, n):
    """Mean squared deviation from the mean: Σy²/n - (Σy/n)²."""
    return sq_total / n - (total / n) ** 2.0
