"""The speed panel never lets an impossible number through: every measured speed-up carries
the quartiles of its per-round ratios, and one whose spread or whose size the FLOPs cannot
explain is marked unreliable - also without threadpoolctl and beside a busy thread."""
import copy
import json
import os
import subprocess
import sys

import numpy as np

from minprune import models, prune
from minprune.experiments import timing
from minprune.reports.network import speed_sentence, speed_table


def pruned_pair(sparsity=0.9):
    dense = models.lenet_300_100(rng=0).eval()
    pruned = copy.deepcopy(dense)
    prune.prune(pruned, sparsity)
    return dense, pruned


def fake_rounds(times):
    """interleaved_rounds returning the given per-round seconds for each variant."""
    def rounds(fns, **kwargs):
        return {name: list(times[name]) for name in fns}
    return rounds


def test_clean_noisy_and_impossible_speedups(monkeypatch):
    dense, pruned = pruned_pair()
    X = np.zeros((4, 784), np.float32)
    steady = {"dense": [10.0] * 6, "masked": [10.0] * 6, "csr": [4.0] * 6}
    monkeypatch.setattr(timing, "interleaved_rounds", fake_rounds(steady))
    out = timing.panel(dense, pruned, "weight", X, (1,), 6)
    assert out["csr_b1_speedup"] == 2.5 and out["csr_b1_speedup_reliable"]
    assert out["masked_b1_speedup_low"] == out["masked_b1_speedup_high"] == 1.0
    assert "BLAS" in out["threads"]

    noisy = {"dense": [10, 30, 10, 30, 10, 30], "masked": [10.0] * 6, "csr": [4.0] * 6}
    monkeypatch.setattr(timing, "interleaved_rounds", fake_rounds(noisy))
    out = timing.panel(dense, pruned, "weight", X, (1,), 6)
    assert not out["masked_b1_speedup_reliable"] and not out["csr_b1_speedup_reliable"]

    impossible = {"dense": [100.0] * 6, "masked": [100.0] * 6, "csr": [0.8] * 6}  # 125x
    monkeypatch.setattr(timing, "interleaved_rounds", fake_rounds(impossible))
    out = timing.panel(dense, pruned, "weight", X, (1,), 6)
    assert out["masked_b1_speedup_reliable"] and not out["csr_b1_speedup_reliable"]
    row = dict(out, sparsity=0.9, theoretical_speedup=10.0, csr_b64_speedup=1.0,
               masked_b64_speedup=1.0)
    rows, columns = speed_table([row], batches=(1,))
    assert rows[0]["csr_b1_speedup"] == "125.00x [125.00-125.00] (unreliable)"
    assert "too noisy to read" in speed_sentence([row]) and "125" not in speed_sentence([row])


def test_without_threadpoolctl_and_beside_a_busy_thread(tmp_path):
    script = """
import copy, json, sys, threading
import numpy as np
sys.modules["threadpoolctl"] = None              # as if it were not installed
from minprune import models, prune, threads
from minprune.experiments import timing
stop = threading.Event()
def busy():
    a = np.random.default_rng(0).random((200, 200))
    while not stop.is_set():
        a @ a
worker = threading.Thread(target=busy, daemon=True)
worker.start()
dense = models.lenet_300_100(rng=0).eval()
pruned = copy.deepcopy(dense)
prune.prune(pruned, 0.9)
X = np.random.default_rng(0).random((64, 784)).astype(np.float32)
out = timing.panel(dense, pruned, "weight", X, (1, 64), 8)
stop.set()
print(json.dumps(out))
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(tmp_path)))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "threadpoolctl is missing" in out["threads"]
    for batch in (1, 64):
        masked = f"masked_b{batch}_speedup"
        if out[f"{masked}_reliable"]:            # read only where it is within bounds
            assert out[f"{masked}_low"] <= 1.3 and out[f"{masked}_high"] >= 0.77
        csr = f"csr_b{batch}_speedup"
        if out[f"{csr}_reliable"]:
            assert out[csr] <= timing.BEYOND_FLOPS * 10
