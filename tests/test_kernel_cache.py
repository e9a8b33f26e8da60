"""``kernel_cache``: a first run knows that Numba will compile the kernels, and says so; a
run that finds them cached, or runs with Numba's JIT off, says nothing."""
from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
from minprune.kernel_cache import cached, first_run_note
from minprune.tree.splitter import may_cut
print(cached([may_cut]), first_run_note([may_cut]) is not None)
may_cut(1.0, 2.0)
print(cached([may_cut]), first_run_note([may_cut]) is not None)
"""


def _run(cache_dir, **env):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir), **env}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return done.stdout.split("\n")[:2]


def test_a_kernel_never_compiled_is_not_cached_and_once_compiled_it_is(tmp_path):
    assert _run(tmp_path) == ["False True", "True False"]
    assert _run(tmp_path) == ["True False", "True False"]       # the next process finds it


def test_with_numbas_jit_off_there_is_nothing_to_compile_and_nothing_is_said(tmp_path):
    assert _run(tmp_path, NUMBA_DISABLE_JIT="1") == ["None False", "None False"]


def test_a_kernel_whose_source_changed_is_compiled_again(tmp_path):
    source = tmp_path / "kernel_mod.py"
    source.write_text("from numba import njit\n\n@njit(cache=True)\ndef f(a):\n    return a + 1\n")
    script = ("import sys; sys.path.insert(0, %r)\n"
              "from minprune.kernel_cache import cached\nimport kernel_mod\n"
              "print(cached([kernel_mod.f])); kernel_mod.f(1)\n" % str(tmp_path))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run():
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=300, check=True).stdout.strip()
    assert run() == "False"
    assert run() == "True"
    source.write_text(source.read_text().replace("a + 1", "a + 2"))
    os.utime(source, (os.stat(source).st_atime, os.stat(source).st_mtime + 10))
    assert run() == "False"
