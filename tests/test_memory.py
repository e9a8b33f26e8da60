"""memory.keep_freed: freed array memory is reused without page faults (counted, not timed)."""
import subprocess
import sys

import pytest

SCRIPT = """
import resource, numpy as np, minprune
sizes = [(35 << 20) + (5 << 20) * i for i in range(4)]  # 35-50 MB: above glibc's 32 MB cap
for s in sizes:                                       # warm-up: the heap grows once
    a = np.ones(s // 8); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    for s in sizes:
        a = np.ones(s // 8); del a
print(minprune.memory.kept(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(env_value):
    import os
    env = dict(os.environ, MINPRUNE_MALLOC=env_value)
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_is_reused_without_page_faults():
    kept, faults = _run("keep")
    system_kept, system_faults = _run("system")
    assert kept and not system_kept
    # 510 MB allocated in all; NumPy asks for huge pages on large arrays, so a fresh mapping
    # faults once per 2 MB at least: 255 times or more
    assert faults <= 20                     # reused: no first touches
    assert system_faults >= 200             # glibc's defaults: mapped afresh each time


def test_bad_setting_is_refused(monkeypatch):
    from minprune import memory
    monkeypatch.setenv("MINPRUNE_MALLOC", "cached")
    with pytest.raises(ValueError, match="must be 'keep' or 'system', got 'cached'"):
        memory.default()
