"""Running a sweep: train each dense model once, then every run that starts from it, on an
executor; append each finished run to the store as it arrives; skip what the store already
holds (a resumed sweep redoes nothing finished, and tries failed runs again).

Failure semantics: a run that raises is recorded as failed with its traceback, and the sweep
goes on. A run whose worker dies is tried again, at most ``retries`` more times, then recorded
as failed with the cause ("worker died: signal 9 (SIGKILL)"); only the runs the dead worker
held are charged. A dense training that cannot finish fails the runs that wait for it.
"""
from __future__ import annotations

import collections
import sys
import time
import traceback

from . import run as run_module
from .executors import Lost
from .spec import DENSE_KEYS, describe, run_id
from .store import Store

RETRIES = 2
_dense_cache = {}                                   # in a worker: path -> state, the last one


def dense_state(dense):
    """The state a run starts from: handed over (Dask), or read once per worker from the
    path of its file in the sweep folder (local workers)."""
    if not isinstance(dense, str):
        return dense
    if dense not in _dense_cache:
        import numpy as np
        _dense_cache.clear()
        with np.load(dense, allow_pickle=False) as f:
            _dense_cache[dense] = {k.split("/", 1)[1]: f[k] for k in f.files
                                   if k.startswith("state/")}
    return _dense_cache[dense]


def train_dense(c):
    try:
        return {"status": "ok", **run_module.train_dense(c)}
    except Exception as exc:                       # its runs are recorded as failed
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}


def run(c, dense):
    try:
        return {"status": "ok", "result": run_module.run(c, dense_state(dense))}
    except Exception as exc:                       # recorded, and the sweep goes on
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}


def dense_key(c):
    """The id of the dense model a run starts from: the part of its config that
    ``spec.dense_config`` fills (model, data, recipe, seed)."""
    return run_id({k: c[k] for k in DENSE_KEYS})


class Sweep:
    """One sweep into ``folder``: ``execute(executor)`` returns the counts of what it did (also
    kept in ``counts`` while it runs, for a summary when it is interrupted). ``tasks``: the
    functions that train a dense model and do a run (tests and the benchmark swap them)."""

    def __init__(self, runs, folder, log=print, progress=None, retries=RETRIES,
                 tasks=(train_dense, run)):
        self.runs, self.store, self.log = runs, Store(folder), log
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.retries, self.tasks = retries, tasks
        self.counts = {"runs": len(runs), "skipped": 0, "executed": 0, "failed": 0,
                       "dense_trained": 0, "retried": 0}

    def execute(self, executor):
        self.where = executor.label
        self.store.repair()
        records, damaged = self.store.read_checked()
        for number, why in damaged:
            self.log(f"  results.jsonl line {number} {why}; ignored (its run is done again)")
        done = {i for i, r in records.items() if r["status"] == "ok"}
        todo = [r for r in self.runs if r["id"] not in done]
        self.counts["skipped"] = len(self.runs) - len(todo)
        self.waiting = collections.defaultdict(list)    # dense key -> runs waiting for it
        for r in todo:
            self.waiting[dense_key(r["config"])].append(r)
        self.shared, self.left, self.tries = {}, {}, collections.Counter()
        ready = collections.deque()
        for key in self.waiting:
            saved = self.store.load_dense(key)
            if saved is None:
                ready.append(("dense", key))
            else:
                ready.extend(self._share(executor, key, saved[0]))
        bar, start, flying = self._bar(len(todo)), time.perf_counter(), 0
        try:
            while ready or flying:
                while ready and flying < executor.slots:
                    self._submit(executor, ready.popleft())
                    flying += 1
                ended = executor.wait()
                flying -= len(ended)
                written = []
                for (kind, item), value in ended:
                    if isinstance(value, Lost):
                        value = self._lost(kind, item, value, ready)
                        if value is None:
                            continue
                    if kind == "dense":
                        ready.extend(self._dense_done(executor, item, value))
                    else:
                        written.append((item, value))
                self._write(executor, written, bar, start, len(todo), flying)
        finally:
            if bar is not None:
                bar.close()
        return self.counts

    def _submit(self, executor, task):
        kind, item = task[:2]
        if kind == "dense":
            executor.submit(task, self.tasks[0], self.waiting[item][0]["config"])
        else:
            executor.submit(task[:2], self.tasks[1], item["config"], task[2])

    def _share(self, executor, key, state):
        """Ship the dense model ``key`` once; returns the run tasks that start from it."""
        self.shared[key] = executor.share(state, self.store.dense_path(key))
        self.left[key] = len(self.waiting[key])
        return [("run", r, self.shared[key]) for r in self.waiting[key]]

    def _dense_done(self, executor, key, value):
        if value.get("status", "ok") != "ok":
            self.log(f"  dense model {key} failed: {value['error']}")
            self._fail_waiting(key, value["error"])
            return []
        self.counts["dense_trained"] += 1
        self.store.save_dense(key, value["state"], value["accuracy"])
        self.log(f"  dense model {key} trained: accuracy {value['accuracy']:.4f}")
        return self._share(executor, key, value["state"])

    def _lost(self, kind, item, lost, ready):
        """A task whose worker died: the value to record (a failure), or None if it is tried
        again."""
        name = item if kind == "dense" else item["id"]
        self.tries[name] += 1
        what = f"dense model {item}" if kind == "dense" else describe(item["config"])
        if not lost.final and self.tries[name] <= self.retries:
            self.counts["retried"] += 1
            self.log(f"  {lost.cause} holding {what}; trying it again "
                     f"({self.tries[name]} of {self.retries} retries)")
            if kind == "dense":
                ready.appendleft(("dense", item))
            else:
                ready.appendleft(("run", item, self.shared[dense_key(item["config"])]))
            return None
        failure = {"status": "failed", "error": lost.cause if lost.final else
                   f"{lost.cause} (tried {self.tries[name]} times)"}
        self.log(f"  {what} failed: {failure['error']}")
        if kind == "run":
            return failure
        self._fail_waiting(item, failure["error"])
        return None

    def _fail_waiting(self, key, error):
        """Record the runs that wait for the dense model ``key`` as failed: it never came."""
        self.store.append(*(self._record(r, {"status": "failed",
                                             "error": f"its dense model: {error}"})
                            for r in self.waiting[key]))

    def _write(self, executor, written, bar, start, total, flying):
        """Record what ended together with one fsync, then release what is done."""
        self.store.append(*(self._record(item, value) for item, value in written))
        for item, value in written:
            key = dense_key(item["config"])
            self.left[key] -= 1
            if not self.left[key]:                     # every run of it is done
                executor.release(self.shared.pop(key))
            self._report(bar, item, value, start, total, flying)

    def _record(self, item, value):
        self.counts["executed"] += 1
        self.counts["failed"] += value["status"] != "ok"
        return {"id": item["id"], "config": item["config"], "where": self.where, **value}

    def _bar(self, total):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, desc="sweep", unit="run")

    def _report(self, bar, item, value, start, total, running):
        counts = self.counts
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=counts["failed"], running=running)
            return
        what = describe(item["config"])
        if value["status"] == "ok":
            acc = value["result"].get("accuracy_finetuned")
            tail = f"accuracy {acc:.4f}" if acc is not None else "done"
        else:
            tail = f"FAILED: {value['error']}"
        elapsed = time.perf_counter() - start
        eta = elapsed / counts["executed"] * (total - counts["executed"])
        self.log(f"  [{counts['executed']}/{total}] {what}: {tail} "
                 f"({elapsed:.0f} s, about {eta:.0f} s to go)")
