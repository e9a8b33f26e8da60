"""``minprune bench SUITE``: run one benchmark suite of ``minprune.bench``."""
from __future__ import annotations

import importlib
import os

from .common import UsageError

# suite name -> the options its ``run`` takes (from the command line's)
SUITES = {
    "train": ("threads", "repeat", "rounds"),
    "data": ("threads",),
    "tree": ("threads",),
    "sparse": ("quick",),
    "surgery": ("threads", "repeat"),
    "latency": ("threads", "repeat", "quick", "figure"),
    "sweep": ("quick",),
    "posttrain": (),
}


def add_arguments(p):
    p.add_argument("suite", choices=tuple(SUITES), help="which benchmark")
    p.add_argument("--threads", type=int, default=1, help="threads for every pool (1)")
    p.add_argument("--repeat", type=int, default=30, help="timed repetitions (30)")
    p.add_argument("--quick", action="store_true", help="fewer sizes (sparse, latency, sweep)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds per library, each in a fresh process (3)")
    p.add_argument("--figure", metavar="PNG", default=None,
                   help="latency: also draw the speed-ups against sparsity into this PNG "
                        "file (none)")


def run(args, out=print):
    for name in ("threads", "repeat", "rounds"):     # (asked only where the suite takes it)
        if name in SUITES[args.suite] and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.figure:                             # (checked before minutes of timing)
        if "figure" not in SUITES[args.suite]:
            raise UsageError(f"--figure draws the latency benchmark's figure only, got it with "
                             f"{args.suite!r}")
        folder = os.path.dirname(os.path.abspath(args.figure))
        if not os.path.isdir(folder):
            raise UsageError(f"--figure {args.figure!r}: its folder {folder} does not exist")
    suite = importlib.import_module(f"..bench.{args.suite}", __package__)
    suite.run(**{name: getattr(args, name) for name in SUITES[args.suite]})
    return 0
