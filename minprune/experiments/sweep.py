"""Running a sweep: train each dense model once, then every run that starts from it, on an
executor; append each finished run to the store as it arrives; skip what the store already
holds (a resumed sweep redoes nothing finished). A run that raises is recorded with its
traceback and the sweep goes on; a run whose worker died is submitted again (three tries)."""
from __future__ import annotations

import sys
import time
import traceback

from . import run as run_module
from .executors import Lost
from .spec import DENSE_KEYS, describe, run_id
from .store import Store

MAX_TRIES = 3


def _train_dense(c):
    return run_module.train_dense(c)


def _run(c, dense_state):
    try:
        return {"status": "ok", "result": run_module.run(c, dense_state)}
    except Exception as exc:                       # recorded, and the sweep goes on
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc()}


def dense_key(c):
    """The id of the dense model a run starts from: the part of its config that
    ``spec.dense_config`` fills (model, data, recipe, seed)."""
    return run_id({k: c[k] for k in DENSE_KEYS})


class Sweep:
    """One sweep into ``folder``: ``execute(executor)`` returns the counts of what it did."""

    def __init__(self, runs, folder, log=print, progress=None):
        self.runs, self.store, self.log = runs, Store(folder), log
        self.progress = sys.stderr.isatty() if progress is None else progress

    def execute(self, executor):
        self.store.repair()
        done = {i for i, r in self.store.read().items() if r["status"] == "ok"}
        todo = [r for r in self.runs if r["id"] not in done]
        counts = {"runs": len(self.runs), "skipped": len(self.runs) - len(todo), "executed": 0,
                  "failed": 0, "dense_trained": 0, "retried": 0}
        waiting = {}                                  # dense key -> runs waiting for it
        for r in todo:
            waiting.setdefault(dense_key(r["config"]), []).append(r)
        pending, tries, dense = {}, {}, {}
        bar = self._bar(len(todo))
        start = time.perf_counter()
        try:
            for key, runs in waiting.items():
                saved = self.store.load_dense(key)
                if saved is not None:
                    dense[key] = saved[0]
                    for r in runs:
                        pending[executor.submit(_run, r["config"], saved[0])] = ("run", r)
                else:
                    pending[executor.submit(_train_dense, runs[0]["config"])] = ("dense", key)
            while pending:
                future = next(iter(executor.as_completed(list(pending))))
                kind, item = pending.pop(future)
                try:
                    value = executor.result(future)
                except Exception as exc:
                    if not isinstance(exc, Lost):
                        raise
                    name = item if kind == "dense" else item["id"]
                    tries[name] = tries.get(name, 1) + 1
                    counts["retried"] += 1
                    if tries[name] > MAX_TRIES:
                        raise RuntimeError(f"{kind} {name} lost its worker {MAX_TRIES} "
                                           f"times") from exc
                    self.log(f"  a worker died; {kind} "
                             f"{item if kind == 'dense' else describe(item['config'])} again")
                    if kind == "dense":
                        again = executor.submit(_train_dense, waiting[item][0]["config"])
                    else:
                        again = executor.submit(_run, item["config"],
                                                dense[dense_key(item["config"])])
                    pending[again] = (kind, item)
                    continue
                if kind == "dense":
                    counts["dense_trained"] += 1
                    self.store.save_dense(item, value["state"], value["accuracy"])
                    dense[item] = value["state"]
                    self.log(f"  dense model {item} trained: accuracy {value['accuracy']:.4f}")
                    for r in waiting[item]:
                        pending[executor.submit(_run, r["config"], value["state"])] = ("run", r)
                    continue
                record = {"id": item["id"], "config": item["config"], "where": executor.label,
                          **value}
                self.store.append(record)
                counts["executed"] += 1
                counts["failed"] += value["status"] != "ok"
                self._report(bar, item, value, counts, start, len(todo), len(pending))
        finally:
            if bar is not None:
                bar.close()
        return counts

    def _bar(self, total):
        if not self.progress:
            return None
        from tqdm.auto import tqdm
        return tqdm(total=total, desc="sweep", unit="run")

    def _report(self, bar, item, value, counts, start, total, running):
        if bar is not None:
            bar.update(1)
            bar.set_postfix(failed=counts["failed"], running=running)
            return
        what = describe(item["config"])
        if value["status"] == "ok":
            acc = value["result"]["accuracy_finetuned"]
            tail = f"accuracy {acc:.4f}" if acc is not None else "done"
        else:
            tail = f"FAILED: {value['error']}"
        elapsed = time.perf_counter() - start
        eta = elapsed / counts["executed"] * (total - counts["executed"])
        self.log(f"  [{counts['executed']}/{total}] {what}: {tail} "
                 f"({elapsed:.0f} s, about {eta:.0f} s to go)")
