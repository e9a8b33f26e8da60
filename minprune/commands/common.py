"""What the subcommands share: output folders, number lists, JSON."""
from __future__ import annotations

import contextlib
import os
import tempfile




class UsageError(Exception):
    """Bad input found before any work starts; the CLI prints it and exits with status 2."""


def check_out(path, force):
    """Refuse, before any work, an output folder that exists and is not empty (without
    ``force``) or that cannot be created or written. Leaves nothing behind: folders made to
    try are removed again."""
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise UsageError(f"output folder {path} exists and is not empty; pass --force to "
                         f"overwrite it or choose another --out")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"cannot write to output folder {path}: it is a file")
    made, head = [], os.path.abspath(path)
    while not os.path.exists(head):
        made.append(head)
        head = os.path.dirname(head)
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()     # can a file be written there?
    except OSError as exc:
        raise UsageError(f"cannot write to output folder {path}: {exc.strerror or exc}") from None
    finally:
        for folder in made:                          # deepest first
            with contextlib.suppress(OSError):
                os.rmdir(folder)
    return path


def prepare_out(path, force):
    """Create the output folder (after ``check_out``)."""
    check_out(path, force)
    os.makedirs(path, exist_ok=True)
    return path


def check_readable(path, what):
    """Refuse a file that does not exist or cannot be read, naming it."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
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
