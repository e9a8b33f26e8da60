"""The scikit-learn estimator protocol for the trees, without making scikit-learn a
dependency: when it is importable the trees inherit its ``BaseEstimator`` and mixins (so
``clone``, ``Pipeline``, ``GridSearchCV`` and ``check_estimator`` treat them as its own, the
pattern XGBoost and LightGBM use); otherwise a small base gives the same ``get_params``,
``set_params`` and ``repr``."""
from __future__ import annotations

import inspect

try:                                               # pragma: no branch - either is fine
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import DataConversionWarning, NotFittedError
except ImportError:
    class DataConversionWarning(UserWarning):
        """Input data was converted (scikit-learn's warning of that name)."""

    class NotFittedError(ValueError, AttributeError):
        """The estimator is used before ``fit`` (scikit-learn's exception of that name)."""

    class BaseEstimator:
        """get_params / set_params / repr, as scikit-learn's BaseEstimator gives them."""

        @classmethod
        def _get_param_names(cls):
            signature = inspect.signature(cls.__init__)
            return sorted(p.name for p in signature.parameters.values()
                          if p.name != "self" and p.kind != p.VAR_KEYWORD)

        def get_params(self, deep=True):
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params):
            valid = self._get_param_names()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"Invalid parameter {name!r} for estimator "
                                     f"{type(self).__name__}. Valid parameters are: "
                                     f"{valid!r}.")
                setattr(self, name, value)
            return self

        def __repr__(self):
            defaults = {p.name: p.default for p in
                        inspect.signature(type(self).__init__).parameters.values()}
            changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                       if defaults.get(k) is not v and defaults.get(k) != v]
            return f"{type(self).__name__}({', '.join(changed)})"

    class ClassifierMixin:
        _estimator_type = "classifier"

    class RegressorMixin:
        _estimator_type = "regressor"

__all__ = ["BaseEstimator", "ClassifierMixin", "RegressorMixin", "NotFittedError",
           "DataConversionWarning"]
