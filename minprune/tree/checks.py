"""Input checks for the trees: X, y, sample and class weights, max_features - each error
names the argument, what it got and what is allowed."""
from __future__ import annotations

import numbers

import numpy as np

from .base import DataConversionWarning


def check_int(name, value, low, allow_none=False):
    """A whole-number parameter of at least ``low`` (or None where ``allow_none``)."""
    if value is None and allow_none:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        allowed = f"an integer >= {low}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_X(X, n_features=None, what="X", estimator="the tree", dtype=np.float32):
    """X as a 2-D float32 array (trees split on float32, as scikit-learn does) with at least
    one sample and one feature and no inf; NaN marks a missing value. The error names the
    offending column."""
    if hasattr(X, "toarray") or hasattr(X, "tocsr"):
        raise TypeError(f"{what} is a sparse matrix; sparse input is not supported: pass "
                        f"{what}.toarray()")
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {X.dtype}")
    if X.dtype == object:
        X = X.astype(np.float64)                 # numbers stored as objects; else TypeError
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead: {what} must be of "
                         f"shape (n_samples, n_features), got shape {X.shape}. Reshape your "
                         f"data with X.reshape(-1, 1) for a single feature or "
                         f"X.reshape(1, -1) for a single sample.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be numeric, got dtype {X.dtype}")
    for axis, unit in ((0, "sample"), (1, "feature")):
        if X.shape[axis] == 0:
            raise ValueError(f"Found array with 0 {unit}(s) (shape={X.shape}) while a minimum "
                             f"of 1 is required: a tree needs at least 1 sample and 1 feature")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{what} has {X.shape[1]} features, but {estimator} is expecting "
                         f"{n_features} features as input")
    with np.errstate(over="ignore"):                 # reported below, by column
        X32 = np.ascontiguousarray(X, dtype=np.float32)
    infinite = np.isinf(X32)                         # inf, or too large for float32
    if infinite.any():
        row, col = np.argwhere(infinite)[0]
        value = X[row, col]
        reason = "is too large for float32" if np.isfinite(value) else "is infinite"
        raise ValueError(f"{what} column {col} (row {row}) holds {value}, which {reason}; "
                         f"trees take finite values, and NaN for a missing one")
    return X32 if dtype == np.float32 else np.ascontiguousarray(X, dtype=dtype)


def max_features_count(value, n_features):
    """scikit-learn's reading of ``max_features``: None, "sqrt", "log2", an int, a float."""
    if value is None:
        return n_features
    if value == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if value == "log2":
        return max(1, int(np.log2(n_features)))
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and \
            1 <= value <= n_features:
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)) \
            and 0 < value <= 1:
        return max(1, int(value * n_features))
    raise ValueError(f"max_features must be None, 'sqrt', 'log2', an int in [1, "
                     f"{n_features}] or a float in (0, 1], got {value!r}")


def check_sample_weight(sample_weight, n_samples):
    """``sample_weight`` as a float64 array of ``n_samples`` finite, non-negative weights with
    a positive sum (None stays None: every sample weighs 1)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, float(sample_weight))
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"sample_weight must be numbers, got "
                         f"{type(sample_weight).__name__}") from error
    if w.ndim != 1 or len(w) != n_samples:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({n_samples},)!")
    if not np.isfinite(w).all():
        raise ValueError("sample_weight must be finite, got NaN or infinity at row "
                         f"{int(np.flatnonzero(~np.isfinite(w))[0])}")
    if (w < 0).any():
        row = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"sample_weight must be >= 0, got {w[row]} at row {row}")
    if not w.sum() > 0:
        raise ValueError("sample_weight must have a positive sum, got all zeros")
    return w


def class_weights(class_weight, y_encoded, classes):
    """The weight of every sample from ``class_weight`` (None, "balanced" or a dict
    {class label: weight}, missing classes weighing 1), as scikit-learn computes it:
    "balanced" gives n_samples / (n_classes · count(class))."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.bincount(y_encoded, minlength=len(classes)).astype(np.float64)
        return (len(y_encoded) / (len(classes) * counts))[y_encoded]
    if not isinstance(class_weight, dict):
        raise ValueError(f"class_weight must be None, 'balanced' or a dict {{class: weight}}, "
                         f"got {class_weight!r}")
    unknown = [k for k in class_weight if k not in set(classes.tolist())]
    if unknown:
        raise ValueError(f"class_weight names classes {unknown} that are not in y; the classes "
                         f"are {classes.tolist()}")
    per_class = np.ones(len(classes))
    for i, label in enumerate(classes.tolist()):
        if label in class_weight:
            weight = class_weight[label]
            if not isinstance(weight, numbers.Real) or not weight >= 0:
                raise ValueError(f"class_weight[{label!r}] must be a number >= 0, got "
                                 f"{weight!r}")
            per_class[i] = float(weight)
    return per_class[y_encoded]


def feature_names(X):
    """The column names of a DataFrame (or anything with string ``.columns``), else None."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = np.asarray(list(columns), dtype=object)
    return names if len(names) and all(isinstance(n, str) for n in names) else None


def check_y(y, n_samples, estimator):
    """y as a 1-D array of ``n_samples`` (a column vector is raveled with a warning)."""
    if y is None:
        raise ValueError(f"{estimator} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        import warnings
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                      "change the shape of y to (n_samples,), for example using ravel().",
                      DataConversionWarning, stacklevel=3)
        y = y.ravel()
    if y.ndim != 1 or len(y) != n_samples:
        raise ValueError(f"y must have shape ({n_samples},) to match X, got {y.shape}")
    if y.dtype.kind == "f":
        if np.isnan(y).any():
            raise ValueError("Input y contains NaN.")
        if np.isinf(y).any():
            raise ValueError("Input y contains infinity or a value too large for "
                             "dtype('float64').")
    return y
