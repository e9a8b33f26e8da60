"""``minprune demo``, ``prune`` and ``tree`` in subprocesses: files, numbers, refusals."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from minprune.reports import network, trees
from minprune.tables import fmt


def env(tmp_path):
    return dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")


def run_cli(args, tmp_path, timeout=300):
    return subprocess.run([sys.executable, "-m", "minprune", *args], cwd=tmp_path,
                          env=env(tmp_path), capture_output=True, text=True, timeout=timeout)


def assert_rows_in_report(rows, columns, report):
    for row in rows:
        line = "| " + " | ".join(fmt(row.get(k), kind) for k, _, kind in columns) + " |"
        assert line in report, f"row missing from report.md: {line}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    done = run_cli(["demo", "--quick", "--out", "out"], tmp)
    return tmp, done


def test_demo_writes_every_promised_file(demo):
    tmp, done = demo
    assert done.returncode == 0, done.stderr
    out = tmp / "out"
    expected = {"report.md", "results.json", "accuracy_vs_sparsity.png", "layer_sparsity.png",
                "weight_histograms.png", "mask.png", "ccp_path.png", "pruned_tree.png"}
    assert expected <= set(os.listdir(out))
    for name in expected - {"report.md", "results.json"}:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
        assert f"]({name})" in (out / "report.md").read_text()
    assert "[1/4]" in done.stdout and str(out / "report.md") in done.stdout


def test_demo_json_agrees_with_the_report(demo):
    tmp, _ = demo
    results = json.loads((tmp / "out" / "results.json").read_text())
    report = (tmp / "out" / "report.md").read_text()
    net, tree = results["network"], results["tree"]
    assert [r["sparsity"] for r in net["rows"]] == [0.5, 0.8, 0.9, 0.95]
    assert_rows_in_report(net["rows"], network.COLUMNS, report)
    assert_rows_in_report(tree["rows"], trees.COLUMNS, report)
    assert fmt(net["dense_accuracy"], "{:.4f}") in report
    for r in net["rows"]:
        assert r["achieved_sparsity"] == pytest.approx(r["sparsity"], abs=1e-3)
        assert r["effective_flops"] < r["dense_flops"]


def test_demo_fine_tuning_recovers_accuracy(demo):
    """Quick setting (6k images, 5 epochs): at 90% sparsity one epoch of fine-tuning is within
    0.05 of the dense accuracy."""
    tmp, _ = demo
    net = json.loads((tmp / "out" / "results.json").read_text())["network"]
    at90 = next(r for r in net["rows"] if r["sparsity"] == 0.9)
    assert at90["accuracy_finetuned"] >= net["dense_accuracy"] - 0.05
    tree_rows = json.loads((tmp / "out" / "results.json").read_text())["tree"]["rows"]
    full = tree_rows[0]
    assert all(r["leaves"] < full["leaves"] for r in tree_rows[1:])


def test_existing_output_is_not_clobbered(demo):
    tmp, _ = demo
    before = (tmp / "out" / "report.md").read_bytes()
    done = run_cli(["demo", "--quick", "--out", "out"], tmp)
    assert done.returncode == 2 and "--force" in done.stderr
    assert (tmp / "out" / "report.md").read_bytes() == before


def _default_sigint():
    """Ctrl-C as a terminal delivers it: a test run started in the background of a script
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_interrupt_leaves_no_report(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "minprune", "demo", "--quick", "--out", "o"],
                            cwd=tmp_path, env=dict(env(tmp_path), PYTHONUNBUFFERED="1"),
                            stdout=subprocess.PIPE, preexec_fn=_default_sigint,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60                # mid-run: once training has begun
    line = ""
    while "[2/4]" not in line and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
    assert "[2/4]" in line, "the demo never reached training"
    # A signal that lands while a library imports under a bare ``except`` can be swallowed
    # there, so press Ctrl-C again (every half second, 20 times at most) until the demo stops.
    for _ in range(20):
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (proc.returncode, stdout, stderr)
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o" / "report.md").exists()
    if (tmp_path / "o").exists():
        assert not [f for f in os.listdir(tmp_path / "o") if f.startswith(".tmp")]


def test_prune_command_any_combination(tmp_path):
    done = run_cli(["prune", "--model", "lenet5", "--dataset", "glyph-digits", "--n-train", "512",
                    "--n-test", "256", "--epochs", "1", "--criterion", "taylor",
                    "--granularity", "filter", "--scope", "local", "--sparsity", "0.3,0.6",
                    "--finetune-epochs", "1", "--out", "p"], tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "p" / "results.json").read_text())["network"]
    assert [r["sparsity"] for r in results["rows"]] == [0.3, 0.6]
    rows, columns = network.table(results["rows"], finetuned=True)
    assert network.COMPACT in columns                       # filters pruned: compacted size
    assert all(r["compact_params"] < 431_080 for r in rows)
    assert_rows_in_report(rows, columns, (tmp_path / "p" / "report.md").read_text())


def test_prune_command_in_rounds(tmp_path):
    done = run_cli(["prune", "--model", "mlp", "--hidden", "32,16", "--dataset", "spirals",
                    "--epochs", "3", "--granularity", "unit", "--sparsity", "0.5,0.75",
                    "--steps", "3", "--finetune-epochs", "1", "--out", "p"], tmp_path)
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "p" / "results.json").read_text())["network"]
    assert results["steps"] == 3 and [r["sparsity"] for r in results["rows"]] == [0.5, 0.75]
    assert all(r["accuracy_finetuned"] is not None for r in results["rows"])
    report = (tmp_path / "p" / "report.md").read_text()
    assert "in 3 rounds, measured right after the last round's pruning" in report
    assert "3 rounds" in done.stdout


def test_prune_a_model_saved_by_train(tmp_path):
    done = run_cli(["train", "--model", "mlp", "--hidden", "32", "--dataset", "spirals",
                    "--epochs", "2", "--out", "t"], tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli(["prune", "--load", "t/model.npz", "--dataset", "spirals", "--granularity",
                    "unit", "--sparsity", "0.5", "--finetune-epochs", "0", "--out", "p"],
                   tmp_path)
    assert done.returncode == 0, done.stderr
    assert "loaded t/model.npz" in done.stdout


@pytest.mark.parametrize("args, message", [
    (["prune", "--model", "mlp", "--dataset", "spirals", "--granularity", "filter"],
     "cannot prune mlp with granularity 'filter'"),
    (["prune", "--dataset", "spirals", "--steps", "0"], "--steps must be >= 1"),
    (["prune", "--dataset", "spirals", "--steps", "2", "--finetune-epochs", "0"],
     "give --finetune-epochs >= 1"),
    (["prune", "--criterion", "weird", "--n-train", "100", "--n-test", "50"],
     "criterion must be one of magnitude, random, taylor"),
    (["prune", "--sparsity", "0.5,1.2", "--dataset", "spirals"], "[0, 1)"),
    (["tree", "--post", "xyz"], "choose from ccp, rep, pep, ebp, mep, cvp or all"),
    (["tree", "--dataset", "nope"], "choose from classification"),
    (["demo", "--bogus"], "unrecognized arguments"),
    (["prune", "--dataset", "spirals", "--finetune-epochs", "-1"],
     "--finetune-epochs must be >= 0, got -1"),
    (["train", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["train", "--batch-size", "-2"], "--batch-size must be a positive integer, got -2"),
    (["train", "--lr", "0"], "--lr must be positive, got 0.0"),
])
def test_bad_input_is_refused_before_work(tmp_path, args, message):
    done = run_cli([*args, "--out", "r"] if args[0] != "demo" else args, tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()
    assert "Traceback" not in done.stderr


def test_tree_command_on_a_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((400, 3))
    y = np.where(X[:, 0] + 0.3 * rng.random(400) > 0.6, "yes", "no")
    lines = ["a,b,c,label"] + [f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(X, y)]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    done = run_cli(["tree", "--dataset", "d.csv", "--target", "label", "--post", "ccp,pep",
                    "--max-depth", "6", "--out", "t"], tmp_path)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "t" / "report.md").read_text()
    assert "|--- a <=" in report and "pessimistic" in report
    rows = json.loads((tmp_path / "t" / "results.json").read_text())["tree"]["rows"]
    assert_rows_in_report(rows, trees.COLUMNS, report)


def test_tree_command_names_the_bad_csv_cell(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,label\n1,2,x\n3,oops,y\n")
    done = run_cli(["tree", "--dataset", "bad.csv", "--target", "label", "--out", "t"],
                   tmp_path)
    assert done.returncode == 2
    assert re.search(r"line 3, column 2 \('b'\): 'oops' is not a number", done.stderr)


def test_files_get_the_mode_open_would_give(demo):
    """Reports, figures, results, saved models and caches honour the umask (0644 under 022),
    not the private 0600 of a temporary file."""
    tmp, _ = demo
    expected = 0o666 & ~current_umask()
    written = list((tmp / "out").iterdir()) + list((tmp / "cache").iterdir())
    assert any(p.suffix == ".npz" for p in written)            # the glyph cache
    for path in written:
        assert path.stat().st_mode & 0o777 == expected, path


def current_umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_saved_model_mode(tmp_path):
    from minprune import models, save
    old = os.umask(0o027)
    try:
        save(models.mlp([2, 2], rng=0), tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("args, message", [
    (["demo", "--quick", "--out", "f/sub"], "cannot write to output folder f/sub: Not a directory"),
    (["train", "--out", "f"], "cannot write to output folder f: it is a file"),
    (["tree", "--out", "f/x/y"], "cannot write to output folder f/x/y: Not a directory"),
    (["prune", "--load", "missing.npz", "--out", "p"], "cannot read --load missing.npz: No such"),
])
def test_unwritable_output_and_unreadable_load_are_refused_at_once(tmp_path, args, message):
    (tmp_path / "f").write_text("a file, not a folder")
    start = time.perf_counter()
    done = run_cli(args, tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "cache").exists()                   # no data was generated
    assert not (tmp_path / "p").exists()
    assert time.perf_counter() - start < 60                    # refused, not run


def test_the_demo_reproduces_its_own_numbers(tmp_path, demo):
    """One machine, one seed: a second quick demo writes the same results.json apart from
    the wall times."""
    first_tmp, _ = demo
    done = run_cli(["demo", "--quick", "--out", "again"], tmp_path)
    assert done.returncode == 0, done.stderr
    first = without_timings(json.loads((first_tmp / "out" / "results.json").read_text()))
    again = without_timings(json.loads((tmp_path / "again" / "results.json").read_text()))
    assert again == first


def without_timings(value):
    """The results with wall times and measured latencies taken out (they vary run to run)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items()
                if k != "seconds" and not k.endswith("_ms")
                and not ("_speedup" in k and k != "theoretical_speedup")}  # and intervals
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_the_speed_panel_in_the_report_and_the_json(demo):
    tmp, _ = demo
    results = json.loads((tmp / "out" / "results.json").read_text())
    report = (tmp / "out" / "report.md").read_text()
    for key in ("network", "structured"):
        rows, columns = network.speed_table(results[key]["rows"])
        assert {"csr_b1_speedup", "csr_b64_speedup", "masked_b1_speedup"} <= {c[0] for c in
                                                                             columns}
        assert_rows_in_report(rows, columns, report)
    compact = network.speed_table(results["structured"]["rows"])[1]
    assert "compact_b64_speedup" in {c[0] for c in compact}
    assert "the FLOPs promise" in report


def test_demo_reports_the_dense_control(demo):
    tmp, _ = demo
    net = json.loads((tmp / "out" / "results.json").read_text())["network"]
    control = net["control_accuracy"]
    assert control is not None and 0 < control <= 1
    for r in net["rows"]:
        assert r["gap_to_control"] == pytest.approx(r["accuracy_finetuned"] - control)
    report = (tmp / "out" / "report.md").read_text()
    assert f"scores {control:.4f}" in report and "dense control" in report
    assert "part of the gain over dense is that decay" not in report
