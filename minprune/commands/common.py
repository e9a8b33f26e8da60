"""What the subcommands share: output folders, model building, tables, JSON."""
from __future__ import annotations

import json
import os

import numpy as np

from ..io import write_text_atomic

MODELS = ("lenet_300_100", "lenet5", "small_vgg", "mlp")
IMAGE_MODELS = ("lenet_300_100", "lenet5", "small_vgg")


class UsageError(Exception):
    """Bad input found before any work starts; the CLI prints it and exits with status 2."""


def prepare_out(path, force):
    """Create the output folder; an existing non-empty one needs ``force``."""
    if os.path.isdir(path) and os.listdir(path) and not force:
        raise UsageError(f"output folder {path} exists and is not empty; pass --force to "
                         f"overwrite it or choose another --out")
    os.makedirs(path, exist_ok=True)
    return path


def build_model(name, X, n_classes, hidden, seed):
    """The model ``name`` for inputs like ``X``; refuses a model that cannot take them."""
    from .. import models
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    images = X.ndim == 4 and X.shape[1:] == (1, 28, 28)
    if name in IMAGE_MODELS:
        if not images:
            raise UsageError(f"model {name} takes 1x28x28 images, but the dataset has samples "
                             f"of shape {X.shape[1:]}; use --model mlp")
        if n_classes > 10:
            raise UsageError(f"model {name} has 10 outputs, the dataset has {n_classes} classes")
        return getattr(models, name)(rng=seed)
    n_in = int(np.prod(X.shape[1:]))
    return models.mlp([n_in, *hidden, max(n_classes, 2)], rng=seed)


def parse_ints(text, what):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated integers, got {text!r}") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{what} must be positive, got {text!r}")
    return values


def parse_floats(text, what):
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{what} must be comma-separated numbers, got {text!r}") from None


def write_json(path, data):
    write_text_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
