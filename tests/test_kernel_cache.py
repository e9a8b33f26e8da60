"""``kernel_cache``: a first run knows that Numba will compile the kernels, and says so; a
run that finds them cached, or runs with Numba's JIT off, says nothing. What the cache holds
is compiled from the sources as they are: a change to one kernel compiles its callers in other
files again, and the same kernel compiled in two processes gets two names."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from minprune.kernel_cache import package_stamp

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


CALLEE = "from numba import njit\n\n@njit(cache=True)\ndef f(x):\n    return x + 1.0\n"
CALLER = ("from numba import njit\n\nfrom .f import f\n\n@njit(cache=True)\ndef g(x):\n"
          "    return f(x) * 10.0\n")


def test_a_change_to_a_kernel_compiles_again_the_kernels_of_other_files_that_call_it(tmp_path):
    """Numba keys a kernel on its own file: a caller in another file kept the callee's old
    body from its cache. Keyed on the package (``stamp_by_package``), it gets the new one."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "f.py").write_text(CALLEE)
    (package / "g.py").write_text(CALLER)
    script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
              "from minprune import kernel_cache\n"
              f"assert kernel_cache.stamp_by_package({str(package)!r})\n"
              "from pkg.g import g\nprint(g(1.0))\n")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}

    def run():
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              text=True, timeout=300, check=True).stdout.strip()
    assert run() == "20.0"
    assert run() == "20.0"                                  # (from the cache)
    (package / "f.py").write_text(CALLEE.replace("x + 1.0", "x + 2.0"))
    assert run() == "30.0"


def test_the_same_kernel_compiled_in_two_processes_has_two_names(tmp_path):
    """Numba numbers compiled functions from one in each process: the same kernel compiled
    in two processes reached the cache twice under one symbol, and a process loading both ran
    one in place of the other. ``distinct_ids`` draws the numbers at random."""
    script = ("import minprune.jit\nfrom numba import njit\n"
              "@njit\ndef f(x):\n    return x + 1\n"
              "f(1)\nprint(next(iter(f.overloads.values())).fndesc.mangled_name)\n")
    names = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300, check=True).stdout.strip() for _ in range(2)}
    assert len(names) == 2 and all("f" in name for name in names)


def test_every_kernel_takes_its_njit_from_minprune_jit():
    """A kernel decorated with Numba's own njit would miss ``kernel_cache``'s keys."""
    import re
    package = pathlib.Path(__file__).parent.parent / "minprune"
    direct = [str(path.relative_to(package)) for path in package.rglob("*.py")
              if path.name != "jit.py"
              and re.search(r"^from numba import .*\bnjit\b|\bnumba\.n?jit\(", path.read_text(),
                            re.M)]
    assert not direct, direct


def test_minprunes_kernels_are_cached_for_the_whole_package():
    from numba.core.registry import CPUDispatcher

    import minprune
    from minprune.infer import batch_chain
    from minprune.sparse import conv_tiles
    kernels = [k for k in (conv_tiles.conv_sparse_groups, batch_chain.chain_split)
               if isinstance(k, CPUDispatcher)]
    if not kernels:
        pytest.skip("Numba's JIT is off: nothing is compiled or cached")
    root = str(pathlib.Path(minprune.__file__).parent.resolve())
    for kernel in kernels:
        locator = kernel._cache._impl.locator
        assert getattr(type(locator), "package_root", None) == root
        assert locator.get_source_stamp() == package_stamp(root)
