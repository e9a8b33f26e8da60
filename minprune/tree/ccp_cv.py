"""The cross-validated choice of the cost-complexity parameter alpha (Breiman et al. 1984,
ch. 3.4; rpart's ``printcp`` table): the minimum-error or the one-standard-error rule."""
from __future__ import annotations

import numpy as np

from ..checks import integer, one_of
from .ccp import cost_complexity_path, prune_ccp
from .estimator import DecisionTreeClassifier


def select_ccp_alpha(X, y, cv=5, rule="min", rng=0, estimator=None, risk="impurity"):
    """Choose α by k-fold cross-validation over the path (Breiman et al. 1984; rpart's table).

    The candidates are the geometric means of consecutive alphas of the full-data path (the
    middle of each interval where a subtree is optimal), and for the root-only tree an alpha
    that reduces every fold's tree to its root (rpart's 10 x the largest CP). ``rule="min"``
    takes the lowest cross-validated error; ``rule="1se"`` the largest α whose error is
    within one standard error of that minimum (a simpler tree that is statistically as good).

    ``estimator`` (default: a ``DecisionTreeClassifier(random_state=0)``) gives the
    parameters of the trees grown; with ``random_state=None`` ties between equally good
    splits, and so the result, may differ from call to call.

    Returns ``(alpha, table)``. Each row has ``alpha``, ``leaves`` (of the full-data subtree),
    ``cv_error`` (misclassification rate, or MSE for a regressor) and ``cv_se`` (standard
    error over folds), and rpart's ``printcp`` columns: ``CP`` = alpha / R(root) (with
    ``risk="error"`` exactly rpart's complexity parameter), ``nsplit`` = leaves - 1,
    ``rel_error`` = training error of the subtree / the root's, ``xerror`` = cv_error / the
    root's training error, ``xstd`` = cv_se / the root's training error (rpart's xstd comes
    from the spread over observations, ours from the spread over folds).
    """
    one_of("rule", rule, ("min", "1se"))
    integer("cv", cv, 2)
    X, y = np.asarray(X), np.asarray(y)
    # a fixed random_state: equal improvements are broken the same way in every call, so the
    # same data and rng always give the same alpha and table
    estimator = estimator if estimator is not None else DecisionTreeClassifier(random_state=0)
    make = lambda: type(estimator)(**estimator.get_params())
    full = make().fit(X, y)
    path = cost_complexity_path(full, risk)
    a = path.ccp_alphas
    candidates = np.append(np.sqrt(a[:-1] * a[1:]), 10 * a[-1])
    folds = np.array_split(np.random.default_rng(rng).permutation(len(X)), cv)
    errors = np.zeros((cv, len(candidates)))
    classify = hasattr(full, "classes_")

    def error(est, X_, y_):
        pred = est.predict(X_)
        return np.mean(pred != y_) if classify else np.mean((pred - y_) ** 2)

    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(X)), test)
        tree = make().fit(X[train], y[train])
        for j, alpha in enumerate(candidates):
            last = j == len(candidates) - 1            # the root alone, in every fold
            errors[k, j] = error(prune_ccp(tree, np.inf if last else alpha, risk), X[test],
                                 y[test])
    mean, se = errors.mean(axis=0), errors.std(axis=0, ddof=1) / np.sqrt(cv)
    best = int(np.argmin(mean))
    if rule == "1se":
        best = int(np.flatnonzero(mean <= mean[best] + se[best]).max())
    root_risk = path.impurities[-1]
    root_error = error(prune_ccp(full, np.inf, risk), X, y)
    table = []
    for j, (c, n, m, s) in enumerate(zip(candidates, path.n_leaves, mean, se)):
        subtree = prune_ccp(full, np.inf if j == len(candidates) - 1 else c, risk)
        scale = root_error if root_error > 0 else 1.0
        table.append({"alpha": float(c), "leaves": int(n), "cv_error": float(m),
                      "cv_se": float(s), "CP": float(a[j] / root_risk) if root_risk else 0.0,
                      "nsplit": int(n) - 1, "rel_error": float(error(subtree, X, y) / scale),
                      "xerror": float(m / scale), "xstd": float(s / scale)})
    return float(candidates[best]), table
