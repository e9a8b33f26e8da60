"""DecisionTreeClassifier and DecisionTreeRegressor: validation, fitting and prediction facades."""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

from .base import BaseEstimator, ClassifierMixin, NotFittedError, RegressorMixin
from .ccp import prune_ccp
from .checks import (check_int, check_sample_weight, check_X, check_y, class_weights,
                     feature_names, max_features_count)
from .criteria import CLASSIFICATION, REGRESSION
from .grow import StoppingRules, grow
from .visit import RAND_R_MAX
from .surrogate import grow_surrogate
from .structure import Tree


class _BaseTree(BaseEstimator):
    _criteria = ()

    def __init__(self, criterion, max_depth=None, min_samples_split=2, min_samples_leaf=1,
                 min_impurity_decrease=0.0, max_leaf_nodes=None, random_state=None,
                 ccp_alpha=0.0, max_features=None, tie_break="random",
                 min_weight_fraction_leaf=0.0, missing="side", max_surrogate=5):
        self.criterion = criterion
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.min_impurity_decrease = min_impurity_decrease
        self.max_leaf_nodes = max_leaf_nodes
        self.random_state = random_state
        self.ccp_alpha = ccp_alpha
        self.max_features = max_features
        self.tie_break = tie_break
        self.min_weight_fraction_leaf = min_weight_fraction_leaf
        self.missing = missing
        self.max_surrogate = max_surrogate

    def _rules(self):
        if self.criterion not in self._criteria:
            raise ValueError(f"criterion must be one of {', '.join(self._criteria)}, got "
                             f"{self.criterion!r}")
        check_int("max_depth", self.max_depth, 1, allow_none=True)
        check_int("min_samples_split", self.min_samples_split, 2)
        check_int("min_samples_leaf", self.min_samples_leaf, 1)
        check_int("max_leaf_nodes", self.max_leaf_nodes, 2, allow_none=True)
        if not isinstance(self.ccp_alpha, numbers.Real) or not self.ccp_alpha >= 0:
            raise ValueError(f"ccp_alpha must be a number >= 0, got {self.ccp_alpha!r}")
        if not isinstance(self.min_impurity_decrease, numbers.Real) or \
                self.min_impurity_decrease < 0:
            raise ValueError(f"min_impurity_decrease must be a number >= 0, got "
                             f"{self.min_impurity_decrease!r}")
        fraction = self.min_weight_fraction_leaf
        if not isinstance(fraction, numbers.Real) or isinstance(fraction, bool) or \
                not 0 <= fraction <= 0.5:
            raise ValueError(f"min_weight_fraction_leaf must be a number in [0, 0.5], got "
                             f"{fraction!r}")
        return StoppingRules(self.max_depth, self.min_samples_split, self.min_samples_leaf,
                             float(self.min_impurity_decrease), self.max_leaf_nodes,
                             float(fraction))

    def fit(self, X, y, sample_weight=None):
        """Grow the tree. X : (n_samples, n_features), an array or a DataFrame (its column
        names become ``feature_names_in_``); y : (n_samples,); sample_weight : None or
        (n_samples,) non-negative weights (counts, impurities and values become weighted sums;
        integer weights grow the tree that repeating rows would grow)."""
        rules = self._rules()
        names = feature_names(X)
        X_given = X
        X = check_X(X)
        y_fit = self._encode(check_y(y, len(X), type(self).__name__))
        weight = check_sample_weight(sample_weight, len(X))
        by_class = self._class_weights(y_fit)
        if by_class is not None:                      # multiplied in, as scikit-learn does
            weight = by_class if weight is None else weight * by_class
            if not weight.sum() > 0:
                raise ValueError("sample_weight times class_weight is zero for every sample")
        if self.missing not in ("side", "surrogate"):
            raise ValueError(f"missing must be one of side, surrogate, got {self.missing!r}")
        self.split_trace_ = None
        if self.missing == "surrogate":              # rpart's growth, on float64 values
            self.tree_, self.split_trace_ = grow_surrogate(self, X_given, y_fit, weight, rules)
            self.n_tied_splits_ = 0
        else:                        # scikit-learn splits on float32 features; so do we
            seed, max_features = self._feature_draw(X.shape[1])
            self.tree_, self.n_tied_splits_ = grow(X, y_fit, self.criterion,
                                                   self._n_outputs(), rules, seed,
                                                   max_features, weight)
        self.n_features_in_ = X.shape[1]
        if self.ccp_alpha > 0:                       # pruned at fit, as scikit-learn does
            self.tree_ = prune_ccp(self, self.ccp_alpha).tree_
        self.n_outputs_ = 1
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.pruning_trace_ = None
        return self

    def _feature_draw(self, n_features):
        """(seed, max_features) for ``grow``: scikit-learn's splitter seed, drawn as it draws
        it (``random_state.randint(0, RAND_R_MAX)``), or None for ``tie_break="first"``."""
        if self.tie_break not in ("random", "first"):
            raise ValueError(f"tie_break must be one of random, first, got {self.tie_break!r}")
        max_features = max_features_count(self.max_features, n_features)
        if self.tie_break == "first":
            if max_features != n_features:
                raise ValueError("max_features needs the random feature draw; use "
                                 "tie_break='random'")
            return None, max_features
        state = self.random_state
        if state is None:
            state = np.random.mtrand._rand            # the global generator, as scikit-learn
        elif isinstance(state, numbers.Integral) and not isinstance(state, bool):
            state = np.random.RandomState(state)
        elif not isinstance(state, np.random.RandomState):
            raise ValueError(f"random_state must be None, an int or a RandomState, got "
                             f"{self.random_state!r}")
        return int(state.randint(0, RAND_R_MAX)), max_features

    def __sklearn_tags__(self):
        """scikit-learn's tags (when it is installed): NaN is a missing value here."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def __sklearn_is_fitted__(self):
        return getattr(self, "tree_", None) is not None

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"This {type(self).__name__} instance is not fitted yet. "
                                 f"Call 'fit' with appropriate arguments before using this "
                                 f"estimator.")

    def _check_names(self, X):
        """scikit-learn's rule for column names at predict time: warn when one side has them
        and the other not, refuse different names."""
        import warnings
        fitted, given = getattr(self, "feature_names_in_", None), feature_names(X)
        name = type(self).__name__
        if fitted is None and given is not None:
            warnings.warn(f"X has feature names, but {name} was fitted without feature names",
                          UserWarning, stacklevel=3)
        elif fitted is not None and given is None:
            warnings.warn(f"X does not have valid feature names, but {name} was fitted with "
                          f"feature names", UserWarning, stacklevel=3)
        elif fitted is not None and (len(fitted) != len(given) or any(fitted != given)):
            raise ValueError("The feature names should match those that were passed during "
                             "fit.")

    def _validated(self, X):
        self._check_fitted()
        self._check_names(X)
        return check_X(X, self.n_features_in_, estimator=type(self).__name__,
                       dtype=self.tree_.split_dtype)

    def apply(self, X):
        """The leaf index each sample lands in. X : (n_samples, n_features)."""
        X = self._validated(X)
        return self.tree_.apply(X)

    @property
    def feature_importances_(self):
        """Impurity-based importances (mean decrease in impurity), normalised to sum to 1, as
        scikit-learn's: each split adds W_t·imp_t - W_L·imp_L - W_R·imp_R to its feature (W: the
        nodes' weighted sample counts)."""
        self._check_fitted()
        t = self.tree_
        importances = np.zeros(self.n_features_in_)
        n = t.weighted_n_node_samples
        for node in np.flatnonzero(t.children_left != -1):
            left, right = t.children_left[node], t.children_right[node]
            importances[t.feature[node]] += (n[node] * t.impurity[node]
                                             - n[left] * t.impurity[left]
                                             - n[right] * t.impurity[right])
        total = importances.sum()
        return importances / total if total > 0 else importances

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


class DecisionTreeClassifier(ClassifierMixin, _BaseTree):
    """CART classification tree (Breiman et al. 1984) with scikit-learn's semantics.

    Parameters
    ----------
    criterion : "gini" or "entropy" (in bits).
    max_depth, min_samples_split, min_samples_leaf, min_impurity_decrease, max_leaf_nodes :
        the stopping rules (pre-pruning), see ``grow.StoppingRules``. With ``max_leaf_nodes``
        the tree grows best-first.
    random_state : None (NumPy's global generator), an int or a RandomState: the random order
        in which each node visits the features, drawn exactly as scikit-learn draws it, so the
        first of equally good splits - the one kept - is the one scikit-learn keeps: the same
        tree for the same random_state, ties included.
    max_features : None, "sqrt", "log2", int or float: at most this many (non-constant)
        features searched per node, scikit-learn's rule.
    tie_break : "random" (scikit-learn's draw) or "first" (every feature in index order, the
        lowest index winning a tie: R's rpart rule, no random numbers).
    ccp_alpha : cost-complexity pruning at fit (``prune_ccp``), as scikit-learn's.
    min_weight_fraction_leaf : every leaf keeps at least this fraction of the total weight.
    class_weight : None, "balanced" or {label: weight}; multiplies the sample weights.
    missing : "side" (scikit-learn's: each split learns the side its missing values go to) or
        "surrogate" (R's rpart: the tree grown as rpart grows it - features in index order,
        the improvement on the rows where a feature is present - and each split given up to
        ``max_surrogate`` surrogate splits for rows missing its feature; ``split_trace_``
        lists them; see ``surrogate.py``).

    Attributes
    ----------
    tree_ : ``Tree``; ``tree_.value`` holds (weighted) class counts of shape (n_nodes,
        n_classes).
    classes_ : the sorted class labels.
    n_tied_splits_ : how many splits were chosen among equally good features (0 means the tree
        does not depend on random_state).
    """
    _criteria = CLASSIFICATION

    def __init__(self, criterion="gini", max_depth=None, min_samples_split=2,
                 min_samples_leaf=1, min_impurity_decrease=0.0, max_leaf_nodes=None,
                 random_state=None, ccp_alpha=0.0, max_features=None, tie_break="random",
                 min_weight_fraction_leaf=0.0, class_weight=None, missing="side",
                 max_surrogate=5):
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf,
                         min_impurity_decrease, max_leaf_nodes, random_state, ccp_alpha,
                         max_features, tie_break, min_weight_fraction_leaf, missing,
                         max_surrogate)
        self.class_weight = class_weight

    def _class_weights(self, y_encoded):
        return class_weights(self.class_weight, y_encoded, self.classes_)

    def _encode(self, y):
        if y.dtype.kind == "f" and np.any(y != np.round(y)):
            raise ValueError("Unknown label type: continuous. DecisionTreeClassifier needs "
                             "class labels, but y holds non-integer floats; use "
                             "DecisionTreeRegressor for a continuous target")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        self.n_classes_ = len(self.classes_)
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


class DecisionTreeRegressor(RegressorMixin, _BaseTree):
    """CART regression tree; ``tree_.value`` holds leaf means (n, 1) (medians for
    ``criterion="absolute_error"``).

    criterion : "squared_error", "friedman_mse" (its alias, as in scikit-learn 1.9, where
        Friedman's improvement was recognised as ranking splits as squared error does) or
        "absolute_error" (weighted-median leaves). The other
    parameters as ``DecisionTreeClassifier``'s (no class_weight)."""
    _criteria = REGRESSION

    def __init__(self, criterion="squared_error", max_depth=None, min_samples_split=2,
                 min_samples_leaf=1, min_impurity_decrease=0.0, max_leaf_nodes=None,
                 random_state=None, ccp_alpha=0.0, max_features=None, tie_break="random",
                 min_weight_fraction_leaf=0.0, missing="side", max_surrogate=5):
        super().__init__(criterion, max_depth, min_samples_split, min_samples_leaf,
                         min_impurity_decrease, max_leaf_nodes, random_state, ccp_alpha,
                         max_features, tie_break, min_weight_fraction_leaf, missing,
                         max_surrogate)

    def _class_weights(self, y_encoded):
        return None

    def _encode(self, y):
        if y.dtype.kind in "fiubO":                 # numbers, perhaps stored as objects
            with contextlib.suppress(TypeError, ValueError):
                return y.astype(np.float64)
        raise ValueError(f"Unknown label type: y must be numeric for a regression tree, got "
                         f"dtype {y.dtype}")

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
    est.tree_ = Tree(*(arrays.get(f"tree/{k}") for k in Tree.FIELDS))   # older files: no weights
    est.n_features_in_ = header["n_features_in"]
    est.n_outputs_ = 1
    est.pruning_trace_ = None
    if "classes" in arrays:
        est.classes_ = arrays["classes"]
        est.n_classes_ = len(est.classes_)
    return est
