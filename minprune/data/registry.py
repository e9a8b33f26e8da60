"""Datasets by name, as the command line names them: one place to list the choices."""
from __future__ import annotations

import numpy as np

from . import synthetic
from .glyphs import load_glyph_digits
from .idx import load_mnist
from .tabular import train_test_split

# name -> (generator taking n_samples and seed, is it images?)
_SYNTHETIC = {
    "two-moons": lambda n, seed: synthetic.two_moons(n, noise=0.2, seed=seed),
    "spirals": lambda n, seed: synthetic.spirals(n, seed=seed),
    "blobs": lambda n, seed: synthetic.blobs(n, seed=seed),
    "checkerboard": lambda n, seed: synthetic.checkerboard(n, seed=seed),
    "classification": lambda n, seed: synthetic.make_classification(
        n, 20, n_informative=10, n_redundant=5, flip_y=0.1, seed=seed),
}
DATASETS = ("glyph-digits", "mnist:PATH", "fashion:PATH", *_SYNTHETIC)


def load_dataset(name, *, n_train=None, n_test=None, seed=0):
    """``(X_train, y_train), (X_test, y_test)`` for a dataset name from ``DATASETS``.

    ``mnist:PATH`` and ``fashion:PATH`` read the standard IDX files from folder PATH.
    ``n_train`` / ``n_test`` limit the sizes (the first samples are kept for IDX data).
    """
    if name == "glyph-digits":
        return load_glyph_digits(n_train or 60000, n_test or 10000, seed)
    kind, _, root = name.partition(":")
    if kind in ("mnist", "fashion") and root:
        X, y = load_mnist(root, "train", kind)
        Xt, yt = load_mnist(root, "test", kind)
        return (X[:n_train], y[:n_train]), (Xt[:n_test], yt[:n_test])
    if name in _SYNTHETIC:
        n_train, n_test = n_train or 2000, n_test or 1000
        X, y = _SYNTHETIC[name](n_train + n_test, seed)
        X = X.astype(np.float32)
        X_train, X_test, y_train, y_test = train_test_split(X, y, n_test, seed=seed)
        return (X_train, y_train), (X_test, y_test)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
