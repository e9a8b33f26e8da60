"""``minprune bench train``: one training step (forward, backward, SGD) against PyTorch CPU.

Each library runs in its own process with every thread pool pinned to the same count, and
reports the median step time after warm-up; the table gives minprune's time as a ratio of
PyTorch's, both measured in the same run. The sparse rows train LeNet-5 pruned to 90% (global
magnitude) twice in minprune - as the masked dense model and as ``sparse.to_sparse`` of it
(CSR layers, the stored values trained) - and give the sparse step as a ratio of the masked
one; PyTorch runs the masked model (a dense step whose gradients are masked).

Both workers import minprune, so both run with its malloc setting (``memory``): PyTorch's
step gains from it too (LeNet-5 at batch 64 measured 28 ms without, 23 ms with), and the
ratios are against that faster PyTorch.
"""
from __future__ import annotations

import argparse
import json

import numpy as np

from .. import Tensor, models, prune, sparse
from .. import functional as F
from ..nn import optim
from ..nn.interop import to_torch
from ..tables import table
from ..timing import machine_line, median_time
from .common import run_worker

CASES = [("lenet_300_100", 64), ("lenet_300_100", 256), ("lenet5", 64), ("resnet8", 64),
         ("lenet5 masked 90%", 64), ("lenet5 sparse 90%", 64)]


def _data(batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)


def build(case):
    """The model a case names: "lenet5", "resnet8", or "<model> masked 90%" / "<model> sparse
    90%" (global magnitude pruning; the sparse one runs ``sparse.to_sparse`` of the masked)."""
    name, *variant = case.split()
    model = models.resnet(8, rng=0) if name == "resnet8" else getattr(models, name)(rng=0)
    if variant:
        kind, amount = variant
        prune.prune(model, float(amount.rstrip("%")) / 100, "magnitude", "weight", "global")
        if kind == "sparse":
            model = sparse.to_sparse(model)
    return model


def step_time_minprune(case, batch, repeat):
    model = build(case)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _data(batch)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        opt.step()
    return median_time(step, warmup=5, repeat=repeat)


def step_time_torch(case, batch, repeat):
    import torch
    torch.set_num_threads(int(torch.get_num_threads()))   # pinned by the environment
    masked = build(case.replace("sparse", "masked"))
    model = to_torch(masked)
    masks = [None if p.mask is None else torch.from_numpy(p.mask.astype(np.float32))
             for p in masked.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = (torch.from_numpy(a) for a in _data(batch))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        for p, m in zip(model.parameters(), masks):
            if m is not None:
                p.grad.mul_(m)
        opt.step()
    return median_time(step, warmup=5, repeat=repeat)


def run(threads=1, repeat=30, rounds=3, cases=CASES, out=print):
    """Measure every case in both libraries; print and return the rows.

    The two libraries take turns for ``rounds`` rounds, each in a fresh process, and each
    keeps the median of its rounds, so a slow spell on a shared machine hits both alike.
    """
    out(machine_line(threads))
    rows = []
    libs = ["minprune", "torch"]
    for model_name, batch in cases:
        row = {"model": model_name, "batch": batch}
        times = {lib: [] for lib in libs}
        for _ in range(rounds):
            for lib in list(libs):
                try:
                    times[lib].append(run_worker(
                        __name__, ["--worker", lib, model_name, batch, repeat], threads)["seconds"])
                except RuntimeError as exc:
                    if lib != "torch":
                        raise
                    out(f"(PyTorch not measured: {str(exc).splitlines()[-1]})")
                    libs.remove(lib)
        row.update((lib, float(np.median(t)) * 1e3) for lib, t in times.items() if t)
        if row.get("torch"):
            row["ratio"] = row["minprune"] / row["torch"]
        masked = {(r["model"], r["batch"]): r["minprune"] for r in rows}.get(
            (model_name.replace("sparse", "masked"), batch))
        if "sparse" in model_name and masked:
            row["vs_masked"] = row["minprune"] / masked
        rows.append(row)
    out(table(rows, [("model", "model", "{}"), ("batch", "batch", "{}"),
                     ("minprune", "minprune ms", "{:.2f}"), ("torch", "torch ms", "{:.2f}"),
                     ("ratio", "minprune/torch", "{:.2f}x"),
                     ("vs_masked", "sparse/masked", "{:.2f}x")]))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minprune.bench.train")
    p.add_argument("--worker", nargs=4, metavar=("LIB", "MODEL", "BATCH", "REPEAT"))
    args = p.parse_args(argv)
    lib, model_name, batch, repeat = args.worker
    fn = step_time_minprune if lib == "minprune" else step_time_torch
    print(json.dumps({"seconds": fn(model_name, int(batch), int(repeat))}))


if __name__ == "__main__":
    main()
