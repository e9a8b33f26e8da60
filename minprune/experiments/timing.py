"""Measured inference latency of a pruned model beside its dense original, in one process on
one thread: masked dense, CSR (``sparse.to_sparse``) and, for unit and filter pruning,
compacted (``prune.compact``), for N:M and block pruning the pattern's own storage
(``infer.compile(..., pattern=...)``), each at the given batch sizes, timed in turns
(``timing.interleaved_times``: median over rounds after a warm-up).

What is timed is the inference plan (``infer.compile``: array operations, no Tensors, no
graph); every speed-up is a ratio of two times measured in the same process and run.
"""
from __future__ import annotations

import numpy as np

from .. import infer, prune, sparse
from ..timing import interleaved_times, one_thread


def forward(model, pattern=None):
    """The inference plan of ``model`` (evaluation mode)."""
    return infer.compile(model.eval(), pattern=pattern)


def panel(dense, pruned, granularity, X, batches, repeats):
    """{"<variant>_b<batch>_ms": median ms, "<variant>_b<batch>_speedup": dense / variant}."""
    variants = {"dense": dense, "masked": pruned,
                "csr": sparse.to_sparse(pruned, min_sparsity=0.0)}
    if granularity in ("unit", "filter"):
        variants["compact"] = prune.compact(pruned)
    pattern = granularity if prune.patterns.parse(granularity) is not None else None
    if pattern is not None:
        variants["pattern"] = pruned
    plans = {name: forward(model, pattern if name == "pattern" else None)
             for name, model in variants.items()}
    out = {}
    with one_thread():
        for batch in batches:
            x = np.ascontiguousarray(X[:batch])
            if len(x) < batch:                      # a small test set: repeat it
                x = np.resize(X, (batch,) + X.shape[1:])
            times = interleaved_times({name: (lambda plan=plan, x=x: plan(x))
                                       for name, plan in plans.items()}, rounds=repeats)
            for name, seconds in times.items():
                out[f"{name}_b{batch}_ms"] = 1000 * seconds
                if name != "dense":
                    out[f"{name}_b{batch}_speedup"] = times["dense"] / seconds
    return out
