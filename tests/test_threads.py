"""minprune.threads: one pool at a time - BLAS pinned to one thread where other work runs
its own, and the count handed back after."""
import numpy as np
import pytest

from minprune import threads


@pytest.fixture
def two_threads():
    threads.set_threads(2)
    yield
    threads.set_threads(1)


def test_one_blas_thread_pins_blas_and_hands_its_count_back(two_threads):
    pytest.importorskip("threadpoolctl")
    assert threads.in_use()["blas"] == 2
    with threads.one_blas_thread():
        assert threads.in_use()["blas"] == 1
        np.ones((64, 64)) @ np.ones((64, 64))             # BLAS still works meanwhile
    assert threads.in_use()["blas"] == 2


def test_as_one_says_one_thread_and_hands_both_back(two_threads):
    pytest.importorskip("threadpoolctl")
    with threads.as_one():
        assert threads.asked() == 1 and threads.in_use()["blas"] == 1
    assert threads.asked() == 2 and threads.in_use()["blas"] == 2
    with pytest.raises(RuntimeError):                  # handed back on an error too
        with threads.as_one():
            raise RuntimeError("inside")
    assert threads.asked() == 2 and threads.in_use()["blas"] == 2
