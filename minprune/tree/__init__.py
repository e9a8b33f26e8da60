"""Decision trees: CART growth with pre-pruning (stopping rules) and missing values, six
post-pruning methods (cost-complexity, reduced-error, pessimistic, error-based, minimum-error,
critical value), the optimally pruned tree as a yardstick, export and plots."""
from .ccp import CCPPath, cost_complexity_path, prune_ccp
from .ccp_cv import select_ccp_alpha
from .estimator import DecisionTreeClassifier, DecisionTreeRegressor, from_state
from .export import export_text, plot_tree
from .grow import STOP_REASONS, StoppingRules, stopping_trace
from .c45 import binomial_upper, c45_errors, prune_error_based
from .postprune import prune_minimum_error, prune_pessimistic, prune_reduced_error
from .critical import prune_critical_value
from .optimal import optimal_pruning, pruning_deviation
from .structure import Tree

__all__ = ["DecisionTreeClassifier", "DecisionTreeRegressor", "StoppingRules", "Tree",
           "cost_complexity_path", "prune_ccp", "select_ccp_alpha", "CCPPath",
           "prune_reduced_error", "prune_pessimistic", "prune_error_based",
           "prune_minimum_error", "prune_critical_value", "optimal_pruning",
           "pruning_deviation", "binomial_upper", "c45_errors", "export_text", "plot_tree",
           "from_state", "stopping_trace", "STOP_REASONS"]
