"""``examples/torch_to_onnx.py``, which the README points at, runs to its end: PyTorch's
network and minprune's import of it agree on the test set, and so do the pruned, fine-tuned
network and its ONNX file in ONNX Runtime; its timing table has every row."""
import pathlib
import re
import subprocess
import sys

from helpers import require

EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "torch_to_onnx.py"


def test_torch_to_onnx_example_runs_and_each_hand_over_keeps_the_accuracy(tmp_path):
    require("torch")
    require("onnxruntime")
    done = subprocess.run([sys.executable, str(EXAMPLE), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    accuracy = {label: float(value) for label, value in
                re.findall(r"^(\w[^:(]*?)\s*(?:\([^)]*\))?:\s+([01]\.\d{4})$", done.stdout,
                           re.M)}
    assert accuracy["imported into minprune"] == accuracy["trained in PyTorch"]
    assert accuracy["in ONNX Runtime"] == accuracy["fine-tuned one epoch"]
    assert accuracy["fine-tuned one epoch"] > 0.5
    for batch in (1, 64):
        for variant in ("PyTorch eager, dense", "minprune plan, dense", "ONNX Runtime, dense",
                        "minprune plan, pruned", "ONNX Runtime, pruned"):
            assert re.search(rf"^batch +{batch} +{re.escape(variant)} +[\d.]+ us", done.stdout,
                             re.M), (batch, variant)
