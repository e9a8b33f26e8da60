"""CSV reading and train/test splitting for tabular data."""
from __future__ import annotations

import csv
import math
import os

import numpy as np

MISSING = ("", "NA", "N/A", "?", "nan", "NaN")     # cells read as a missing value (NaN)


def load_csv(path, target, *, delimiter=","):
    """Read a CSV file with a header row into a numeric feature matrix and a target.

    Parameters
    ----------
    path : str, the file.
    target : str or int, the target column's name or index.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    y : ndarray of shape (n_samples,): int64 class indices if the target column holds any
        non-numeric value (then ``class_names`` lists the labels in sorted order), else float64.
    feature_names : list of str
    class_names : list of str, or None for a numeric target.

    An empty cell, ``NA``, ``N/A``, ``?`` or ``nan`` in a feature column is a missing value
    (NaN in X; ``missing_counts`` counts them per column); a column missing throughout, a
    missing target, or a value that is not a number raises ValueError naming the file, line
    and column.
    """
    path = os.fspath(path)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=delimiter))
    if not rows:
        raise ValueError(f"{path}: the file is empty")
    header, body = rows[0], [row for row in rows[1:] if row]
    if not body:
        raise ValueError(f"{path}: no data rows under the header")
    t = _column(path, header, target)
    feature_names = [h for i, h in enumerate(header) if i != t]
    X = np.empty((len(body), len(header) - 1))
    raw_target = []
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} values, the header has "
                             f"{len(header)}")
        raw_target.append(row[t].strip())
        if raw_target[-1] in MISSING:
            raise ValueError(f"{path}, line {line}: the target {header[t]!r} is missing "
                             f"({row[t]!r}); drop the row or fill it in")
        for j, (col, value) in enumerate((i, v) for i, v in enumerate(row) if i != t):
            if value.strip() in MISSING:
                X[line - 2, j] = np.nan
                continue
            try:
                x = float(value)
            except ValueError:
                raise ValueError(f"{path}, line {line}, column {col + 1} "
                                 f"({header[col]!r}): {value!r} is not a number") from None
            if math.isnan(x) or math.isinf(x):
                raise ValueError(f"{path}, line {line}, column {col + 1} ({header[col]!r}): "
                                 f"{value!r} is not a finite number (a missing value is an "
                                 f"empty cell, NA or ?)")
            X[line - 2, j] = x
    empty = np.flatnonzero(np.isnan(X).all(axis=0))
    if len(empty):
        raise ValueError(f"{path}: column {feature_names[empty[0]]!r} is missing in every row; "
                         f"drop it")
    try:
        y = np.array([float(v) for v in raw_target])
        class_names = None
    except ValueError:
        class_names = sorted(set(raw_target))
        index = {c: i for i, c in enumerate(class_names)}
        y = np.array([index[v] for v in raw_target], dtype=np.int64)
    return X, y, feature_names, class_names


def missing_counts(X, feature_names):
    """{column name: how many values are missing} for the columns with any."""
    counts = np.isnan(np.asarray(X, dtype=np.float64)).sum(axis=0)
    return {name: int(c) for name, c in zip(feature_names, counts) if c}


def _column(path, header, target):
    """The index of the target column, given by name or (possibly negative) index."""
    if isinstance(target, (int, np.integer)):
        if not -len(header) <= target < len(header):
            raise ValueError(f"{path}: target column index {target} out of range for "
                             f"{len(header)} columns")
        return target % len(header)
    if target in header:
        return header.index(target)
    raise ValueError(f"{path}: no column named {target!r}; columns are {header}")


def train_test_split(X, y, test_size=0.25, random_state=0, stratify=True):
    """Split into ``(X_train, X_test, y_train, y_test)``.

    test_size : float in (0, 1) (a fraction) or int (a count).
    stratify : keep each class's share in both parts (for integer or text labels).
    """
    X, y = np.asarray(X), np.asarray(y)
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X has {n} samples but y has {len(y)}")
    if isinstance(test_size, float):
        if not 0 < test_size < 1:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size}")
        n_test = int(math.ceil(test_size * n))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size gives {n_test} test samples out of {n}; need 1 to {n - 1}")
    rng = np.random.default_rng(random_state)
    if stratify and y.dtype.kind in "iuUS":
        # Each class gives its share, largest remainders first, so the total is exact.
        classes, counts = np.unique(y, return_counts=True)
        share = counts * n_test / n
        take = np.floor(share).astype(int)
        order = np.argsort(-(share - take), kind="stable")
        take[order[:n_test - take.sum()]] += 1
        test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:k]
                               for c, k in zip(classes, take)])
    else:
        test = rng.permutation(n)[:n_test]
    is_test = np.zeros(n, dtype=bool)
    is_test[test] = True
    train = rng.permutation(np.flatnonzero(~is_test))
    test = rng.permutation(test)
    return X[train], X[test], y[train], y[test]
