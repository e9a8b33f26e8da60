"""Synthetic datasets for trees and small networks; every one is a function of its seed."""
from __future__ import annotations

import numpy as np

from ..checks import integer


def _check_n(n_samples):
    integer("n_samples", n_samples, 1)


def _classes(n_samples, n_classes, rng):
    """Balanced labels (counts differ by at most one), shuffled."""
    return rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)


def two_moons(n_samples=200, *, noise=0.1, rng=0):
    """Two interleaving half circles. X (n, 2) float32, y (n,) int64 in {0, 1}."""
    _check_n(n_samples)
    rng = np.random.default_rng(rng)
    y = _classes(n_samples, 2, rng)
    t = rng.uniform(0, np.pi, n_samples)
    X = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)],
                 np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    X += noise * rng.standard_normal(X.shape)
    return X.astype(np.float32), y


def spirals(n_samples=200, *, n_arms=2, turns=1.5, noise=0.1, rng=0):
    """``n_arms`` interleaved spirals, scaled to about [-1, 1]². X (n, 2), y (n,) int64."""
    _check_n(n_samples)
    rng = np.random.default_rng(rng)
    y = _classes(n_samples, n_arms, rng)
    r = np.sqrt(rng.random(n_samples))                   # uniform density along the arm
    angle = r * turns * 2 * np.pi + y * 2 * np.pi / n_arms
    X = np.c_[r * np.cos(angle), r * np.sin(angle)]
    X += noise / (turns * 2 * np.pi) * rng.standard_normal(X.shape)
    return X.astype(np.float32), y


def blobs(n_samples=300, *, n_classes=3, n_features=2, spread=1.0, box=10.0, rng=0):
    """Isotropic Gaussian clusters with centres uniform in [-box, box]^d."""
    _check_n(n_samples)
    rng = np.random.default_rng(rng)
    centres = rng.uniform(-box, box, (n_classes, n_features))
    y = _classes(n_samples, n_classes, rng)
    X = centres[y] + spread * rng.standard_normal((n_samples, n_features))
    return X.astype(np.float32), y


def checkerboard(n_samples=500, *, tiles=4, noise=0.0, rng=0):
    """Points uniform in [0, tiles]², labelled by the colour of their tile (XOR at tiles=2)."""
    _check_n(n_samples)
    rng = np.random.default_rng(rng)
    X = rng.uniform(0, tiles, (n_samples, 2))
    y = (np.floor(X[:, 0]).astype(np.int64) + np.floor(X[:, 1]).astype(np.int64)) % 2
    X += noise * rng.standard_normal(X.shape)
    return X.astype(np.float32), y


def make_classification(n_samples=1000, n_features=20, *, n_informative=2, n_redundant=2,
                        n_classes=2, n_clusters_per_class=2, class_sep=1.0, flip_y=0.01,
                        shuffle_features=False, random_state=0):
    """Clusters on the vertices of a hypercube, after Guyon (2003) and scikit-learn.

    Features, in this order unless ``shuffle_features``: ``n_informative`` carrying the class
    (Gaussian clusters at ±class_sep vertices with random covariances), ``n_redundant`` random
    linear combinations of those, and the rest pure N(0, 1) noise. A fraction ``flip_y`` of
    labels is then replaced by a random class (label noise). float64 X, int64 y.
    """
    _check_n(n_samples)
    if n_informative + n_redundant > n_features:
        raise ValueError(f"n_informative + n_redundant = {n_informative + n_redundant} exceeds "
                         f"n_features = {n_features}")
    if n_classes * n_clusters_per_class > 2 ** n_informative:
        raise ValueError(f"n_classes * n_clusters_per_class = "
                         f"{n_classes * n_clusters_per_class} must be at most 2**n_informative "
                         f"= {2 ** n_informative}")
    if not 0 <= flip_y <= 1:
        raise ValueError(f"flip_y must be in [0, 1], got {flip_y}")
    rng = np.random.default_rng(random_state)
    n_clusters = n_classes * n_clusters_per_class
    vertices = rng.permutation(2 ** n_informative)[:n_clusters]
    bits = (vertices[:, None] >> np.arange(n_informative)) & 1
    centres = (2 * bits - 1) * class_sep
    cluster = rng.permutation(np.arange(n_samples) % n_clusters)
    y = (cluster % n_classes).astype(np.int64)
    X = np.empty((n_samples, n_features))
    informative = rng.standard_normal((n_samples, n_informative))
    for k in range(n_clusters):
        rows = cluster == k
        mixing = 2 * rng.random((n_informative, n_informative)) - 1
        informative[rows] = informative[rows] @ mixing + centres[k]
    X[:, :n_informative] = informative
    X[:, n_informative:n_informative + n_redundant] = informative @ (
        2 * rng.random((n_informative, n_redundant)) - 1)
    X[:, n_informative + n_redundant:] = rng.standard_normal(
        (n_samples, n_features - n_informative - n_redundant))
    flip = rng.random(n_samples) < flip_y
    y[flip] = rng.integers(0, n_classes, flip.sum())
    if shuffle_features:
        X = X[:, rng.permutation(n_features)]
    return X, y


def make_regression(n_samples=1000, n_features=10, *, n_informative=5, noise=0.0, bias=0.0,
                    random_state=0):
    """A random linear target on ``n_informative`` of the features, plus Gaussian noise.

    Returns X (n, n_features) float64, y (n,) float64, and the true coefficients (n_features,).
    """
    _check_n(n_samples)
    if not 0 < n_informative <= n_features:
        raise ValueError(f"n_informative must be in [1, n_features={n_features}], got "
                         f"{n_informative}")
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((n_samples, n_features))
    coef = np.zeros(n_features)
    coef[:n_informative] = 100 * rng.random(n_informative)
    y = X @ coef + bias + noise * rng.standard_normal(n_samples)
    return X, y, coef
