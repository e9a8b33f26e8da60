import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))          # lets tests import the oracles helper
os.environ.setdefault("MINPRUNE_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
