"""Trained models on a shelf: trained once, deterministically, kept on disk, loaded in
milliseconds afterwards.

``trained("lenet_300_100", quick=True)`` returns LeNet-300-100 trained on glyph digits by a
fixed recipe (data size, epochs, optimiser, penalty, seeds); the first call trains it and stores
it under the cache folder (``files.cache_dir()``, or $MINPRUNE_CACHE) with an atomic write,
every later call - in any process - loads that file. ``dataset(quick=True)`` returns the splits: the
training samples it was trained on, a validation split it never saw (for calibration and
choices: budgets, alphas, thresholds) and the test split (for measuring only), so a lesson or a
test starts from a *trained* network without paying for the training each time. The quick
recipes are small and take seconds, yet give networks good enough to teach on (LeNet-300-100 at
least 0.90, LeNet-5 at least 0.95 test accuracy on glyph digits); the full ones are the lessons'
full mode. Beside the plain networks the shelf keeps the ones trained *with* a sparsity
penalty (L1, group lasso, L0 gates, network slimming; lesson 09), each on the same data and
epochs as its plain twin, so comparisons between them are at equal budgets.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, replace

from . import data as datasets
from . import io, models
from .checks import one_of
from .files import cache_dir
from .nn import fit, optim
from .nn import layers as L
from .nn.gates import L0Gate
from .nn.module import Sequential
from .prune import regularizers

VERSION = 2                          # bump when a recipe changes: old files are not reused
DATASETS = ("glyph-digits",)
# $MINPRUNE_ZOO_RECIPE: "standard", or "perturbed" - every recipe with 0.6x the learning rate,
# one epoch less and other seeds: valid models that no lesson was written against, on which
# the tests run the lessons to check that their claims hold for any reasonable model.
RECIPE_VARIANTS = ("standard", "perturbed")


@dataclass(frozen=True)
class Recipe:
    """How a shelf model is trained: on the dataset's first ``n_train`` samples less the last
    ``n_val`` (the validation split; only the first ``subset`` of the rest when it is set),
    for ``epochs`` epochs at ``lr`` (SGD with momentum 0.9, or Adam), batch 64, with the
    seed throughout; measured on ``n_test`` other samples. ``arch`` names the network
    (``models.<arch>``, or ``"lenet_300_100_gated"``: an ``L0Gate`` after each hidden ReLU),
    ``penalty`` a training penalty from ``PENALTIES`` with its strength."""
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    lr: float = 0.05
    arch: str = ""
    penalty: tuple = ()
    optimizer: str = "sgd"
    subset: int = 0
    options: tuple = ()          # ((keyword, value), ...) for models.<arch>
    finish: int = 0              # then this many epochs at a tenth of ``lr``


PENALTIES = ("l1", "group_lasso", "l0", "bn_l1")   # regularizers.<name>; group lasso on units


def _penalty(kind, model):
    """The regularizer ``kind`` of ``model`` (a Tensor to add to the loss)."""
    if kind == "group_lasso":
        return regularizers.group_lasso(model, "unit")
    return getattr(regularizers, kind)(model)


def _recipes():
    """The shelf: plain LeNets, and LeNet-300-100 / small VGG trained with each penalty on the
    plain twin's data and epochs."""
    out = {}
    for quick, (n_train, n_val, n_test), (e300, e5, evgg), vgg_subset in (
            (True, (22_000, 2_000, 2_000), (6, 2, 3), 3_000),
            (False, (60_000, 5_000, 10_000), (8, 4, 3), 12_000)):
        base = dict(n_train=n_train, n_val=n_val, n_test=n_test)
        out[("lenet_300_100", quick)] = Recipe(**base, epochs=e300)
        out[("lenet5", quick)] = Recipe(**base, epochs=e5)
        out[("lenet_300_100_l1", quick)] = Recipe(**base, epochs=e300, arch="lenet_300_100",
                                                  penalty=("l1", 1e-5))
        out[("lenet_300_100_group_lasso", quick)] = Recipe(
            **base, epochs=e300, arch="lenet_300_100", penalty=("group_lasso", 2e-4))
        out[("lenet_300_100_l0", quick)] = Recipe(
            **base, epochs=e300, lr=3e-3, arch="lenet_300_100_gated", penalty=("l0", 0.02),
            optimizer="adam")
        out[("small_vgg", quick)] = Recipe(**base, epochs=evgg, subset=vgg_subset)
        out[("small_vgg_slim", quick)] = Recipe(**base, epochs=evgg, subset=vgg_subset,
                                                arch="small_vgg", penalty=("bn_l1", 1e-2))
        # the networks with shortcuts: narrower (width 8) and on a subset in quick mode
        # (BatchNorm nets: a high rate, then one epoch at a tenth of it to settle)
        width, subset, epochs = (8, 4_000, 2) if quick else (16, 12_000, 3)
        for depth in (8, 20):
            out[(f"resnet{depth}", quick)] = Recipe(
                **base, epochs=epochs, lr=0.2, finish=1, subset=subset, arch="resnet",
                options=(("depth", depth), ("width", width)))
        out[("mobilenet", quick)] = Recipe(**base, epochs=epochs, lr=0.2, finish=1,
                                           subset=subset, options=(("width", width),))
    return out


RECIPES = _recipes()
MODELS = tuple(sorted({name for name, _ in RECIPES}))


def _build(name, recipe, seed):
    """The untrained network of a recipe."""
    arch = recipe.arch or name
    if arch == "lenet_300_100_gated":                   # an L0Gate after each hidden ReLU
        plain = list(models.lenet_300_100(rng=seed))
        gated = []
        for i, layer in enumerate(plain):
            gated.append(layer)
            if isinstance(layer, L.ReLU):
                gated.append(L0Gate(plain[i - 1].out_features, rng=seed + 1 + i))
        return Sequential(*gated)
    return getattr(models, arch)(rng=seed, **dict(recipe.options))


def dataset(data="glyph-digits", quick=True):
    """((X, y), (X_val, y_val), (X_test, y_test)): the training samples of the shelf's models
    in this mode (every model of a mode shares them), a validation split none of them was
    trained on, and the test split."""
    one_of("data", data, DATASETS)
    recipe = RECIPES[("lenet_300_100", bool(quick))]
    (X, y), test = datasets.load_glyph_digits(recipe.n_train, recipe.n_test, rng=0)
    cut = len(X) - recipe.n_val
    return (X[:cut], y[:cut]), (X[cut:], y[cut:]), test


def variant():
    """The recipe variant in force ($MINPRUNE_ZOO_RECIPE, "standard" by default)."""
    return one_of("MINPRUNE_ZOO_RECIPE", os.environ.get("MINPRUNE_ZOO_RECIPE", "standard"),
                  RECIPE_VARIANTS)


def path(name, data="glyph-digits", quick=True, seed=0):
    """Where the shelf keeps that model."""
    mode = "quick" if quick else "full"
    extra = "" if variant() == "standard" else f"_{variant()}"
    return os.path.join(cache_dir(), "zoo",
                        f"{name}_{data}_{mode}_seed{seed}{extra}_v{VERSION}.npz")


def trained(name, data="glyph-digits", quick=True, seed=0, log=None):
    """The trained model ``name`` (a new copy each call; change it freely).

    name : one of ``MODELS`` ("lenet_300_100", "lenet5", and the penalised
    "lenet_300_100_l1", "lenet_300_100_group_lasso", "lenet_300_100_l0", "small_vgg",
    "small_vgg_slim"; the networks with shortcuts "resnet8", "resnet20", "mobilenet");
    data : "glyph-digits"; quick : the small recipe (a few seconds the first time, a minute
    for the resnets) or the full one; seed : the initialisation and shuffling seed.
    log : called with a line when the model has to be trained (None: silent).
    """
    one_of("name", name, MODELS)
    one_of("data", data, DATASETS)
    file = path(name, data, quick, seed)
    if os.path.exists(file):
        with contextlib.suppress(ValueError):      # damaged: train it again below
            return io.load(file)
    recipe = RECIPES[(name, bool(quick))]
    if variant() == "perturbed":
        recipe = replace(recipe, lr=0.6 * recipe.lr, epochs=max(1, recipe.epochs - 1))
        seed = seed + 1000
    (X, y), _, _ = dataset(data, quick)
    if recipe.subset:
        X, y = X[:recipe.subset], y[:recipe.subset]
    if log:
        log(f"training {name} on {data} ({'quick' if quick else 'full'} recipe: "
            f"{len(X)} samples, {recipe.epochs} epochs); kept in {file}")
    model = _build(name, recipe, seed)
    optimizer = (optim.Adam(model.parameters(), lr=recipe.lr) if recipe.optimizer == "adam"
                 else optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9))
    penalty = None
    if recipe.penalty:
        kind, strength = recipe.penalty
        penalty = lambda m: strength * _penalty(kind, m)       # noqa: E731
    fit(model, X, y, epochs=recipe.epochs, batch_size=64, rng=seed, progress=False,
        optimizer=optimizer, penalty=penalty)
    if recipe.finish:
        optimizer.lr = recipe.lr / 10
        fit(model, X, y, epochs=recipe.finish, batch_size=64, rng=seed + 1, progress=False,
            optimizer=optimizer, penalty=penalty)
    io.save(model, file)
    return model
