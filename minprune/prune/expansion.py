"""The loss change of removing a group, predicted term by term from the Taylor expansion.

Removing a group S sets its entries to zero: the step is d = -w_S, and to second order

    ΔL ≈ g·d + ½ d·H·d = -Σ_{s∈S} g_s·w_s + ½ Σ_{s,t∈S} w_s·H_st·w_t

with g the gradient and H the Hessian of the mean loss on the data. ``expansion`` returns both
terms for every group, the way the criteria use them:

- ``first``: -Σ_{s∈S} g_s·w_s, *signed*. ``taylor`` squares it and ``snip`` takes the size of
  each entry's share, so both rank by how much the loss moves, whichever way;
- ``second``: ½ Σ_{s∈S} F_ss·w_s², the Hessian's diagonal replaced by the diagonal empirical
  Fisher (OBD's saliency, criterion ``obd``). The cross terms between entries, and between
  groups removed together, are left out: lesson 06 measures what they are worth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .criteria import _per_group, check, fisher_diagonal, mean_gradients


@dataclass
class Expansion:
    """Per layer name, one value per group (the weight's shape at weight granularity)."""
    first: dict
    second: dict

    def predicted(self):
        """first + second: the predicted ΔL of removing each group alone."""
        return {name: self.first[name] + self.second[name] for name in self.first}


def expansion(model, granularity, data, batch_size=256):
    """Both terms of the predicted loss change for every group of ``model``'s prunable layers.

    granularity : "weight", "unit" or "filter". data : (X, y), the data the loss is taken on
    (calibration data, held out from the test set).
    """
    if granularity not in ("weight", "unit", "filter"):
        raise ValueError(f"granularity must be 'weight', 'unit' or 'filter', got {granularity!r}")
    layers = check(model, "obd", granularity)
    X, y = (np.asarray(a) for a in data)
    grads = mean_gradients(model, (X, y), batch_size)
    fisher = fisher_diagonal(model, (X, y))
    params = dict(model.named_parameters())
    w = {n: p.data.astype(np.float64) for n, p in params.items()}
    first = {n: -w[n] * g for n, g in grads.items()}
    second = {n: 0.5 * f * w[n] ** 2 for n, f in fisher.items()}
    return Expansion({layer.name: _per_group(layer, first) for layer in layers},
                     {layer.name: _per_group(layer, second) for layer in layers})
