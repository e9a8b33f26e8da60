"""Trained models on a shelf: trained once, deterministically, kept on disk, loaded in
milliseconds afterwards.

``trained("lenet_300_100", quick=True)`` returns LeNet-300-100 trained on glyph digits by a
fixed recipe (data size, epochs, optimiser, seeds); the first call trains it and stores it under
the cache folder (``files.cache_dir()``, or $MINPRUNE_CACHE) with an atomic write, every later
call - in any process - loads that file. ``dataset(quick=True)`` returns the splits: the
training samples it was trained on, a validation split it never saw (for calibration and
choices: budgets, alphas, thresholds) and the test split (for measuring only), so a lesson or a
test starts from a *trained* network without paying for the training each time. The quick
recipes are small and take seconds, yet give networks good enough to teach on (LeNet-300-100 at
least 0.90, LeNet-5 at least 0.95 test accuracy on glyph digits); the full ones are the lessons'
full mode.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from .checks import one_of

VERSION = 2                          # bump when a recipe changes: old files are not reused
DATASETS = ("glyph-digits",)


@dataclass(frozen=True)
class Recipe:
    """How a shelf model is trained: on the dataset's first ``n_train`` samples less the last
    ``n_val`` (the validation split), for ``epochs`` epochs of SGD with momentum 0.9 at ``lr``,
    batch 64, seed 0 throughout; measured on ``n_test`` other samples."""
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    lr: float = 0.05


RECIPES = {("lenet_300_100", True): Recipe(22_000, 2_000, 2_000, 6),
           ("lenet_300_100", False): Recipe(60_000, 5_000, 10_000, 8),
           ("lenet5", True): Recipe(22_000, 2_000, 2_000, 2),
           ("lenet5", False): Recipe(60_000, 5_000, 10_000, 4)}
MODELS = tuple(sorted({name for name, _ in RECIPES}))


def dataset(data="glyph-digits", quick=True):
    """((X, y), (X_val, y_val), (X_test, y_test)): the training samples of the shelf's models
    in this mode (every model of a mode shares them), a validation split none of them was
    trained on, and the test split."""
    from . import data as datasets
    one_of("data", data, DATASETS)
    recipe = RECIPES[("lenet_300_100", bool(quick))]
    (X, y), test = datasets.load_glyph_digits(recipe.n_train, recipe.n_test, rng=0)
    cut = len(X) - recipe.n_val
    return (X[:cut], y[:cut]), (X[cut:], y[cut:]), test


def path(name, data="glyph-digits", quick=True, seed=0):
    """Where the shelf keeps that model."""
    from .files import cache_dir
    mode = "quick" if quick else "full"
    return os.path.join(cache_dir(), "zoo", f"{name}_{data}_{mode}_seed{seed}_v{VERSION}.npz")


def trained(name, data="glyph-digits", quick=True, seed=0, log=None):
    """The trained model ``name`` (a new copy each call; change it freely).

    name : "lenet_300_100" or "lenet5"; data : "glyph-digits"; quick : the small recipe (a few
    seconds the first time) or the full one; seed : the initialisation and shuffling seed.
    log : called with a line when the model has to be trained (None: silent).
    """
    from . import io, models
    from .nn import fit, optim
    one_of("name", name, MODELS)
    one_of("data", data, DATASETS)
    file = path(name, data, quick, seed)
    if os.path.exists(file):
        with contextlib.suppress(ValueError):      # damaged: train it again below
            return io.load(file)
    recipe = RECIPES[(name, bool(quick))]
    if log:
        log(f"training {name} on {data} ({'quick' if quick else 'full'} recipe: "
            f"{recipe.n_train - recipe.n_val} samples, {recipe.epochs} epochs); kept in {file}")
    (X, y), _, _ = dataset(data, quick)
    model = getattr(models, name)(rng=seed)
    fit(model, X, y, epochs=recipe.epochs, batch_size=64, rng=seed, progress=False,
        optimizer=optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9))
    io.save(model, file)
    return model
