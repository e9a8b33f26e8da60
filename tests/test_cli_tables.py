"""Tables read as users mean them: integer labels are classes, text labels keep their names,
every post-pruner that applies runs and the others are named, and bad tables end in one line
and no output folder."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_reports import run_cli

from minprune.experiments.trees import MAX_CLASSES, task_of


def write_csv(path, X, y):
    lines = ["a,b,c,label"] + [f"{a:.4f},{b:.4f},{c:.4f},{t}" for (a, b, c), t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")


def test_task_inference_reads_labels_as_users_mean_them():
    assert task_of(np.array([0.0, 1.0, 1.0]))[0] == "classification"
    assert task_of(np.array([1.0, 2.0, 5.0]))[1].dtype == np.int64
    assert task_of(np.array(["no", "yes"]))[0] == "classification"
    assert task_of(np.array([0.5, 1.0]))[0] == "regression"
    many = np.arange(MAX_CLASSES + 1, dtype=float)
    assert task_of(many)[0] == "regression"
    assert task_of(many, "classification")[0] == "classification"
    assert task_of(np.array([0.0, 1.0]), "regression")[1].dtype == np.float64
    with pytest.raises(ValueError, match="non-integer values such as 0.5"):
        task_of(np.array([0.5, 1.0]), "classification")
    with pytest.raises(ValueError, match="task 'regression' needs numbers"):
        task_of(np.array(["a", "b"]), "regression")
    with pytest.raises(ValueError, match="task must be one of auto, classification"):
        task_of(np.array([1.0]), "clustering")


def test_integer_labels_grow_a_classifier_and_every_post_pruner_runs(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.random((300, 3))
    y = (X[:, 0] + 0.3 * rng.random(300) > 0.6).astype(int)
    write_csv(tmp_path / "d.csv", X, y)
    done = run_cli(["tree", "--dataset", "d.csv", "--target", "label", "--criterion", "gini",
                    "--max-depth", "4", "--out", "t"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 distinct integer values: classification" in done.stdout
    results = json.loads((tmp_path / "t" / "results.json").read_text())["tree"]
    assert results["task"] == "classification" and results["skipped"] == {}
    assert len(results["rows"]) == 2 + 6                 # full, pre-pruned, six post-pruners
    assert all(isinstance(r["over"], int) for r in results["rows"] if "pre" not in r["method"])
    assert "|--- class: 1" in (tmp_path / "t" / "report.md").read_text()


def test_text_labels_keep_their_names_and_regression_names_what_it_skips(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((300, 3))
    write_csv(tmp_path / "t.csv", X, np.where(X[:, 1] > 0.5, "spam", "ham"))
    done = run_cli(["tree", "--dataset", "t.csv", "--target", "label", "--post", "ccp",
                    "--max-depth", "3", "--out", "a"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "class: spam" in (tmp_path / "a" / "report.md").read_text()
    write_csv(tmp_path / "r.csv", X, X[:, 0] * 3.7 + X[:, 2])
    done = run_cli(["tree", "--dataset", "r.csv", "--target", "label", "--max-depth", "3",
                    "--out", "b"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "skipped pep, ebp, mep: it counts misclassifications" in done.stdout
    assert set(json.loads((tmp_path / "b" / "results.json").read_text())["tree"]["skipped"]) \
        == {"pep", "ebp", "mep"}


@pytest.mark.parametrize("missing", ["side", "surrogate"])
def test_a_table_with_holes_grows_and_prunes_and_says_how_many(tmp_path, missing):
    rng = np.random.default_rng(2)
    X = rng.random((300, 3))
    X[:, 1] = X[:, 0] + 0.1 * rng.random(300)          # b stands in for a where a is missing
    y = (X[:, 0] > 0.5).astype(int)
    X[rng.random(X.shape) < 0.2] = np.nan
    lines = ["a,b,c,label"] + [",".join("" if np.isnan(v) else f"{v:.4f}" for v in row)
                               + f",{t}" for row, t in zip(X, y)]
    (tmp_path / "h.csv").write_text("\n".join(lines) + "\n")
    done = run_cli(["tree", "--dataset", "h.csv", "--target", "label", "--missing", missing,
                    "--out", "t"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("(surrogates: " in done.stdout) == (missing == "surrogate")
    counts = np.isnan(X).sum(axis=0)
    assert f"missing values: a {counts[0]} ({counts[0] / 300:.1%})" in done.stdout
    results = json.loads((tmp_path / "t" / "results.json").read_text())["tree"]
    assert len(results["rows"]) == 2 + 6 and "or missing" in done.stdout


FORMER_TRACEBACKS = [
    (["tree", "--dataset", "h.csv", "--target", "label"], "no data rows under the header"),
    (["tree", "--n-samples", "5"], "needs at least 20 samples, got 5"),
    (["tree", "--dataset", "h.csv", "--target", "label", "--task", "regression"],
     "no data rows under the header"),
    (["tree", "--dataset", "e.csv", "--target", "label"], "column 'b' is missing in every row"),
]


@pytest.mark.parametrize("args, message", FORMER_TRACEBACKS)
def test_former_tracebacks_are_one_line_and_leave_no_folder(tmp_path, args, message):
    (tmp_path / "h.csv").write_text("a,b,label\n")
    (tmp_path / "e.csv").write_text("a,b,label\n1,,x\n2,?,y\n")
    done = run_cli([*args, "--out", "r"], tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


@settings(max_examples=6, deadline=None)
@given(st.integers(min_value=-3, max_value=19))
def test_too_few_samples_never_end_in_a_traceback(tmp_path_factory, n):
    tmp = tmp_path_factory.mktemp("n")
    done = run_cli(["tree", "--n-samples", str(n), "--out", "r"], tmp)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp / "r").exists()
