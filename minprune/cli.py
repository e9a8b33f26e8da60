"""The ``minprune`` command line: subcommands dispatch to ``minprune.commands``."""
from __future__ import annotations

import argparse
import sys

BENCHES = ("train", "data", "tree", "sparse", "surgery")


def _bench(args):
    if args.suite == "train":
        from .bench import train
        train.run(threads=args.threads, repeat=args.repeat, rounds=args.rounds)
    elif args.suite == "data":
        from .bench import data
        data.run(threads=args.threads)
    elif args.suite == "tree":
        from .bench import tree
        tree.run(threads=args.threads)
    elif args.suite == "sparse":
        from .bench import sparse
        sparse.run(quick=args.quick)
    elif args.suite == "surgery":
        from .bench import surgery
        surgery.run(threads=args.threads, repeat=args.repeat)
    return 0


def _command(name):
    def run(args):
        import importlib
        return importlib.import_module(f".commands.{name}", __package__).run(args)
    return run


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minprune", description="Learn and experiment with pruning: networks (weights, "
        "units, filters) and decision trees. Start with `minprune demo`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from .commands import demo, prune, train, tree
    for name, module, text in (
            ("demo", demo, "train, prune and report on a network and a decision tree"),
            ("train", train, "train a model on a dataset and save it"),
            ("prune", prune, "prune a model to several sparsities and report"),
            ("tree", tree, "grow, pre-prune and post-prune a decision tree and report")):
        p = sub.add_parser(name, help=text)
        module.add_arguments(p)
        p.set_defaults(run=_command(name))

    bench = sub.add_parser("bench", help="run a benchmark and print ratios to its baseline")
    bench.add_argument("suite", choices=BENCHES, help="which benchmark")
    bench.add_argument("--threads", type=int, default=1, help="threads for every pool (1)")
    bench.add_argument("--repeat", type=int, default=30, help="timed repetitions (30)")
    bench.add_argument("--quick", action="store_true", help="fewer sizes (sparse)")
    bench.add_argument("--rounds", type=int, default=3,
                       help="alternating rounds per library, each in a fresh process (3)")
    bench.set_defaults(run=_bench)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .commands.common import UsageError
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"minprune {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"minprune {args.command}: interrupted; files already written are complete, "
              f"nothing half-written was left", file=sys.stderr)
        return 130
