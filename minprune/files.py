"""Files on disk: atomic writes and the cache folder (the ground floor: imports nothing of
minprune).

Every file minprune writes goes through ``atomic_write``: written to a temporary file in the
same folder, flushed and fsynced, then renamed into place, so an interrupted write leaves the
old file or none, never half of one. The file gets the mode ``open()`` would give it (0666
less the umask), not the temporary file's private 0600.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np


def cache_dir():
    """Where generated datasets are cached: $MINPRUNE_CACHE, else the user's cache folder."""
    path = os.environ.get("MINPRUNE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "minprune")
    os.makedirs(path, exist_ok=True)
    return path


def atomic_write(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_npz_atomic(path, **arrays):
    atomic_write(path, lambda f: np.savez(f, **arrays))


def write_text_atomic(path, text):
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _umask():
    """The process's umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path, data):
    """``data`` as indented JSON (NumPy numbers and arrays as plain ones), atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
