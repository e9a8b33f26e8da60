"""DecisionTreeClassifier and DecisionTreeRegressor: validation, fitting and prediction facades."""
from __future__ import annotations

import numbers

import numpy as np

from .criteria import CLASSIFICATION, REGRESSION
from .grow import StoppingRules, grow
from .structure import Tree


def _check_int(name, value, low, allow_none=False):
    if value is None and allow_none:
        return
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        allowed = f"an integer >= {low}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def check_X(X, n_features=None, what="X"):
    """X as a 2-D float32 array (trees split on float32, as scikit-learn does) without NaN or
    inf; the error names the offending column."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{what} must be 2-D of shape (n_samples, n_features), got shape "
                         f"{X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{what} must be numeric, got dtype {X.dtype}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{what} has {X.shape[1]} features, but the tree was fitted with "
                         f"{n_features}")
    X32 = np.ascontiguousarray(X, dtype=np.float32)
    if not np.isfinite(X32).all():                  # NaN, inf, or too large for float32
        row, col = np.argwhere(~np.isfinite(X32))[0]
        value = X[row, col]
        reason = "is too large for float32" if np.isfinite(value) else "is not finite"
        raise ValueError(f"{what} column {col} (row {row}) holds {value}, which {reason}; "
                         f"trees need finite values")
    return X32


class _BaseTree:
    _criteria = ()

    def __init__(self, criterion, max_depth=None, min_samples_split=2, min_samples_leaf=1,
                 min_impurity_decrease=0.0, max_leaf_nodes=None, random_state=None):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.min_impurity_decrease = min_impurity_decrease
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state          # kept for API parity; growth is deterministic

    def get_params(self):
        return {k: getattr(self, k) for k in ("criterion", "max_depth", "min_samples_split",
                                              "min_samples_leaf", "min_impurity_decrease",
                                              "max_leaf_nodes", "random_state")}

    def _rules(self):
        if self.criterion not in self._criteria:
            raise ValueError(f"criterion must be one of {', '.join(self._criteria)}, got "
                             f"{self.criterion!r}")
        _check_int("max_depth", self.max_depth, 1, allow_none=True)
        _check_int("min_samples_split", self.min_samples_split, 2)
        _check_int("min_samples_leaf", self.min_samples_leaf, 1)
        _check_int("max_leaf_nodes", self.max_leaf_nodes, 2, allow_none=True)
        if not isinstance(self.min_impurity_decrease, numbers.Real) or \
                self.min_impurity_decrease < 0:
            raise ValueError(f"min_impurity_decrease must be a number >= 0, got "
                             f"{self.min_impurity_decrease!r}")
        return StoppingRules(self.max_depth, self.min_samples_split, self.min_samples_leaf,
                             float(self.min_impurity_decrease), self.max_leaf_nodes)

    def fit(self, X, y):
        """Grow the tree. X : (n_samples, n_features); y : (n_samples,)."""
        rules = self._rules()
        X = check_X(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must have shape ({len(X)},) to match X, got {y.shape}")
        if len(X) < 2:
            raise ValueError(f"need at least 2 samples to fit a tree, got {len(X)}")
        if len(X) < rules.min_samples_split:
            raise ValueError(f"X has {len(X)} samples, fewer than min_samples_split="
                             f"{rules.min_samples_split}: the root could never be split")
        y_fit = self._encode(y)
        # scikit-learn splits on float32 features; so do we.
        self.tree_, self.n_tied_splits_ = grow(X, y_fit, self.criterion, self._n_outputs(),
                                               rules)
        self.n_features_in_ = X.shape[1]
        self.pruning_trace_ = None
        return self

    def _check_fitted(self):
        if getattr(self, "tree_", None) is None:
            raise ValueError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) "
                             f"first")

    def apply(self, X):
        """The leaf index each sample lands in. X : (n_samples, n_features)."""
        self._check_fitted()
        return self.tree_.apply(check_X(X, self.n_features_in_))

    def get_depth(self):
        self._check_fitted()
        return self.tree_.max_depth

    def get_n_leaves(self):
        self._check_fitted()
        return self.tree_.n_leaves

    def _with_tree(self, tree, trace):
        """A new fitted estimator with the same parameters holding ``tree`` (for pruners)."""
        new = type(self)(**self.get_params())
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        new.tree_ = tree
        new.pruning_trace_ = trace
        return new

    def to_state(self):
        """(description, arrays): plain JSON-able values and arrays that ``from_state``
        turns back into this fitted estimator (``minprune.save`` writes them)."""
        self._check_fitted()
        description = {"kind": "tree", "estimator": type(self).__name__,
                       "params": self.get_params(), "n_features_in": self.n_features_in_}
        arrays = {f"tree/{k}": v for k, v in zip(Tree.FIELDS, self.tree_.arrays())}
        if hasattr(self, "classes_"):
            arrays["classes"] = self.classes_
        return description, arrays


class DecisionTreeClassifier(_BaseTree):
    """CART classification tree (Breiman et al. 1984) with scikit-learn's semantics.

    Parameters
    ----------
    criterion : "gini" or "entropy" (in bits).
    max_depth, min_samples_split, min_samples_leaf, min_impurity_decrease, max_leaf_nodes :
        the stopping rules (pre-pruning), see ``grow.StoppingRules``. With ``max_leaf_nodes``
        the tree grows best-first.
    random_state : accepted for compatibility. scikit-learn visits features in a random order
        and keeps the first of equally good splits; minprune keeps the lowest feature index, so
        the two agree exactly whenever no two features tie.

    Attributes
    ----------
    tree_ : ``Tree``; ``tree_.value`` holds class counts of shape (n_nodes, n_classes).
    classes_ : the sorted class labels.
    n_tied_splits_ : how many splits were chosen among equally good features (0 means the tree
        is the one scikit-learn grows, whatever its random_state).
    """
    _criteria = CLASSIFICATION

    def __init__(self, criterion="gini", max_depth=None, min_samples_split=2,
                 min_samples_leaf=1, min_impurity_decrease=0.0, max_leaf_nodes=None,
                 random_state=None):
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf,
                         min_impurity_decrease, max_leaf_nodes, random_state)

    def _encode(self, y):
        if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            raise ValueError("DecisionTreeClassifier needs class labels, but y holds "
                             "non-integer floats; use DecisionTreeRegressor for a continuous "
                             "target")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        return encoded.astype(np.int64)

    def _n_outputs(self):
        return len(self.classes_)

    def predict_proba(self, X):
        """Class probabilities: the class shares of each sample's leaf, (n_samples, n_classes)."""
        leaves = self.apply(X)
        counts = self.tree_.value[leaves]
        return counts / counts.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The majority class of each sample's leaf (the lowest class on a tie)."""
        leaves = self.apply(X)
        return self.classes_[np.argmax(self.tree_.value, axis=1)][leaves]

    def score(self, X, y):
        """Accuracy."""
        return float(np.mean(self.predict(X) == np.asarray(y)))


class DecisionTreeRegressor(_BaseTree):
    """CART regression tree minimising squared error; ``tree_.value`` holds leaf means (n, 1)."""
    _criteria = REGRESSION

    def __init__(self, criterion="squared_error", max_depth=None, min_samples_split=2,
                 min_samples_leaf=1, min_impurity_decrease=0.0, max_leaf_nodes=None,
                 random_state=None):
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf,
                         min_impurity_decrease, max_leaf_nodes, random_state)

    def _encode(self, y):
        if y.dtype.kind not in "fiu":
            raise ValueError(f"y must be numeric for a regression tree, got dtype {y.dtype}")
        y = y.astype(np.float64)
        if not np.all(np.isfinite(y)):
            raise ValueError("y contains NaN or inf")
        return y

    def _n_outputs(self):
        return 1

    def predict(self, X):
        """The mean target of each sample's leaf."""
        leaves = self.apply(X)
        return self.tree_.value[leaves, 0]

    def score(self, X, y):
        """Coefficient of determination R²."""
        y = np.asarray(y, dtype=np.float64)
        residual = ((y - self.predict(X)) ** 2).sum()
        return float(1 - residual / ((y - y.mean()) ** 2).sum())


def from_state(header, arrays):
    """Rebuild a fitted estimator from the (description, arrays) of its ``to_state()``."""
    cls = {"DecisionTreeClassifier": DecisionTreeClassifier,
           "DecisionTreeRegressor": DecisionTreeRegressor}.get(header.get("estimator"))
    if cls is None:
        raise ValueError(f"unknown estimator {header.get('estimator')!r} in the file")
    est = cls(**header["params"])
    est.tree_ = Tree(*(arrays[f"tree/{k}"] for k in Tree.FIELDS))
    est.n_features_in_ = header["n_features_in"]
    est.pruning_trace_ = None
    if "classes" in arrays:
        est.classes_ = arrays["classes"]
    return est
