"""``minprune sweep``: a grid of pruning methods x sparsities x seeds with controls and
measured speed, locally or on Dask, resumable; ``--report DIR`` rebuilds the report."""
from __future__ import annotations

import os
import signal
import time

from .common import UsageError, check_out, usage

GROUPS = ("criterion", "granularity", "scope", "schedule", "finetune_epochs", "calibration")


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a batch scheduler's kill, ``timeout``, a closed terminal): handled
    as Ctrl-C is, and the exit status says which signal it was (128 + its number)."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


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
    p.add_argument("--retries", type=int, default=2,
                   help="how many more times a run whose worker died is tried before it is "
                        "recorded as failed (2)")
    p.add_argument("--group-by", default=None, metavar="KEYS",
                   help="what a figure's lines are: comma-separated among "
                        f"{', '.join(GROUPS)} (default: every one of them, one line per "
                        "method)")


def run(args, out=print):
    from ..experiments import spec as specs  # lazy: at run time, not for --help
    from ..experiments.sweep_report import build  # lazy: at run time, not for --help
    group_by = _group_by(args.group_by)
    if args.report:
        path = usage(build, args.report, group_by=group_by)
        out(f"report: {os.path.abspath(path)}")
        return 0
    if not args.spec or not args.out:
        raise UsageError("give a SPEC.toml and --out DIR (or --report DIR)")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be a positive integer, got {args.jobs}")
    if args.retries < 0:
        raise UsageError(f"--retries must be an integer >= 0, got {args.retries}")
    spec = usage(specs.load, args.spec)
    runs = specs.expand(spec)
    usage(specs.check_runs, spec, runs)
    from ..experiments.sweep import dense_key  # lazy: at run time, not for --help
    n_dense = len({dense_key(r["config"]) for r in runs})
    if args.dry_run:
        for r in runs:
            out(f"{r['id']}  {specs.describe(r['config'])}")
        out(f"{len(runs)} runs ({sum(r['config']['kind'] == 'control' for r in runs)} dense "
            f"controls), {n_dense} dense training{'s' if n_dense != 1 else ''}")
        return 0
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _sweep(args, spec, runs, n_dense, group_by, out)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _sweep(args, spec, runs, n_dense, group_by, out):
    from ..experiments.executors import make  # lazy: at run time, not for --help
    from ..experiments.sweep import Sweep  # lazy: at run time, not for --help
    from ..experiments.sweep_report import build  # lazy: at run time, not for --help
    try:
        executor = make(args.jobs, args.scheduler, retries=args.retries)
    except (ValueError, ImportError, OSError) as exc:    # no Dask, no scheduler there
        raise UsageError(str(exc)) from None
    try:
        store = _claim(args.out, spec, args.force)
    except BaseException:
        executor.close()
        raise
    out(f"{len(runs)} runs from {n_dense} dense model{'s' if n_dense != 1 else ''} on "
        f"{executor.label}")
    start = time.perf_counter()
    sweep = Sweep(runs, args.out, log=out, retries=args.retries)
    from ..experiments.executors import ClusterGone  # lazy: at run time, not for --help
    try:
        counts = sweep.execute(executor)
    except BaseException as exc:                # an interrupt, a failure: stop the workers now
        executor.close(now=True)
        if isinstance(exc, ClusterGone):
            raise UsageError(str(exc)) from None
        if isinstance(exc, KeyboardInterrupt):
            c = sweep.counts
            out(f"stopped by {exc.args[0] if exc.args else 'SIGINT'} after {c['executed']} "
                f"of {c['runs'] - c['skipped']} runs ({c['failed']} failed); run the same "
                f"command to do the other {c['runs'] - c['skipped'] - c['executed']}")
        raise
    finally:
        store.unlock()
    executor.close()
    out(f"ran {counts['executed']} runs ({counts['failed']} failed) and trained "
        f"{counts['dense_trained']} dense models in {time.perf_counter() - start:.0f} s; "
        f"{counts['skipped']} runs were already done")
    path = build(args.out, group_by=group_by)
    out(f"report: {os.path.abspath(path)}")
    return min(counts["failed"], 125)               # the exit status counts the failed runs


def _group_by(text):
    if text is None:
        return None
    keys = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in keys if k not in GROUPS]
    if bad or not keys or len(set(keys)) != len(keys):
        raise UsageError(f"--group-by takes distinct keys among {', '.join(GROUPS)}, got "
                         f"{text!r}")
    return tuple(keys)


def _claim(folder, spec, force):
    """Take the folder for this sweep: refuse one that another sweep is running into, or
    that holds another spec's sweep (unless ``force``); record ours. Returns the locked
    store."""
    from ..experiments.store import Busy, Store  # lazy: at run time, not for --help
    check_out(folder, force=True)
    store = Store(folder)
    if (store.spec() is None and os.path.isdir(folder) and not force
            and set(os.listdir(folder)) - {"sweep.lock"}):
        raise UsageError(f"{folder} is not empty and holds no sweep; pass --force or choose "
                         f"another --out")
    os.makedirs(folder, exist_ok=True)
    try:
        store.lock()
    except Busy as exc:
        raise UsageError(str(exc)) from None
    previous = store.spec()
    if previous is not None and previous != spec and not force:
        store.unlock()
        raise UsageError(f"{folder} holds a sweep of a different spec; pass --force to run "
                         f"this one there (finished runs of identical configs are kept; the "
                         f"report shows this spec's runs only) or choose another --out")
    store.write_spec(spec)
    return store
