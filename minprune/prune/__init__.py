"""Pruning in three questions: how important (``scores``), which to remove (``select``), and
removing them (``apply``); ``prune`` asks all three and records a trace.

>>> scores = prune.scores(model, criterion="magnitude", granularity="weight")
>>> keep = prune.select(scores, sparsity=0.9, scope="global")
>>> prune.apply(model, keep)
>>> small = prune.compact(model)          # pruned units and filters deleted for real
>>> prune.prune(model, 0.9, method=prune.Method("taylor", "unit", "local"), data=(X, y))

Granularities: "weight", "unit", "filter", and the hardware patterns "N:M" (e.g. "2:4") and
"block:RxC" (e.g. "block:1x4"), see ``patterns``.
"""
from . import masks, patterns
from .criteria import CRITERIA, Scores, check, scores
from .groups import GRANULARITIES, prunable_layers
from .layerwise import Sensitivity, layer_sensitivity, prune_per_layer
from .masks import (Snapshot, apply, get_masks, prunable_weights, remove, restore, set_masks,
                    snapshot, weight_sparsity)
from .method import Method
from .pipeline import PruneResult, prune
from .report import Summary, Trace, summary
from .select import SCOPES, Selection, select
from .surgery import compact
from . import regularizers, schedules

__all__ = ["scores", "select", "apply", "prune", "check", "Method", "remove", "weight_sparsity",
           "get_masks", "set_masks", "snapshot", "restore", "Snapshot", "summary", "Trace",
           "Summary", "Scores", "Selection", "PruneResult", "CRITERIA", "GRANULARITIES",
           "SCOPES", "prunable_layers", "prunable_weights", "compact", "schedules", "regularizers",
           "layer_sensitivity", "prune_per_layer", "Sensitivity", "masks", "patterns"]
