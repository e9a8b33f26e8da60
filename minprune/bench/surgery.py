"""``minprune bench surgery``: what deleting pruned units and filters (``prune.compact``) buys
over keeping them masked, for inference (batch 256) and for a training step (batch 64).

Both models are measured in one worker process with every thread pool pinned, the masked one
first and the compacted one right after, on the same inputs; the FLOP ratio from
``prune.summary`` says what to expect.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from ..tables import table
from .common import machine_line, median_time, run_worker

CASES = [("lenet_300_100", "unit", 0.5), ("lenet_300_100", "unit", 0.75),
         ("lenet_300_100", "unit", 0.9), ("lenet5", "filter", 0.5), ("lenet5", "filter", 0.75)]


def measure(model_name, granularity, sparsity, repeat):
    from .. import Tensor, functional as F, models, no_grad, prune
    from ..nn import optim
    rng = np.random.default_rng(0)
    x_infer = Tensor(rng.random((256, 1, 28, 28), dtype=np.float32))
    x_train = Tensor(rng.random((64, 1, 28, 28), dtype=np.float32))
    y_train = rng.integers(0, 10, 64)
    masked = getattr(models, model_name)(rng=0)
    prune.prune(masked, sparsity, "magnitude", granularity, "local")
    small = prune.compact(masked)
    row = {"model": model_name, "granularity": granularity, "sparsity": sparsity,
           "params": sum(p.size for p in masked.parameters()),
           "params_compact": sum(p.size for p in small.parameters()),
           "flops_ratio": prune.summary(masked)[-1]["flops"] / prune.summary(small)[-1]["flops"]}
    for name, model in (("masked", masked), ("compact", small)):
        model.eval()

        def infer(model=model):
            with no_grad():
                model(x_infer)
        row[f"infer_{name}"] = median_time(infer, repeat=repeat)
        model.train()
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, opt=opt):
            opt.zero_grad()
            F.cross_entropy(model(x_train), y_train).backward()
            opt.step()
        row[f"step_{name}"] = median_time(step, warmup=5, repeat=repeat)
    return row


def run(threads=1, repeat=30, cases=CASES, out=print):
    out(machine_line(threads))
    rows = [run_worker(__name__, ["--worker", m, g, s, repeat], threads)
            for m, g, s in cases]
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
    p.add_argument("--worker", nargs=4, metavar=("MODEL", "GRANULARITY", "SPARSITY", "REPEAT"))
    args = p.parse_args(argv)
    model, granularity, sparsity, repeat = args.worker
    print(json.dumps(measure(model, granularity, float(sparsity), int(repeat))))


if __name__ == "__main__":
    main()
