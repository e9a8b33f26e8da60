"""What the subcommands share: output folders, number lists, JSON."""
from __future__ import annotations

import json
import os

import numpy as np

from ..files import write_text_atomic


class UsageError(Exception):
    """Bad input found before any work starts; the CLI prints it and exits with status 2."""


def prepare_out(path, force):
    """Create the output folder; an existing non-empty one needs ``force``."""
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise UsageError(f"output folder {path} exists and is not empty; pass --force to "
                         f"overwrite it or choose another --out")
    os.makedirs(path, exist_ok=True)
    return path


def usage(call, *args, **kwargs):
    """``call(*args, **kwargs)``, with a ValueError or FileNotFoundError (bad input, found by
    the library) turned into a ``UsageError`` carrying the library's own message."""
    try:
        return call(*args, **kwargs)
    except (ValueError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None


def parse_ints(text, what):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{what} must be positive, got {text!r}")
    return values


def parse_floats(text, what):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, got {text!r}") from None


def write_json(path, data):
    write_text_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
