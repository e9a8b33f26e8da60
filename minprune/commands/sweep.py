"""``minprune sweep``: a grid of pruning methods x sparsities x seeds with controls and
measured speed, locally or on Dask, resumable; ``--report DIR`` rebuilds the report."""
from __future__ import annotations

import os
import time

from .common import UsageError, check_out, usage


def add_arguments(p):
    p.add_argument("spec", nargs="?", help="the sweep spec, a TOML file (see examples/)")
    p.add_argument("--out", help="the sweep folder (results.jsonl, dense models, report)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=1,
                       help="local worker processes, one thread each (1)")
    where.add_argument("--scheduler", default=None,
                       help="tcp://HOST:PORT of a running Dask scheduler, or local:N to start "
                            "a Dask LocalCluster of N workers")
    p.add_argument("--dry-run", action="store_true", help="list the runs and stop")
    p.add_argument("--force", action="store_true",
                   help="run a different spec into a folder that holds another one")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="rebuild DIR's report from its results.jsonl and stop")


def run(args, out=print):
    from ..experiments import spec as specs  # lazy: at run time, not for --help
    from ..experiments.sweep_report import build  # lazy: at run time, not for --help
    if args.report:
        path = usage(build, args.report)
        out(f"report: {os.path.abspath(path)}")
        return 0
    if not args.spec or not args.out:
        raise UsageError("give a SPEC.toml and --out DIR (or --report DIR)")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    spec = usage(specs.load, args.spec)
    runs = specs.expand(spec)
    usage(specs.check_runs, spec, runs)
    from ..experiments.sweep import Sweep, dense_key  # lazy: at run time, not for --help
    n_dense = len({dense_key(r["config"]) for r in runs})
    if args.dry_run:
        for r in runs:
            out(f"{r['id']}  {specs.describe(r['config'])}")
        out(f"{len(runs)} runs ({sum(r['config']['kind'] == 'control' for r in runs)} dense "
            f"controls), {n_dense} dense training{'s' if n_dense != 1 else ''}")
        return 0
    from ..experiments.executors import make  # lazy: at run time, not for --help
    try:
        executor = make(args.jobs, args.scheduler)
    except (ValueError, ImportError, OSError) as exc:    # no Dask, no scheduler there
        raise UsageError(str(exc)) from None
    try:
        _claim(args.out, spec, args.force)
    except BaseException:
        executor.close()
        raise
    out(f"{len(runs)} runs from {n_dense} dense model{'s' if n_dense != 1 else ''} on "
        f"{executor.label}")
    start = time.perf_counter()
    try:
        counts = Sweep(runs, args.out, log=out).execute(executor)
    except BaseException:                       # an interrupt, a failure: stop the workers now
        executor.close(now=True)
        raise
    executor.close()
    out(f"ran {counts['executed']} runs ({counts['failed']} failed) and trained "
        f"{counts['dense_trained']} dense models in {time.perf_counter() - start:.0f} s; "
        f"{counts['skipped']} runs were already done")
    path = build(args.out)
    out(f"report: {os.path.abspath(path)}")
    return min(counts["failed"], 125)               # the exit status counts the failed runs


def _claim(folder, spec, force):
    """Refuse a folder that holds another spec's sweep (unless ``force``); record ours."""
    from ..experiments.store import Store  # lazy: at run time, not for --help
    check_out(folder, force=True)
    store = Store(folder)
    previous = store.spec()
    if previous is None and os.path.isdir(folder) and os.listdir(folder) and not force:
        raise UsageError(f"{folder} is not empty and holds no sweep; pass --force or choose "
                         f"another --out")
    if previous is not None and previous != spec and not force:
        raise UsageError(f"{folder} holds a sweep of a different spec; pass --force to run "
                         f"this one there (finished runs of identical configs are kept) or "
                         f"choose another --out")
    os.makedirs(folder, exist_ok=True)
    store.write_spec(spec)
