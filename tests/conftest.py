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
