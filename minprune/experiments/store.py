"""The results store of a sweep: ``DIR/results.jsonl``, one JSON line per finished run,
appended, flushed and fsynced by the client alone, so a crash loses at most the line being
written. A torn last line is ignored when read (and its run done again); the last line for a
run id wins. ``DIR/spec.json`` holds the spec the folder belongs to; ``DIR/dense/`` the dense
models, one file per (model, data, recipe, seed); ``DIR/sweep.lock`` the pid of the sweep
running into it."""
from __future__ import annotations

import json
import os

from ..files import write_npz_atomic, write_text_atomic

RESULTS = "results.jsonl"


class Busy(RuntimeError):
    """Another sweep holds the folder."""


class Store:
    def __init__(self, folder):
        self.folder = folder
        self.path = os.path.join(folder, RESULTS)

    def read(self):
        """{run id: record} of every complete line (the last record of an id wins)."""
        return self.read_checked()[0]

    def read_checked(self):
        """({run id: record}, [(line number, what is wrong with it)]): a line that is not a
        JSON record with an id is set aside and named, never fatal."""
        records, damaged = {}, []
        if not os.path.exists(self.path):
            return records, damaged
        with open(self.path, "rb") as f:
            for number, line in enumerate(f, 1):
                if not line.endswith(b"\n"):
                    break                            # torn: the write never finished
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    damaged.append((number, "is not JSON"))
                    continue
                if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                        or not isinstance(record.get("config"), dict) \
                        or record.get("status") not in ("ok", "failed"):
                    damaged.append((number, "is not a run record (id, config, status)"))
                    continue
                records[record["id"]] = record
        return records, damaged

    def repair(self):
        """Cut a torn last line off, so that new lines start on a line of their own."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "rb+") as f:
            data = f.read()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())

    def append(self, *records):
        """Append ``records``, one line each, with one fsync for them all."""
        if not records:
            return
        text = "".join(json.dumps(r, sort_keys=True, default=_plain) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    # --- one sweep at a time -----------------------------------------------------------------
    def lock(self):
        """Hold ``DIR/sweep.lock`` while this process sweeps into the folder: a second sweep is
        refused naming the running one (``Busy``). The lock is the operating system's
        (``flock``), so it goes with its process, however that ends: a stale file left by a
        killed sweep is taken over."""
        import socket
        try:
            import fcntl
        except ImportError:                          # Windows: no flock; the pid is written
            fcntl = None
        path = os.path.join(self.folder, "sweep.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise Busy(f"{self.folder} is in use by a running sweep ({holder}); wait for it "
                       f"or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        self._lock = fd

    def unlock(self):
        fd = getattr(self, "_lock", None)
        if fd is not None:
            os.close(fd)                            # closing it releases the flock
            self._lock = None

    # --- the spec the folder belongs to --------------------------------------------------
    def spec(self):
        path = os.path.join(self.folder, "spec.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_spec(self, spec):
        write_text_atomic(os.path.join(self.folder, "spec.json"),
                          json.dumps(spec, indent=2, sort_keys=True) + "\n")

    # --- dense models -----------------------------------------------------------------------
    def dense_path(self, key):
        return os.path.join(self.folder, "dense", f"{key}.npz")

    def save_dense(self, key, state, accuracy):
        import numpy as np

        arrays = {f"state/{k}": v for k, v in state.items()}
        write_npz_atomic(self.dense_path(key), accuracy=np.array(accuracy), **arrays)

    def load_dense(self, key):
        """(state, accuracy) of a saved dense model, or None."""
        import numpy as np
        path = self.dense_path(key)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as f:
                state = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith("state/")}
                return state, float(f["accuracy"])
        except (OSError, ValueError, KeyError):
            return None                              # damaged: train it again


def _plain(value):
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
