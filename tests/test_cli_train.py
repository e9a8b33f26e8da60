"""``minprune train`` in a subprocess: the files it writes, and its refusals."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minprune


def run_cli(args, tmp_path):
    env = dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "minprune", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_train_writes_model_metrics_and_curve(tmp_path):
    done = run_cli(["train", "--model", "lenet5", "--dataset", "glyph-digits", "--epochs", "1",
                    "--n-train", "256", "--n-test", "64", "--batch-size", "32", "--lr", "0.05",
                    "--seed", "0", "--out", "runs/lenet5"], tmp_path)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "runs" / "lenet5"
    assert sorted(os.listdir(out)) == ["learning_curve.png", "metrics.json", "model.npz"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_train"] == 256 and len(metrics["history"]["val_accuracy"]) == 1
    assert "epoch" in done.stdout and "train loss" in done.stdout
    model = minprune.load(out / "model.npz")
    (_, _), (Xt, yt) = minprune.data.load_glyph_digits(256, 64, rng=0, cache=False)
    acc = minprune.nn.evaluate(model, Xt, yt)["accuracy"]
    assert acc == pytest.approx(metrics["history"]["val_accuracy"][-1])
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_train_on_idx_folder(tmp_path):
    from minprune.data import write_idx
    rng = np.random.default_rng(0)
    root = tmp_path / "mnist"
    for split, n in (("train", 64), ("t10k", 32)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz",
                  rng.integers(0, 10, n).astype(np.uint8))
    done = run_cli(["train", "--dataset", f"mnist:{root}", "--epochs", "1", "--out", "r"],
                   tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["n_test"] == 32


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope"], "choose from glyph-digits"),
    (["--model", "resnet"], "choose from lenet_300_100"),
    (["--model", "lenet5", "--dataset", "spirals"], "takes 1x28x28 images"),
    (["--optimizer", "rmsprop"], "choose from sgd, adam"),
])
def test_bad_input_is_refused_with_choices(tmp_path, args, message):
    done = run_cli(["train", *args, "--out", "r"], tmp_path)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "r").exists()


def test_existing_output_is_not_clobbered(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "keep.txt").write_text("mine")
    done = run_cli(["train", "--model", "mlp", "--dataset", "spirals", "--epochs", "1",
                    "--out", "r"], tmp_path)
    assert done.returncode == 2 and "--force" in done.stderr
    assert os.listdir(tmp_path / "r") == ["keep.txt"]
