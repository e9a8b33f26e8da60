"""What the sweep tests share: the tiny spec, the command line in a fresh process, the
numbers a run must reproduce, a slower spec to catch a run in, the sweep's worker processes;
and tasks importable by worker processes: runs that kill their own worker, as an
out-of-memory kill or a segfault would."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from minprune.experiments import spec as specs
from minprune.experiments import sweep

HERE = os.path.dirname(__file__)
TINY = os.path.join(HERE, "sweep_tiny.toml")
TIMINGS = ("seconds", "host", "pid")


def env(tmp_path):
    """A fresh process's environment: its own cache, no display, this folder importable (the
    tasks below, in Dask workers)."""
    path = os.pathsep.join(p for p in (HERE, os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg",
                PYTHONUNBUFFERED="1", PYTHONPATH=path)


def cli(args, tmp_path, timeout=300):
    return subprocess.run([sys.executable, "-m", "minprune", "sweep", *args], cwd=tmp_path,
                          env=env(tmp_path), capture_output=True, text=True, timeout=timeout)


def measured_out(result):
    """A run's results without what is measured (times, speed-ups, their quartiles and
    flags): what must be the same wherever it ran."""
    return {k: v for k, v in result.items()
            if not k.endswith(("_ms", "_speedup", "_speedup_low", "_speedup_high",
                               "_speedup_reliable")) or k == "theoretical_speedup"
            if k not in TIMINGS}


def numbers(folder):
    """{run id: its results without timings}, and how many lines each id has."""
    out, lines = {}, {}
    with open(os.path.join(folder, "results.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            lines[r["id"]] = lines.get(r["id"], 0) + 1
            out[r["id"]] = measured_out(r.get("result", {}))
    return out, lines


def tiny_runs():
    return specs.expand(specs.load(TINY))


def slow_spec(tmp_path):
    """The tiny spec with slower runs (more timing repeats), so that a run can be caught."""
    text = open(TINY).read().replace("repeats = 5", "repeats = 400")
    path = tmp_path / "slow.toml"
    path.write_text(text)
    return path




def worker_pids(parent):
    """The spawned worker processes of the sweep process ``parent`` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in cmd:
            pids.append(int(entry))
    return pids




def wait_for_lines(proc, marker, count, timeout=120):
    deadline, seen = time.monotonic() + timeout, 0
    while seen < count and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        seen += marker in line
    return seen >= count


@contextlib.contextmanager
def dask_cluster(tmp_path):
    """A ``dask scheduler`` and one single-threaded ``dask worker`` on 127.0.0.1, on a port
    the OS picks, stopped on the way out: yields (address, [scheduler, worker] processes)."""
    scheduler_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
            cwd=tmp_path, env=env(tmp_path), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1",
             "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"],
            cwd=tmp_path, env=env(tmp_path), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
        yield address, procs
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


# --- tasks that fail as workers do -----------------------------------------------------


def doomed(c):
    """The one run of the tiny spec that always kills its worker."""
    return (c["kind"] == "prune" and c["criterion"] == "magnitude" and c["sparsity"] == 0.8
            and c["seed"] == 0)


def kill_own_worker(c, dense):
    if doomed(c):
        os.kill(os.getpid(), signal.SIGKILL)
    return sweep.run(c, dense)


def dense_that_dies(c):
    if c["seed"] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return sweep.train_dense(c)


def launch_numba_threads():
    """A worker's Numba threads started by work of its own, before any minprune task."""
    import numba
    return numba.get_num_threads()


def compile_after_threads():
    """What a worker's Numba runs with, its threads launched, then a function compiled (as a
    StructRef built in a run is); the BLAS threads threadpoolctl reads back."""
    import numba
    numba.get_num_threads()                             # the threads run from here on
    twice = numba.njit(lambda v: 2 * v)(21)             # a compilation after them
    from threadpoolctl import threadpool_info
    blas = max((p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"),
               default=1)
    return twice, numba.config.NUMBA_NUM_THREADS, numba.get_num_threads(), blas


MAIN_THAT_IMPORTS_MINPRUNE = """
import minprune                                  # (Numba with it, in every spawned process)
from minprune.experiments.executors import DaskExecutor
import sweep_support

if __name__ == "__main__":
    executor = DaskExecutor(workers=1)
    try:
        executor.submit("numba", sweep_support.compile_after_threads)
        print(executor.wait())
    finally:
        executor.close()
"""
