"""Reference systems for cross-checks: skip when absent, fail under MINPRUNE_REQUIRE_ORACLES=1."""
import importlib
import os

import pytest


def require(module_name):
    """Import ``module_name`` (e.g. "torch") or skip the test; CI demands it instead."""
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if os.environ.get("MINPRUNE_REQUIRE_ORACLES") == "1":
            pytest.fail(f"oracle {module_name!r} is required (MINPRUNE_REQUIRE_ORACLES=1) but "
                        f"cannot be imported: {exc}")
        pytest.skip(f"oracle {module_name!r} is not installed")
