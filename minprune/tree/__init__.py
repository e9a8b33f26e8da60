"""Decision trees: CART growth with pre-pruning, five post-pruning methods, export and plots."""
from .estimator import DecisionTreeClassifier, DecisionTreeRegressor
from .grow import StoppingRules
from .structure import Tree

__all__ = ["DecisionTreeClassifier", "DecisionTreeRegressor", "StoppingRules", "Tree"]
