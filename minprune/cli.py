"""The ``minprune`` command line: subcommands dispatch to the library."""
from __future__ import annotations

import argparse
import sys

BENCHES = ("train",)


def _bench(args):
    if args.suite == "train":
        from .bench import train
        train.run(threads=args.threads, repeat=args.repeat, rounds=args.rounds)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="minprune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = sub.add_parser("bench", help="run a benchmark and print ratios to its baseline")
    bench.add_argument("suite", choices=BENCHES, help="which benchmark")
    bench.add_argument("--threads", type=int, default=1, help="threads for every pool (1)")
    bench.add_argument("--repeat", type=int, default=30, help="timed repetitions (30)")
    bench.add_argument("--rounds", type=int, default=3,
                       help="alternating rounds per library, each in a fresh process (3)")
    bench.set_defaults(run=_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
