"""The oracle helper: skip without the reference library, fail when CI demands it."""
import pytest
from helpers import require


def test_missing_oracle_skips(monkeypatch):
    monkeypatch.delenv("MINPRUNE_REQUIRE_ORACLES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require("a_module_that_does_not_exist")


def test_missing_oracle_fails_when_required(monkeypatch):
    monkeypatch.setenv("MINPRUNE_REQUIRE_ORACLES", "1")
    with pytest.raises(pytest.fail.Exception, match="required"):
        require("a_module_that_does_not_exist")


def test_present_module_is_returned():
    assert require("numpy").__name__ == "numpy"
