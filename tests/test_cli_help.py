"""The command line explains itself: every option says what it does, and ``minprune prune
--criteria`` lists the criteria a newcomer can choose from."""
import argparse
import re

from minprune.cli import build_parser
from minprune.prune.criteria import REGISTRY


def _commands():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_option_of_every_command_has_help():
    silent = [f"{name} {a.option_strings[0] if a.option_strings else a.dest}"
              for name, parser in _commands().items() for a in parser._actions
              if a.dest != "help" and not (a.help or "").strip()]
    assert not silent, f"options without help: {', '.join(silent)}"


def test_options_with_a_value_say_their_default():
    # an option's default is what the user gets without it: "(5)", "(runs/prune)", "(all)"
    unsaid = []
    for name, parser in _commands().items():
        for a in parser._actions:
            if a.option_strings and a.nargs is None and a.default not in (None, False) \
                    and a.dest != "help" and f"{a.default}" not in (a.help or ""):
                unsaid.append(f"{name} {a.option_strings[0]} ({a.default})")
    assert not unsaid, f"defaults the help does not give: {', '.join(unsaid)}"


def test_prune_lists_its_criteria_and_exits():
    args = build_parser().parse_args(["prune", "--criteria"])
    lines = []
    assert args.run(args, out=lines.append) == 0
    text = "\n".join(lines)
    for c in REGISTRY.values():
        head = re.search(rf"^{c.name} +(no data|data) +(.+)$", text, re.M)
        assert head, f"{c.name} has no line of its own"
        assert head.group(1) == ("data" if c.needs_data else "no data")
        assert head.group(2).split(", ") == list(c.granularities)
        assert " ".join(c.summary.split()) in " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= 88


def test_tree_post_help_names_every_post_pruner():
    from minprune.tree.methods import POST_PRUNERS
    post = next(a for a in _commands()["tree"]._actions if a.dest == "post")
    for p in POST_PRUNERS.values():
        assert f"{p.name} ({p.label})" in post.help
    only = [p.name for p in POST_PRUNERS.values() if p.classification_only]
    assert f"{', '.join(only[:-1])} and {only[-1]} prune classifiers only" in post.help
