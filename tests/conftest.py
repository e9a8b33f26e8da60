import os

import numpy as np
import pytest

os.environ.setdefault("MINPRUNE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def seeded_global_rng():
    """Estimators with random_state=None draw from NumPy's global generator, as scikit-learn's
    do: seed it per test so that every test sees the same draws."""
    np.random.seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def local(tmp_path_factory):
    """The tiny sweep with --jobs 2: the reference numbers of the sweep tests."""
    from sweep_support import TINY, cli
    tmp = tmp_path_factory.mktemp("local")
    done = cli([TINY, "--out", "s", "--jobs", "2"], tmp)
    assert done.returncode == 0, done.stderr
    return tmp, done


# --- marks: one per lesson (its own run and the tests of what it teaches), and "slow" ----------
# ``pytest -m lesson06`` runs lesson 06 and the tests of the code it steps into;
# ``pytest -m "not slow"`` is the fast loop (the lessons, notebooks, sweeps and demo are slow).
LESSON_TESTS = {
    "01": ("test_autograd_",),
    "02": ("test_nn_",),
    "03": ("test_autograd_conv",),
    "04": ("test_prune_select", "test_prune_state", "test_prune_criteria"),
    "05": ("test_prune_select",),
    "06": ("test_prune_criteria", "test_prune_field_criteria", "test_prune_expansion",
           "test_prune_sensitivity"),
    "07": ("test_prune_structured", "test_prune_surgery", "test_prune_torch_pruning"),
    "08": ("test_prune_schedules",),
    "09": ("test_prune_regularizers",),
    "10": ("test_sparse_", "test_sliced_kernels", "test_pattern_kernels", "test_infer"),
    "11": ("test_tree_estimator", "test_tree_splitter", "test_tree_equality", "test_tree_sklearn",
           "test_tree_protocol", "test_tree_weights"),
    "12": ("test_tree_stopping",),
    "13": ("test_tree_postprune",),
    "14": ("test_prune_field_criteria",),
}
SLOW = ("test_lessons.py::test_lesson_runs", "test_lessons.py::test_lessons_hold",
        "test_course.py::test_every_lesson_runs",
        "test_course.py::test_the_html_course", "test_experiments_sweep.py",
        "test_sweep_failures.py",
        "test_cli_reports.py::test_demo", "test_cli_reports.py::test_the_demo",
        "test_cli_reports.py::test_prune_command_any_combination", "test_bench.py")


def pytest_configure(config):
    for number in LESSON_TESTS:
        config.addinivalue_line("markers", f"lesson{number}: lesson {number} and the tests of "
                                           f"the code it teaches")
    config.addinivalue_line("markers", "slow: lessons, notebooks, sweeps, the demo and the "
                                       "benchmarks (skip them with -m 'not slow')")


def pytest_collection_modifyitems(config, items):
    for item in items:
        name = item.nodeid.split("tests/", 1)[-1]
        for number, prefixes in LESSON_TESTS.items():
            lesson = (f"[{number}_" in name or f"[solutions/{number}_" in name
                      or name.endswith(f"[{number}]"))
            if lesson or name.startswith(prefixes):
                item.add_marker(getattr(pytest.mark, f"lesson{number}"))
        if name.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
