"""``minprune bench sparse``: the CSR forward kernel against dense NumPy (BLAS) and scipy.sparse
on the same matrices, a full sparse training step against the masked dense step, and the
kernels' compile and cache-load times.

Every time is a median after warm-up, measured in one worker process per thread count with
every pool pinned to it (BLAS for dense, Numba for the kernel; scipy.sparse is single-threaded).
The kernel and scipy both take the activations transposed, (n_in, batch): the layout a chain
of sparse layers keeps for free (see ``sparse/kernels.py``); dense takes (batch, n_in).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from .. import Tensor, models, prune, sparse
from .. import functional as F
from ..nn import optim
from ..sparse import CSR, kernels
from ..tables import table
from ..timing import machine_line, median_time
from .common import run_worker

SHAPES = [(300, 784), (1024, 1024), (4096, 4096)]
SPARSITIES = [0.5, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99]   # 70 and 75% place the break-even
BATCHES = [1, 8, 64, 256]


def _matrices(shape, sparsity, batch, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) >= sparsity
    W = np.where(mask, rng.standard_normal(shape), 0).astype(np.float32)
    X = rng.standard_normal((batch, shape[1])).astype(np.float32)
    return W, mask, X


def measure_forward(threads, shapes, sparsities, batches, quick):
    kernels.set_threads(threads)
    try:
        import scipy.sparse as sp
    except ImportError:
        sp = None
    rows = []
    for shape in shapes:
        for batch in batches:
            for s in sparsities:
                W, mask, X = _matrices(shape, s, batch)
                csr = CSR.from_dense(W, mask)
                xt = np.ascontiguousarray(X.T)
                out = np.empty((shape[0], batch), dtype=np.float32)
                repeat = 5 if quick else (30 if shape[0] < 4096 else 10)
                min_time = 0.0 if quick else 0.2
                row = {"shape": f"{shape[0]}x{shape[1]}", "batch": batch, "sparsity": s,
                       "threads": threads}
                row["dense"] = median_time(lambda X=X, W=W: X @ W.T, repeat=repeat,
                                           min_time=min_time)
                row["minprune"] = median_time(
                    lambda c=csr, xt=xt, out=out: kernels.matmul(c.indptr, c.indices, c.values,
                                                                 xt, out),
                    repeat=repeat, min_time=min_time)
                if sp is not None:
                    Ws = sp.csr_matrix(W)
                    row["scipy"] = median_time(lambda Ws=Ws, xt=xt: Ws @ xt, repeat=repeat,
                                               min_time=min_time)
                rows.append(row)
    return rows


def measure_training_step(threads, quick):
    """One SGD step of a 90%-sparse LeNet-300-100 at batch 64: masked dense vs to_sparse."""
    sparse.set_threads(threads)
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    dense = models.lenet_300_100(rng=0)
    prune.prune(dense, 0.9, "magnitude", "weight", "global")
    fast = sparse.to_sparse(dense, min_sparsity=0.5)
    result = {}
    for name, model in (("masked dense", dense), ("sparse", fast)):
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, opt=opt):
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x)), y).backward()
            opt.step()
        result[name] = median_time(step, warmup=5, repeat=10 if quick else 50)
    return result


def compile_times():
    """Cold compile of every kernel for float32 (fresh cache) and the load from that cache, in
    seconds: one product per batch-size range of ``kernels.matmul``, and the gradient kernel."""
    code = ("import time, numpy as np; t = time.perf_counter(); "
            "from minprune.sparse import kernels, CSR; "
            "c = CSR.from_dense(np.eye(3, dtype=np.float32)); "
            "[kernels.matmul(c.indptr, c.indices, c.values, np.ones((3, b), np.float32), "
            "np.empty((3, b), np.float32)) for b in (1, 8, 16, kernels.TILE_16_MAX_BATCH + 1)]; "
            "x = np.ones((3, 2), np.float32); "
            "kernels.sddmm(c.indptr, c.indices, x, x, np.empty(3, np.float32)); "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = [float(subprocess.run([sys.executable, "-c", code], env=env, text=True,
                                      capture_output=True, check=True).stdout)
                 for _ in range(2)]
    return {"cold": times[0], "cached": times[1]}


def break_even(rows, shape, batch, threads):
    """The lowest measured sparsity from which the kernel beats dense at every higher level."""
    mine = sorted((r for r in rows if r["shape"] == shape and r["batch"] == batch
                   and r["threads"] == threads), key=lambda r: r["sparsity"])
    level = None
    for r in reversed(mine):
        if r["minprune"] < r["dense"]:
            level = r["sparsity"]
        else:
            break
    return level


def run(threads=(1, 2), quick=False, out=print):
    shapes = SHAPES[:2] if quick else SHAPES
    batches = [1, 64] if quick else BATCHES
    out(machine_line(",".join(map(str, threads))))
    rows, steps = [], {}
    for t in threads:
        got = run_worker(__name__, ["--worker", t, int(quick)], t)
        rows += got["forward"]
        steps[t] = got["step"]
    for r in rows:
        r["vs_dense"] = r["dense"] / r["minprune"]
        r["vs_scipy"] = r["scipy"] / r["minprune"] if "scipy" in r else None
        for key in ("dense", "minprune", "scipy"):
            if key in r:
                r[key + "_us"] = r[key] * 1e6
    out(table(rows, [("shape", "W", "{}"), ("batch", "batch", "{}"),
                     ("sparsity", "sparsity", "{:.0%}"), ("threads", "threads", "{}"),
                     ("dense_us", "dense us", "{:,.0f}"), ("scipy_us", "scipy us", "{:,.0f}"),
                     ("minprune_us", "minprune us", "{:,.0f}"),
                     ("vs_dense", "speedup vs dense", "{:.2f}x"),
                     ("vs_scipy", "speedup vs scipy", "{:.2f}x")]))
    out("")
    even = [{"shape": f"{s[0]}x{s[1]}", "batch": b, "threads": t,
             "break_even": break_even(rows, f"{s[0]}x{s[1]}", b, t)}
            for s in shapes for b in batches for t in threads]
    out(table(even, [("shape", "W", "{}"), ("batch", "batch", "{}"), ("threads", "threads", "{}"),
                     ("break_even", "faster than dense from", "{:.0%}")]))
    out("")
    step_rows = [{"threads": t, "dense_ms": s["masked dense"] * 1e3, "sparse_ms": s["sparse"] * 1e3,
                  "speedup": s["masked dense"] / s["sparse"]} for t, s in steps.items()]
    out("training step, LeNet-300-100 at 90% sparsity, batch 64 (forward + both backward "
        "kernels + SGD):")
    out(table(step_rows, [("threads", "threads", "{}"), ("dense_ms", "masked dense ms", "{:.2f}"),
                          ("sparse_ms", "sparse ms", "{:.2f}"),
                          ("speedup", "speedup", "{:.2f}x")]))
    times = compile_times()
    out(f"\nkernels: cold compile {times['cold']:.2f} s, load from cache {times['cached']:.2f} s")
    return rows, step_rows, times


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minprune.bench.sparse")
    p.add_argument("--worker", nargs=2, type=int, metavar=("THREADS", "QUICK"))
    args = p.parse_args(argv)
    threads, quick = args.worker
    shapes = SHAPES[:2] if quick else SHAPES
    batches = [1, 64] if quick else BATCHES
    sparsities = [0.5, 0.9, 0.99] if quick else SPARSITIES
    print(json.dumps({"forward": measure_forward(threads, shapes, sparsities, batches, quick),
                      "step": measure_training_step(threads, quick)}))


if __name__ == "__main__":
    main()
