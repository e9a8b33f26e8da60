"""Datasets by name, as the command line names them: the one place to list the choices.

Every command, study and sweep that takes a dataset name reads it here, so one name always
means the same data."""
from __future__ import annotations

import numpy as np

from . import synthetic
from .glyphs import load_glyph_digits
from .idx import load_mnist
from .tabular import train_test_split

# name -> a generator of (X, y) taking n_samples and rng (an int seed or a Generator)
_SYNTHETIC = {
    "classification": lambda n, rng: synthetic.make_classification(
        n, 20, n_informative=10, n_redundant=5, flip_y=0.1, random_state=rng),
    "two-moons": lambda n, rng: synthetic.two_moons(n, noise=0.2, rng=rng),
    "spirals": lambda n, rng: synthetic.spirals(n, rng=rng),
    "blobs": lambda n, rng: synthetic.blobs(n, rng=rng),
    "checkerboard": lambda n, rng: synthetic.checkerboard(n, rng=rng),
    "regression": lambda n, rng: synthetic.make_regression(
        n, 8, n_informative=4, noise=20.0, random_state=rng)[:2],
}
DATASETS = ("glyph-digits", "mnist:PATH", "fashion:PATH", *_SYNTHETIC)
TABLES = tuple(_SYNTHETIC)          # the tabular sets, for trees


def make_table(name, n_samples, rng=0):
    """``(X, y)`` of the synthetic tabular set ``name`` (one of ``TABLES``), all of it."""
    if name not in _SYNTHETIC:
        raise ValueError(f"dataset must be one of {', '.join(TABLES)}, got {name!r}")
    return _SYNTHETIC[name](n_samples, rng)


def calibration_split(X, y, n_calibration=512, rng=0, *, held_out=None):
    """Hold ``n_calibration`` training samples out for calibrating data-driven criteria.

    Returns ``(X_fit, y_fit), (X_cal, y_cal)``: the model trains on the first pair, criteria
    are calibrated on the second, and the test set is never touched by either. ``held_out``
    (at least ``n_calibration``): hold this many out of training and calibrate on the first
    ``n_calibration`` of them, so that runs calibrated on 128, 512 or 2048 samples start from
    the same trained model (the smaller sets are subsets of the larger ones).
    """
    X, y = np.asarray(X), np.asarray(y)
    held_out = n_calibration if held_out is None else held_out
    if not 0 < n_calibration < len(X):
        raise ValueError(f"n_calibration must be between 1 and {len(X) - 1} (the training set "
                         f"has {len(X)} samples), got {n_calibration!r}")
    if not n_calibration <= held_out < len(X):
        raise ValueError(f"held_out must be between n_calibration={n_calibration} and "
                         f"{len(X) - 1}, got {held_out!r}")
    order = np.random.default_rng(rng).permutation(len(X))
    cal, fit = np.sort(order[:n_calibration]), np.sort(order[held_out:])
    return (X[fit], y[fit]), (X[cal], y[cal])


def load_dataset(name, *, n_train=None, n_test=None, rng=0):
    """``(X_train, y_train), (X_test, y_test)`` for a dataset name from ``DATASETS``.

    ``mnist:PATH`` and ``fashion:PATH`` read the standard IDX files from folder PATH.
    ``n_train`` / ``n_test`` limit the sizes (the first samples are kept for IDX data).
    """
    if name == "glyph-digits":
        return load_glyph_digits(n_train or 60000, n_test or 10000, rng)
    kind, _, root = name.partition(":")
    if kind in ("mnist", "fashion") and root:
        X, y = load_mnist(root, "train", kind)
        Xt, yt = load_mnist(root, "test", kind)
        return (X[:n_train], y[:n_train]), (Xt[:n_test], yt[:n_test])
    if name in _SYNTHETIC:
        n_train, n_test = n_train or 2000, n_test or 1000
        X, y = make_table(name, n_train + n_test, rng)
        X = X.astype(np.float32)
        X_train, X_test, y_train, y_test = train_test_split(X, y, n_test, random_state=rng)
        return (X_train, y_train), (X_test, y_test)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
