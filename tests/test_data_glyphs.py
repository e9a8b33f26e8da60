"""Glyph digits: deterministic, balanced, in range, cached atomically."""
import os

import numpy as np

from minprune.data import glyph_digits, load_glyph_digits


def test_shape_range_balance():
    X, y = glyph_digits(503, rng=1)
    assert X.shape == (503, 1, 28, 28) and X.dtype == np.float32
    assert y.dtype == np.int64 and X.min() >= 0 and X.max() <= 1
    counts = np.bincount(y, minlength=10)
    assert counts.max() - counts.min() <= 1


def test_same_seed_same_bytes_other_seed_other_images():
    a, ya = glyph_digits(64, rng=3)
    b, yb = glyph_digits(64, rng=3)
    c, _ = glyph_digits(64, rng=4)
    assert a.tobytes() == b.tobytes() and np.array_equal(ya, yb)
    assert not np.array_equal(a, c)


def test_digits_are_centred_like_mnist():
    X, _ = glyph_digits(400, rng=0)
    mass = X[:, 0].sum(axis=(0,))
    rows, cols = np.indices(mass.shape)
    centre = ((rows * mass).sum() / mass.sum(), (cols * mass).sum() / mass.sum())
    assert abs(centre[0] - 13.5) < 1.0 and abs(centre[1] - 13.5) < 1.0
    border = np.concatenate([X[:, 0, :2].ravel(), X[:, 0, -2:].ravel()])
    assert border.mean() < X.mean()                 # the ink is inside, noise at the edge


def test_other_sizes():
    X, _ = glyph_digits(10, size=16)
    assert X.shape == (10, 1, 16, 16)


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("MINPRUNE_CACHE", str(tmp_path))
    (X, y), (Xt, yt) = load_glyph_digits(120, 40, rng=2)
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].endswith(".npz")     # no temporary file left over
    (X2, y2), (Xt2, yt2) = load_glyph_digits(120, 40, rng=2)
    assert np.array_equal(X, X2) and np.array_equal(yt, yt2)
    assert not np.array_equal(X[:40], Xt)           # train and test are different draws
