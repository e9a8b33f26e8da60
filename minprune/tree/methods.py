"""The post-pruning methods by name: one record each (what it needs, how to run it), the same
shape as the criterion registry, for the commands, the studies and sweeps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import c45, ccp, ccp_cv, critical, postprune


@dataclass(frozen=True)
class PostPruner:
    """``run(full, train, val, rng)`` returns ``(pruned estimator, info)``; ``train`` and
    ``val`` are (X, y) pairs. ``classification_only``: it counts misclassifications."""
    name: str
    label: str
    run: Callable
    classification_only: bool = False


def _ccp(full, train, val, rng):
    alpha, table = ccp_cv.select_ccp_alpha(*train, cv=5, rule="1se", rng=rng,
                                           estimator=type(full)(**full.get_params()))
    return ccp.prune_ccp(full, alpha), {"alpha": alpha, "cv_table": table}


POST_PRUNERS = {p.name: p for p in (
    PostPruner("ccp", "cost-complexity (CV, 1-SE)", _ccp),
    PostPruner("rep", "reduced-error",
               lambda full, train, val, rng: (postprune.prune_reduced_error(full, *val), {})),
    PostPruner("pep", "pessimistic",
               lambda full, train, val, rng: (postprune.prune_pessimistic(full), {}), True),
    PostPruner("ebp", "error-based (C4.5)",
               lambda full, train, val, rng: (c45.prune_error_based(full, confidence=0.25),
                                               {}), True),
    PostPruner("mep", "minimum-error (m=2)",
               lambda full, train, val, rng: (postprune.prune_minimum_error(full, m=2.0), {}),
               True),
    PostPruner("cvp", "critical value",
               lambda full, train, val, rng: (critical.prune_critical_value(full, *val), {})),
)}
