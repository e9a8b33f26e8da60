"""``minprune sweep``: the same numbers locally and on Dask, nothing lost when a worker dies or
the sweep is interrupted, a torn last line redone, bad specs refused, the report rebuilt."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest
from helpers import require
from sweep_support import (
    TINY,
    cli,
    dask_cluster,
    env,
    numbers,
    slow_spec,
    tiny_runs,
    wait_for_lines,
    worker_pids,
)

from minprune.experiments import spec as specs
from minprune.experiments.executors import LocalExecutor
from minprune.experiments.sweep import Sweep


def test_tiny_sweep_runs_every_run_and_its_controls(local):
    tmp, done = local
    runs = tiny_runs()
    got, lines = numbers(tmp / "s")
    assert set(got) == {r["id"] for r in runs} and set(lines.values()) == {1}
    kinds = [r["config"]["kind"] for r in runs]
    assert kinds.count("control") == 2                       # one dense control per seed
    criteria = {r["config"]["criterion"] for r in runs}
    assert {"magnitude", "taylor", "random"} <= criteria       # random added as the control
    assert "trained 2 dense models" in done.stdout
    for name in ("report.md", "results.csv", "accuracy_vs_compression.png",
                 "accuracy_vs_theoretical_speedup.png", "accuracy_vs_speedup_b1.png",
                 "accuracy_vs_speedup_b64.png"):
        assert (tmp / "s" / name).exists(), name
    report = (tmp / "s" / "report.md").read_text()
    assert "## 50% sparsity" in report and "dense control" in report
    for r in runs:
        result = got[r["id"]]
        assert 0 <= result["accuracy_finetuned"] <= 1
        if r["config"]["kind"] == "prune":
            # round(s * n) of n = 608 weights: within half a weight of the level, or more
            assert result["achieved_sparsity"] >= r["config"]["sparsity"] - 0.5 / 608
            assert result["compression"] > 1 and result["theoretical_speedup"] > 1


def test_the_dense_key_is_what_the_dense_model_depends_on():
    spec = specs.load(TINY)
    assert set(specs.dense_config(spec, 0)) == set(specs.DENSE_KEYS)


def test_a_run_is_a_pure_function_of_its_config():
    from minprune.experiments.run import run, train_dense
    config = next(r["config"] for r in tiny_runs() if r["config"]["criterion"] == "taylor")
    state = train_dense(config)["state"]
    a, b = run(config, state), run(config, state)
    assert {k: v for k, v in a.items() if k in ("accuracy", "accuracy_finetuned",
                                                "achieved_sparsity", "compression")} == \
        {k: v for k, v in b.items() if k in ("accuracy", "accuracy_finetuned",
                                             "achieved_sparsity", "compression")}


def test_the_same_numbers_on_a_dask_local_cluster(local, tmp_path):
    require("distributed")
    done = cli([TINY, "--out", "s", "--scheduler", "local:2"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert numbers(tmp_path / "s")[0] == numbers(local[0] / "s")[0]
    assert "dask LocalCluster" in (tmp_path / "s" / "report.md").read_text()


def test_the_same_numbers_through_a_dask_scheduler_and_worker(local, tmp_path):
    require("distributed")
    with dask_cluster(tmp_path) as (address, _):
        done = cli([TINY, "--out", "s", "--scheduler", address], tmp_path)
        assert done.returncode == 0, done.stderr
        assert numbers(tmp_path / "s")[0] == numbers(local[0] / "s")[0]


def test_a_killed_worker_costs_only_its_run(tmp_path):
    spec = slow_spec(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "minprune", "sweep", str(spec), "--out", "s",
                             "--jobs", "2"], cwd=tmp_path, env=env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_lines(proc, "[", 2), "the sweep never got going"
        victims = worker_pids(proc.pid)
        assert victims, "no worker process found"
        os.kill(victims[0], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert stdout.count("worker died: signal 9 (SIGKILL) holding") == 1, stdout
    got, lines = numbers(tmp_path / "s")
    runs = specs.expand(specs.load(spec))
    assert set(got) == {r["id"] for r in runs} and set(lines.values()) == {1}


def test_interrupted_and_resumed_redoes_nothing(local, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "minprune", "sweep", TINY, "--out", "s"],
                            cwd=tmp_path, env=env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_lines(proc, f"/{len(tiny_runs())}]", 3)      # three runs finished
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert not (tmp_path / "s" / "report.md").exists()          # no half report
    finished = len(numbers(tmp_path / "s")[0])
    assert 3 <= finished < len(tiny_runs())
    done = cli([TINY, "--out", "s"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (f"ran {len(tiny_runs()) - finished} runs (0 failed) and trained 0 dense models"
            in done.stdout)                                    # the dense models were cached
    assert f"{finished} runs were already done" in done.stdout
    assert numbers(tmp_path / "s")[0] == numbers(local[0] / "s")[0]


def test_a_torn_last_line_is_ignored_and_redone(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    path = tmp_path / "s" / "results.jsonl"
    data = path.read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    path.write_bytes(data[:len(data) - len(last) // 2 - 1])      # half the last line, no \n
    torn_id = json.loads(last)["id"]
    done = cli([TINY, "--out", "s"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ran 1 runs (0 failed) and trained 0 dense models" in done.stdout
    got, lines = numbers(tmp_path / "s")
    assert torn_id in got and set(lines.values()) == {1}
    assert got == numbers(local[0] / "s")[0]


def test_report_is_rebuilt_from_results_alone(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    before = {n: (tmp_path / "s" / n).read_bytes() for n in ("report.md", "results.csv")}
    for name in os.listdir(tmp_path / "s"):
        if name not in ("results.jsonl",):
            path = tmp_path / "s" / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    done = cli(["--report", "s"], tmp_path)
    assert done.returncode == 0, done.stderr
    for name, content in before.items():
        assert (tmp_path / "s" / name).read_bytes() == content, name


@pytest.mark.parametrize("change, message", [
    (("[grid]", "[grid]\ncolour = 'red'"), "unknown key grid.colour; the keys of [grid] are"),
    (("[latency]", "[extra]\n[latency]"), "unknown section [extra]"),
    (('criterion = "taylor"', 'criterion = "tailor"'),
     "grid.methods.criterion = 'tailor' is not allowed; choose from magnitude"),
    (('granularity = "unit"', 'granularity = "filter"'),
     "run taylor/filter/local one-shot 50% ft1 cal512 seed 0 cannot be done: granularity 'filter'"),
    (("sparsities = [0.5, 0.8]", "sparsities = [0.5, 1.5]"), "grid.sparsities = 1.5"),
])
def test_bad_specs_are_refused_before_any_work(tmp_path, change, message):
    text = open(TINY).read()
    assert change[0] in text
    (tmp_path / "bad.toml").write_text(text.replace(change[0], change[1], 1))
    done = cli(["bad.toml", "--out", "s"], tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "cache").exists()


def test_dry_run_lists_the_runs(tmp_path):
    done = cli([TINY, "--out", "s", "--dry-run"], tmp_path)
    assert done.returncode == 0
    assert f"{len(tiny_runs())} runs (2 dense controls), 2 dense trainings" in done.stdout
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("example", sorted(
    (pathlib.Path(__file__).parent.parent / "examples").glob("*.toml")), ids=lambda p: p.name)
def test_every_example_spec_is_a_sweep_the_command_takes(example):
    """The README points at these files: a key renamed in ``spec`` must not leave them
    behind."""
    spec = specs.load(example)
    runs = specs.expand(spec)
    specs.check_runs(spec, runs)
    assert runs and any(r["config"]["kind"] == "control" for r in runs)


def test_a_different_spec_needs_force(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    text = open(TINY).read().replace("seeds = [0, 1]", "seeds = [0]")
    (tmp_path / "other.toml").write_text(text)
    done = cli(["other.toml", "--out", "s"], tmp_path)
    assert done.returncode == 2 and "holds a sweep of a different spec" in done.stderr
    done = cli(["other.toml", "--out", "s", "--force"], tmp_path)
    assert done.returncode == 0 and "ran 0 runs" in done.stdout   # every run already there


class InProcess:
    """An executor that runs each task at once, here (for the failure test)."""
    label, slots = "in-process", 1

    def __init__(self):
        self.ended = []

    def submit(self, tag, fn, *args):
        self.ended.append((tag, fn(*args)))

    def wait(self):
        ended, self.ended = self.ended, []
        return ended

    def share(self, state, path):
        return state

    def release(self, shared):
        pass

    def close(self, now=False):
        pass


def test_a_run_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    from minprune.experiments import run as run_module
    real = run_module.run

    def flaky(config, state):
        if config["sparsity"] == 0.8:
            raise RuntimeError("a deliberate failure")
        return real(config, state)
    monkeypatch.setattr(run_module, "run", flaky)
    runs = tiny_runs()
    counts = Sweep(runs, str(tmp_path), log=lambda *a: None, progress=False).execute(InProcess())
    failing = [r for r in runs if r["config"]["sparsity"] == 0.8]
    assert counts["failed"] == len(failing) and counts["executed"] == len(runs)
    records = {}
    for line in open(tmp_path / "results.jsonl"):
        r = json.loads(line)
        records[r["id"]] = r
    for r in failing:
        assert records[r["id"]]["status"] == "failed"
        assert "a deliberate failure" in records[r["id"]]["traceback"]
    from minprune.experiments.sweep_report import build
    assert "## Failed runs" in open(build(str(tmp_path))).read()


def test_local_executor_refuses_nothing_it_can_run():
    executor = LocalExecutor(1)
    try:
        executor.submit("t", sum, [1, 2, 3])
        assert executor.wait() == [("t", 6)]
    finally:
        executor.close()


def test_a_missing_dask_or_a_bad_scheduler_is_refused_in_one_line(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from minprune.cli import main\n"
            f"sys.exit(main(['sweep', {TINY!r}, '--out', 's', '--scheduler', 'local:2']))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert 'needs the dask extra: pip install -e ".[dask]"' in done.stderr
    assert not (tmp_path / "s").exists()
    done = cli([TINY, "--out", "s", "--scheduler", "udp://x"], tmp_path)
    assert done.returncode == 2 and "tcp://HOST:PORT or local:N" in done.stderr
    assert not (tmp_path / "s").exists()


def test_a_grid_without_fine_tuning_gets_its_report(tmp_path):
    """Pruning without fine-tuning is a standard baseline: finetune_epochs = 0 (alone, or
    beside 1) still ends in a report, ranked by the accuracy right after pruning."""
    text = open(TINY).read().replace("finetune_epochs = [1]", "finetune_epochs = [0, 1]")
    text = text.replace("seeds = [0, 1]", "seeds = [0]").replace("sparsities = [0.5, 0.8]",
                                                                 "sparsities = [0.8]")
    (tmp_path / "zero.toml").write_text(text)
    done = cli([str(tmp_path / "zero.toml"), "--out", "z", "--jobs", "2"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "z" / "report.md").read_text()
    assert "## 80% sparsity" in report and "ft 0" in report and "ft 1" in report
    assert "Traceback" not in done.stderr


def test_spreads_are_sample_std_and_sparsity_labels_are_exact():
    from minprune.experiments import sweep_report
    mean, std, n = sweep_report._stats([0.90, 0.92, 0.94])
    assert n == 3 and abs(std - 0.02) < 1e-12             # ddof=1 (ddof=0 would be 0.0163)
    assert sweep_report._stats([0.9])[1] is None           # one seed has no spread
    labels = [sweep_report.sparsity_label(s) for s in (0.5, 0.975, 0.995, 0.999)]
    assert labels == ["50%", "97.5%", "99.5%", "99.9%"]
    assert "sample std (ddof=1)" in [c[1] for c in sweep_report.COLUMNS]


def test_the_95_percent_interval_is_students():
    stats = pytest.importorskip("scipy.stats")
    from minprune.experiments import sweep_report
    assert sweep_report.interval95(0.02, 2) is None           # two seeds: no interval
    for n in (3, 5, 10, 31, 32, 40, 200):
        want = stats.t.ppf(0.975, n - 1) * 0.02 / n ** 0.5
        tolerance = 1e-3
        assert abs(sweep_report.interval95(0.02, n) - want) < tolerance * want


def test_a_speed_up_cell_carries_its_spreads():
    from minprune.experiments import sweep_report
    m = {"csr_b1_speedup": (2.5, 0.1, 3), "csr_b1_speedup_low": (2.4, 0.0, 3),
         "csr_b1_speedup_high": (2.6, 0.0, 3), "csr_b1_speedup_reliable": (1.0, 0.0, 3)}
    assert sweep_report.speed_cell(m, "csr_b1_speedup") == "2.50x [2.40-2.60] ±0.10"
    m["csr_b1_speedup_reliable"] = (2 / 3, 0.5, 3)             # one run of three unreliable
    assert sweep_report.speed_cell(m, "csr_b1_speedup").endswith("(unreliable)")


def test_group_by_draws_a_line_per_group(local, tmp_path):
    shutil.copytree(local[0] / "s", tmp_path / "s")
    from minprune.experiments import sweep_report
    records = sweep_report.spec_records(str(tmp_path / "s"))
    assert set(sweep_report.aggregate(records, ("criterion",))[0]) == {"magnitude", "taylor",
                                                                       "random"}
    done = cli(["--report", "s", "--group-by", "criterion"], tmp_path)
    assert done.returncode == 0, done.stderr
    done = cli(["--report", "s", "--group-by", "colour"], tmp_path)
    assert done.returncode == 2 and "--group-by takes distinct keys among" in done.stderr


def test_a_dense_training_that_raises_fails_its_runs_and_the_sweep_goes_on(tmp_path,
                                                                          monkeypatch):
    from minprune.experiments import run as run_module
    real = run_module.train_dense

    def flaky(config):
        if config["seed"] == 1:
            raise RuntimeError("no data for seed 1")
        return real(config)
    monkeypatch.setattr(run_module, "train_dense", flaky)
    runs = tiny_runs()
    counts = Sweep(runs, str(tmp_path), log=lambda *a: None, progress=False).execute(InProcess())
    seed1 = [r for r in runs if r["config"]["seed"] == 1]
    assert counts["executed"] == len(runs) and counts["failed"] == len(seed1)
    records = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    failed = {r["id"]: r["error"] for r in records if r["status"] == "failed"}
    assert set(failed) == {r["id"] for r in seed1}
    assert all(e == "its dense model: RuntimeError: no data for seed 1" for e in failed.values())


class Recording(InProcess):
    """In-process, with a window of 3, recording what the sweep ships and holds in flight."""
    slots = 3

    def __init__(self):
        super().__init__()
        self.shared, self.released, self.flying, self.most, self.args = [], [], 0, 0, []

    def submit(self, tag, fn, *args):
        self.flying += 1
        self.most = max(self.most, self.flying)
        self.args.append(args[1:])
        super().submit(tag, fn, *args)

    def wait(self):
        ended, self.ended = self.ended[:1], self.ended[1:]   # one at a time, the rest in flight
        self.flying -= len(ended)
        return ended

    def share(self, state, path):
        self.shared.append(path)
        return ("shared", path)

    def release(self, shared):
        self.released.append(shared)


def test_dense_models_are_shipped_once_and_the_window_is_bounded(tmp_path):
    from minprune.bench.sweep import trivial_dense, trivial_run, trivial_runs
    runs = trivial_runs(40, seeds=2)
    executor = Recording()
    counts = Sweep(runs, str(tmp_path), log=lambda *a: None, progress=False,
                   tasks=(trivial_dense, trivial_run)).execute(executor)
    assert counts["executed"] == 40
    assert len(executor.shared) == 2 and len(executor.released) == 2    # once per dense model
    run_args = [a for a in executor.args if a]                           # the runs' dense arg
    assert len(run_args) == 40 and all(a[0][0] == "shared" for a in run_args)
    assert executor.most <= 3                                            # never more in flight
