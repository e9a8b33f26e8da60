"""The sweep's failure semantics, each guarantee with a test that breaks when it is removed: a
run that kills its worker is tried ``retries`` more times and recorded as failed with the
cause; a dead worker costs only the runs it held; the parent's death takes its workers with
it; SIGTERM stops like Ctrl-C; one sweep per folder; failed runs are tried again on resume;
the last record of a run wins; every line is fsynced; damaged lines are named, never fatal."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import sweep_support as sweep_tasks
from helpers import require
from sweep_support import (
    TINY,
    dask_cluster,
    cli,
    env,
    measured_out,
    numbers,
    slow_spec,
    wait_for_lines,
    worker_pids,
)

from minprune.experiments import spec as specs
from minprune.experiments.executors import ClusterGone, DaskExecutor, LocalExecutor
from minprune.experiments.store import Store
from minprune.experiments.sweep import Sweep, train_dense
from minprune.experiments.sweep_report import build

QUIET = {"log": lambda *a: None, "progress": False}


def records(folder):
    return [json.loads(line) for line in open(os.path.join(folder, "results.jsonl"))]


def tiny_sweep(folder, executor, retries=2, dense=train_dense):
    """The tiny spec's sweep with one run that kills its worker every time."""
    runs = specs.expand(specs.load(TINY))
    try:
        counts = Sweep(runs, str(folder), retries=retries, **QUIET,
                       tasks=(dense, sweep_tasks.kill_own_worker)).execute(executor)
    finally:
        executor.close()
    return runs, counts


def check_doomed_run_failed(folder, counts, runs, cause):
    doomed = [r["id"] for r in runs if sweep_tasks.doomed(r["config"])]
    assert len(doomed) == 1
    got = {r["id"]: r for r in records(folder)}
    assert set(got) == {r["id"] for r in runs}                   # every run recorded once
    assert len(records(folder)) == len(runs)
    assert got[doomed[0]]["status"] == "failed" and cause in got[doomed[0]]["error"]
    assert all(r["status"] == "ok" for i, r in got.items() if i != doomed[0])
    assert counts["failed"] == 1 and counts["executed"] == len(runs)
    report = open(build(str(folder))).read()
    assert "## Failed runs" in report and cause in report


def test_a_run_that_kills_its_worker_is_tried_then_recorded_as_failed(tmp_path):
    runs, counts = tiny_sweep(tmp_path, LocalExecutor(2), retries=2)
    check_doomed_run_failed(tmp_path, counts, runs, "worker died: signal 9 (SIGKILL) "
                                                    "(tried 3 times)")
    assert counts["retried"] == 2          # its own retries only: no innocent run charged


def test_no_retries_means_one_try(tmp_path):
    runs, counts = tiny_sweep(tmp_path, LocalExecutor(2), retries=0)
    assert counts["retried"] == 0 and counts["failed"] == 1


def test_a_dense_training_that_kills_its_worker_fails_its_runs_only(tmp_path):
    runs, counts = tiny_sweep(tmp_path, LocalExecutor(2), retries=1,
                              dense=sweep_tasks.dense_that_dies)
    got = {r["id"]: r for r in records(tmp_path)}
    seed1 = {r["id"] for r in runs if r["config"]["seed"] == 1}
    assert all(got[i]["status"] == "failed" and "its dense model: worker died" in
               got[i]["error"] for i in seed1)
    assert counts["failed"] == len(seed1) + 1 and counts["executed"] == len(runs)


def test_on_dask_a_run_that_kills_its_worker_is_recorded_as_failed(tmp_path):
    require("distributed")
    runs, counts = tiny_sweep(tmp_path, DaskExecutor(workers=2, retries=1))
    check_doomed_run_failed(tmp_path, counts, runs, "worker died (Dask gave up")


def start(tmp_path, *extra):
    spec = slow_spec(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "minprune", "sweep", str(spec), "--out",
                             "s", "--jobs", "2", *extra], cwd=tmp_path, env=env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for_lines(proc, "[", 1), "the sweep never got going"
    return proc


def children(parent):
    return worker_pids(parent)


def gone(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}") and _alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"    # a zombie is dead
    except OSError:
        return False


def test_workers_die_with_a_killed_sweep(tmp_path):
    proc = start(tmp_path)
    try:
        workers = children(proc.pid)
        assert len(workers) == 2
        proc.kill()
        proc.wait(timeout=30)
        assert gone(workers), "a worker outlived its sweep"
    finally:
        for pid in children(proc.pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_stops_like_ctrl_c_and_the_sweep_resumes(tmp_path, sig):
    proc = start(tmp_path)
    try:
        workers = children(proc.pid)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, stderr
    name = signal.Signals(sig).name
    assert f"stopped by {name} after" in stdout and "run the same command" in stdout
    assert f"interrupted ({name})" in stderr and "Traceback" not in stderr
    assert gone(workers)
    assert not (tmp_path / "s" / "report.md").exists()
    if sig == signal.SIGTERM:
        done = cli([str(tmp_path / "slow.toml"), "--out", "s", "--jobs", "2"], tmp_path)
        assert done.returncode == 0, done.stderr
        got, lines = numbers(tmp_path / "s")
        runs = specs.expand(specs.load(tmp_path / "slow.toml"))
        assert set(got) == {r["id"] for r in runs} and set(lines.values()) == {1}


def test_closing_now_does_not_wait_for_a_running_task():
    executor = LocalExecutor(1)
    executor.submit("nap", time.sleep, 600)
    workers = [w.process for w in executor.pool.workers]
    start = time.monotonic()
    executor.close(now=True)
    assert time.monotonic() - start < 10
    assert not any(p.is_alive() for p in workers)


def test_a_second_sweep_on_the_same_folder_is_refused(tmp_path):
    shutil.copy(TINY, tmp_path / "tiny.toml")
    os.makedirs(tmp_path / "s")
    holder = Store(str(tmp_path / "s"))
    holder.lock()
    try:
        done = cli(["tiny.toml", "--out", "s"], tmp_path)
        assert done.returncode == 2, done.stderr
        assert f"in use by a running sweep (pid {os.getpid()} on" in done.stderr
        assert not (tmp_path / "s" / "results.jsonl").exists()
    finally:
        holder.unlock()
    (tmp_path / "s" / "sweep.lock").write_text("pid 999999999 on nowhere\n")    # stale
    done = cli(["tiny.toml", "--out", "s", "--dry-run"], tmp_path)
    assert done.returncode == 0


def test_failed_runs_are_tried_again_and_the_last_record_wins(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    path = tmp_path / "s" / "results.jsonl"
    lines = path.read_text().splitlines()
    victim = json.loads(lines[3])
    lines[3] = json.dumps({"id": victim["id"], "config": victim["config"],
                           "status": "failed", "error": "worker died: signal 9 (SIGKILL)"})
    path.write_text("\n".join(lines) + "\n")
    assert "## Failed runs" in open(build(str(tmp_path / "s"))).read()
    done = cli([TINY, "--out", "s"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ran 1 runs (0 failed)" in done.stdout                 # the failed run, again
    assert "Failed runs" not in (tmp_path / "s" / "report.md").read_text()   # the last wins
    assert numbers(tmp_path / "s")[0] == numbers(local[0] / "s")[0]


def test_every_line_is_fsynced_before_the_sweep_goes_on(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    store = Store(str(tmp_path))
    store.append({"id": "a", "config": {}, "status": "ok"},
                 {"id": "b", "config": {}, "status": "ok"})
    assert len(synced) == 1 and set(store.read()) == {"a", "b"}


def test_damaged_lines_are_named_and_their_runs_done_again(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    path = tmp_path / "s" / "results.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = "{not json"
    lines[5] = json.dumps({"config": {}, "status": "ok"})             # no id
    path.write_text("\n".join(lines) + "\n")
    done = cli([TINY, "--out", "s"], tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "results.jsonl line 3 is not JSON; ignored" in done.stdout
    assert "results.jsonl line 6 is not a run record" in done.stdout
    assert "ran 2 runs (0 failed)" in done.stdout
    good = {i: measured_out(r["result"]) for i, r in Store(str(tmp_path / "s")).read().items()}
    assert good == numbers(local[0] / "s")[0]


def test_the_report_after_force_is_the_new_spec_alone(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    text = open(TINY).read().replace("seeds = [0, 1]", "seeds = [0]").replace(
        "sparsities = [0.5, 0.8]", "sparsities = [0.5]")
    (tmp_path / "small.toml").write_text(text)
    done = cli(["small.toml", "--out", "s", "--force"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "s" / "report.md").read_text()
    runs = specs.expand(specs.load(tmp_path / "small.toml"))
    assert report.startswith(f"# minprune sweep\n\n{len(runs)} runs (0 failed)")
    assert "## 80% sparsity" not in report and "over 2 seeds" not in report
    rows = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + len(runs)


def test_a_dead_scheduler_ends_the_sweep_and_keeps_what_finished(tmp_path):
    require("distributed")
    runs = specs.expand(specs.load(slow_spec(tmp_path)))
    ended = []
    with dask_cluster(tmp_path) as (address, procs):
        executor = DaskExecutor(address=address, timeout=5)

        def sweep():
            try:
                Sweep(runs, str(tmp_path / "s"), **QUIET).execute(executor)
            except ClusterGone as exc:
                ended.append(str(exc))
        thread = threading.Thread(target=sweep, daemon=True)
        thread.start()
        results = tmp_path / "s" / "results.jsonl"
        deadline = time.monotonic() + 120
        while not (results.exists() and results.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        procs[0].kill()                                          # the scheduler
        thread.join(timeout=90)
        executor.close()
    assert not thread.is_alive(), "the sweep waited on a dead scheduler"
    assert ended and "lost the Dask scheduler" in ended[0]
    finished = [json.loads(line) for line in results.read_text().splitlines()]
    assert finished and all(r["status"] == "ok" for r in finished)


def test_a_worker_runs_one_numba_thread_and_compiles_after_its_threads_run():
    from minprune.experiments.pool import Pool
    pool = Pool(1)
    try:
        pool.submit("numba", sweep_tasks.compile_after_threads)
        ended, deadline = [], time.monotonic() + 120
        while not ended and time.monotonic() < deadline:
            ended += pool.wait()
        assert ended == [("numba", (42, 1, 1, 1))]
    finally:
        pool.close()


def test_a_dask_workers_task_runs_one_numba_and_one_blas_thread(tmp_path):
    """Workers started by hand (``dask worker``, no pinned environment; this one's Numba
    threads started by earlier work, as many as it has, which stay) and a LocalCluster started from
    a script that imports minprune (so Numba reads the environment in each worker before the
    cluster's pinned one is set)."""
    require("distributed")
    with dask_cluster(tmp_path) as (address, _):
        executor = DaskExecutor(address=address, timeout=30)
        try:
            started = executor.client.submit(sweep_tasks.launch_numba_threads).result()
            executor.submit("numba", sweep_tasks.compile_after_threads)
            assert executor.wait() == [("numba", (42, started, 1, 1))]
        finally:
            executor.close()
    script = tmp_path / "main.py"
    script.write_text(sweep_tasks.MAIN_THAT_IMPORTS_MINPRUNE)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env(tmp_path),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[('numba', (42, 1, 1, 1))]"


def test_a_worker_that_dies_idle_costs_no_task():
    from minprune.experiments.pool import Pool
    pool = Pool(2)
    try:
        pool.submit("first", sum, [1, 2])
        ended = []
        while not ended:
            ended += pool.wait()
        assert ended == [("first", 3)]
        for worker in pool.workers:                  # both idle now: kill them
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join()
        for i in range(4):
            pool.submit(i, sum, [i, 1])
        deadline = time.monotonic() + 60
        while len(ended) < 5 and time.monotonic() < deadline:
            ended += pool.wait()
        assert sorted(ended[1:]) == [(i, i + 1) for i in range(4)]
    finally:
        pool.close()
