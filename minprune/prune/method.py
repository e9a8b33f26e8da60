"""What to prune and how, as one record: criterion, granularity, scope and the norm of group
magnitudes, checked once when made and carried unchanged through ``prune``, the schedules,
the studies and the sweep."""
from __future__ import annotations

from dataclasses import dataclass, fields

from ..checks import one_of
from .criteria import CRITERIA, REGISTRY, check
from .groups import check_granularity
from .select import SCOPES


@dataclass(frozen=True)
class Method:
    """``Method("taylor", "filter", "local")``: the criterion that scores (``prune.CRITERIA``),
    the granularity of what it removes (weight, unit, filter, N:M, block:RxC), the scope of
    the ranking (local, global, or row: the same fraction of every output row), ``p``, the
    norm (1 or 2) of group magnitudes, and ``reconstruct``: after each pruning, refit the kept
    weights of every layer to the dense layer's outputs on the calibration inputs
    (``prune.oneshot.refit``; needs data)."""
    criterion: str = "magnitude"
    granularity: str = "weight"
    scope: str = "global"
    p: int = 1
    reconstruct: bool = False

    def __post_init__(self):
        one_of("criterion", self.criterion, CRITERIA)
        check_granularity(self.granularity)
        one_of("scope", self.scope, SCOPES)
        one_of("p", self.p, (1, 2))
        if not isinstance(self.reconstruct, bool):
            raise ValueError(f"reconstruct must be True or False, got {self.reconstruct!r}")

    @classmethod
    def of(cls, method=None, **choice):
        """``method`` itself, or a Method made of the fields in ``choice`` (criterion,
        granularity, scope, p); both at once is an error."""
        unknown = set(choice) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unexpected arguments {sorted(unknown)}; a method takes "
                            f"criterion, granularity, scope, p and reconstruct")
        if method is None:
            return cls(**choice)
        if not isinstance(method, cls):
            raise TypeError(f"method must be a prune.Method, got {type(method).__name__}")
        if choice:
            raise TypeError(f"give method= or {', '.join(sorted(choice))}, not both")
        return method

    @property
    def needs_data(self):
        return REGISTRY[self.criterion].needs_data or self.reconstruct

    def check(self, model):
        """The prunable layers of ``model`` for this method; ValueError naming why not."""
        return check(model, self.criterion, self.granularity, self.scope)

    def __str__(self):
        refit = " + reconstruct" if self.reconstruct else ""
        return f"{self.criterion}{refit}, {self.granularity}, {self.scope}"
