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
from ..threads import describe
from ..timing import interleaved_rounds, one_thread, ratio_interval

# A speed-up is reported as unreliable when the quartiles of its per-round ratios lie more
# than this fraction of the median apart, or when it beats the FLOPs it saves by half again
# (no kernel runs faster than its arithmetic allows: that is a slow dense reference).
SPREAD_LIMIT = 0.3
BEYOND_FLOPS = 1.5


def forward(model, pattern=None):
    """The inference plan of ``model`` (evaluation mode)."""
    return infer.compile(model.eval(), pattern=pattern)


def panel(dense, pruned, granularity, X, batches, repeats):
    """{"<variant>_b<batch>_ms": median ms, "<variant>_b<batch>_speedup": dense / variant (the
    median of the per-round ratios), "..._speedup_low"/"_high": their quartiles,
    "..._reliable": whether the spread and the FLOPs bound (``SPREAD_LIMIT``,
    ``BEYOND_FLOPS``) allow it to be read, "threads": the threads in use, read back}."""
    flops = {"dense": 1.0, "masked": 1.0}
    total = prune.summary(pruned)[-1]
    saved = total["flops"] / max(total["effective_flops"], 1)
    flops.update(csr=saved, compact=saved, pattern=saved)
    variants = {"dense": dense, "masked": pruned,
                "csr": sparse.to_sparse(pruned, min_sparsity=0.0)}
    if granularity in ("unit", "filter", "block"):
        variants["compact"] = prune.compact(pruned)
    pattern = granularity if prune.patterns.parse(granularity) is not None else None
    if pattern is not None:
        variants["pattern"] = pruned
    plans = {name: forward(model, pattern if name == "pattern" else None)
             for name, model in variants.items()}
    out = {}
    with one_thread():
        out["threads"] = describe()
        for batch in batches:
            x = np.ascontiguousarray(X[:batch])
            if len(x) < batch:                      # a small test set: repeat it
                x = np.resize(X, (batch,) + X.shape[1:])
            times = interleaved_rounds({name: (lambda plan=plan, x=x: plan(x))
                                        for name, plan in plans.items()},
                                       rounds=max(repeats, 3))
            for name, seconds in times.items():
                out[f"{name}_b{batch}_ms"] = 1000 * float(np.median(seconds))
                if name == "dense":
                    continue
                key = f"{name}_b{batch}_speedup"
                mid, low, high = ratio_interval(times["dense"], seconds)
                out[key], out[f"{key}_low"], out[f"{key}_high"] = mid, low, high
                out[f"{key}_reliable"] = bool(high - low <= SPREAD_LIMIT * mid
                                              and mid <= BEYOND_FLOPS * max(flops[name], 1))
    return out
