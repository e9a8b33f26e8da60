"""The ``minprune`` command line: parse, then hand over to ``minprune.commands``."""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

from .commands.common import UsageError

# name -> help; each is the module ``minprune.commands.<name>`` with add_arguments and run
COMMANDS = {
    "demo": "train, prune and report on a network and a decision tree",
    "train": "train a model on a dataset and save it",
    "prune": "prune a model to several sparsities and report",
    "tree": "grow, pre-prune and post-prune a decision tree and report",
    "sweep": "a grid of methods x sparsities x seeds with controls and measured speed",
    "export": "write a saved model as an ONNX file",
    "bench": "run a benchmark and print ratios to its baseline",
    "lessons": "list the lessons, or execute them and render the course as HTML",
}


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minprune", description="Learn and experiment with pruning: networks (weights, "
        "units, filters) and decision trees. Start with `minprune demo`.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, text in COMMANDS.items():
        module = importlib.import_module(f".commands.{name}", __package__)
        p = sub.add_parser(name, help=text)
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"minprune {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        # a second Ctrl-C while the process winds down would kill it without its message
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signum = getattr(exc, "signum", signal.SIGINT)       # SIGTERM, SIGHUP: see sweep
        print(f"minprune {args.command}: interrupted ({signal.Signals(signum).name}); files "
              f"already written are complete, nothing half-written was left", file=sys.stderr)
        return 128 + signum
