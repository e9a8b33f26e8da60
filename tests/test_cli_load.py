"""``minprune prune --load`` takes the model and the dataset from the file, refuses a
contradicting --model or --dataset in one line, and never leaves an empty folder."""
import json

import pytest
from test_cli_reports import run_cli


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("trained")
    done = run_cli(["train", "--model", "mlp", "--hidden", "16", "--dataset", "two-moons",
                    "--epochs", "1", "--out", "m"], tmp)
    assert done.returncode == 0, done.stderr
    return tmp


def test_the_file_says_what_it_holds(trained):
    done = run_cli(["prune", "--load", "m/model.npz", "--sparsity", "0.5",
                    "--finetune-epochs", "0", "--out", "p"], trained)
    assert done.returncode == 0, done.stderr
    results = json.loads((trained / "p" / "results.json").read_text())["network"]
    assert (results["model"], results["dataset"]) == ("mlp", "two-moons")
    assert (trained / "p" / "report.md").read_text().startswith("# minprune prune: mlp on "
                                                                "two-moons")


@pytest.mark.parametrize("args, message", [
    (["--model", "lenet5"], "--model lenet5 contradicts m/model.npz, which holds a mlp"),
    (["--dataset", "glyph-digits"], "which holds a model trained on two-moons"),
    (["--n-train", "0"], "--n-train must be a positive integer"),
])
def test_contradictions_are_refused_in_one_line(trained, args, message):
    done = run_cli(["prune", "--load", "m/model.npz", *args, "--out", "q"], trained)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not (trained / "q").exists()


def test_a_file_that_says_nothing_needs_a_dataset(trained, tmp_path):
    from minprune import io, models
    io.save(models.mlp([2, 4, 2], rng=0), tmp_path / "bare.npz")
    done = run_cli(["prune", "--load", str(tmp_path / "bare.npz"), "--out", "q"], tmp_path)
    assert done.returncode == 2 and "give --dataset" in done.stderr, done.stderr
    done = run_cli(["prune", "--load", str(tmp_path / "bare.npz"), "--dataset", "glyph-digits",
                    "--n-train", "50", "--n-test", "20", "--out", "q"], tmp_path)
    assert done.returncode == 2 and "cannot take glyph-digits's inputs" in done.stderr
    assert not (tmp_path / "q").exists()
