"""``minprune bench surgery``: what deleting pruned units and filters (``prune.compact``) buys
over keeping them masked, for inference (batch 256) and for a training step (batch 64).

Every measurement runs in a fresh worker process with every thread pool pinned: timings taken
one after another in one process depend on what ran before (the allocator's state after
large arrays were freed made one masked training step several times slower). The FLOP ratio
from ``prune.summary`` says what to expect.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .. import Tensor, models, no_grad, prune
from .. import functional as F
from ..nn import optim
from ..tables import table
from ..timing import machine_line, median_time
from .common import run_worker

CASES = [("lenet_300_100", "unit", 0.5), ("lenet_300_100", "unit", 0.75),
         ("lenet_300_100", "unit", 0.9), ("lenet5", "filter", 0.5), ("lenet5", "filter", 0.75)]


def _models(model_name, granularity, sparsity):
    masked = getattr(models, model_name)(rng=0)
    prune.prune(masked, sparsity, "magnitude", granularity, "local")
    return masked, prune.compact(masked)


def measure(model_name, granularity, sparsity, variant, task, repeat):
    """Median seconds of one ``task`` ("infer" or "step") on the ``variant`` ("masked" or
    "compact") of the pruned model."""
    model = dict(zip(("masked", "compact"), _models(model_name, granularity, sparsity)))[variant]
    rng = np.random.default_rng(0)
    if task == "infer":
        x = Tensor(rng.random((256, 1, 28, 28), dtype=np.float32))
        model.eval()

        def infer():
            with no_grad():
                model(x)
        return median_time(infer, repeat=repeat)
    x = Tensor(rng.random((64, 1, 28, 28), dtype=np.float32))
    y = rng.integers(0, 10, 64)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return median_time(step, warmup=5, repeat=repeat)


def sizes(model_name, granularity, sparsity):
    """Parameters before and after ``compact``, and the FLOP ratio."""
    masked, small = _models(model_name, granularity, sparsity)
    return {"params": sum(p.size for p in masked.parameters()),
            "params_compact": sum(p.size for p in small.parameters()),
            "flops_ratio": prune.summary(masked)[-1]["flops"] / prune.summary(small)[-1]["flops"]}


def run(threads=1, repeat=30, cases=CASES, out=print):
    out(machine_line(threads))
    rows = []
    for m, g, s in cases:
        row = {"model": m, "granularity": g, "sparsity": s, **sizes(m, g, s)}
        for variant in ("masked", "compact"):
            for task in ("infer", "step"):
                row[f"{task}_{variant}"] = run_worker(
                    __name__, ["--worker", m, g, s, variant, task, repeat], threads)["seconds"]
        rows.append(row)
    for r in rows:
        r["infer_speedup"] = r["infer_masked"] / r["infer_compact"]
        r["step_speedup"] = r["step_masked"] / r["step_compact"]
        for key in ("infer_masked", "infer_compact", "step_masked", "step_compact"):
            r[key + "_ms"] = r[key] * 1e3
    out(table(rows, [("model", "model", "{}"), ("granularity", "pruned", "{}"),
                     ("sparsity", "sparsity", "{:.0%}"), ("params", "params", "{:,}"),
                     ("params_compact", "after compact", "{:,}"),
                     ("flops_ratio", "fewer FLOPs", "{:.1f}x"),
                     ("infer_masked_ms", "infer masked ms", "{:.2f}"),
                     ("infer_compact_ms", "infer compact ms", "{:.2f}"),
                     ("infer_speedup", "infer speed-up", "{:.2f}x"),
                     ("step_masked_ms", "step masked ms", "{:.2f}"),
                     ("step_compact_ms", "step compact ms", "{:.2f}"),
                     ("step_speedup", "step speed-up", "{:.2f}x")]))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minprune.bench.surgery")
    p.add_argument("--worker", nargs=6,
                   metavar=("MODEL", "GRANULARITY", "SPARSITY", "VARIANT", "TASK", "REPEAT"))
    args = p.parse_args(argv)
    model, granularity, sparsity, variant, task, repeat = args.worker
    print(json.dumps({"seconds": measure(model, granularity, float(sparsity), variant, task,
                                         int(repeat))}))


if __name__ == "__main__":
    main()
