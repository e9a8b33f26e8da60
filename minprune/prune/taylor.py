"""The two published Taylor criteria of Molchanov et al., the first-order estimate of how much
the loss changes when a group is removed.

- ``taylor`` (Molchanov et al. 2019, "Importance Estimation for Neural Network Pruning"):
  for a group S of parameters (a weight alone, or every entry of a unit or filter: its weight
  row, bias, BatchNorm scale and shift, and the next layer's input columns), the squared
  first-order term (Σ_{s∈S} g_s·w_s)² with g the gradient of one minibatch's mean loss,
  summed over the calibration minibatches.
- ``taylor_2017`` (Molchanov et al. 2017, "Pruning Convolutional Neural Networks for Resource
  Efficient Inference"): for a unit or filter, the activation a it feeds forward (the next
  layer's input for that unit or channel, after any BatchNorm, activation and pooling) and
  the gradient of the loss of each example with respect to it: the mean over examples of
  |(1/M) Σ_m a_m·∂C/∂a_m| over the M positions of the feature map (M = 1 for a unit).
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn.module import eval_mode
from .calibration import batches, gradient
from .groups import chain_only
from ..nn.train import loss_for



def taylor(model, layers, data, *, p=1, rng=None, batch_size=256):
    """Σ over minibatches of (Σ_{s∈group} g_s·w_s)², g the minibatch's mean-loss gradient."""
    params = dict(model.named_parameters())
    totals = {layer.name: np.zeros(layer.weight.shape if layer.granularity == "weight"
                                   else layer.n_groups) for layer in layers}
    with eval_mode(model):
        for xb, yb in batches(data, batch_size):
            model.zero_grad()
            loss_for(model(Tensor(xb)), yb).backward()
            for layer in layers:
                totals[layer.name] += _first_order(layer, params) ** 2
    model.zero_grad()
    return totals


def _first_order(layer, params):
    """Σ_{s∈group} g_s·w_s for every group of ``layer`` (per weight at weight granularity)."""
    if layer.granularity == "weight":
        w = layer.weight
        return w.data.astype(np.float64) * gradient(w)
    term = np.zeros(layer.n_groups)
    for m in layer.members:
        p = params[m.name]
        product = np.moveaxis(p.data.astype(np.float64) * gradient(p), m.axis, 0)
        term += product.reshape(layer.n_groups, -1).sum(axis=1)
    return term



def taylor_2017(model, layers, data, *, p=1, rng=None, batch_size=256):
    """Mean over examples of |mean over positions of a·∂C_n/∂a| for the activation a that
    each unit or filter feeds to the next layer (``C_n``: the example's own loss)."""
    if layers[0].granularity == "weight":
        raise ValueError("criterion 'taylor_2017' scores units and filters (activations), not "
                         "single weights; use granularity 'unit' or 'filter'")
    chain_only("taylor_2017", layers)
    modules = list(model)
    totals = {layer.name: np.zeros(layer.n_groups) for layer in layers}
    n = 0
    with eval_mode(model):
        for xb, yb in batches(data, batch_size):
            for layer in layers:
                consumer = int(layer.members[-1].name.split(".")[0])
                with no_grad():
                    h = Tensor(xb)
                    for module in modules[:consumer]:
                        h = module(h)
                a = Tensor(h.data, requires_grad=True)
                out = a
                for module in modules[consumer:]:
                    out = module(out)
                # the summed loss: its gradient at example n is that example's own ∂C_n/∂a_n
                (loss_for(out, yb) * len(xb)).backward()
                product = (a.data.astype(np.float64) * a.grad).reshape(len(xb), layer.n_groups,
                                                                       -1)
                totals[layer.name] += np.abs(product.mean(axis=2)).sum(axis=0)
            n += len(xb)
    model.zero_grad()
    return {name: total / n for name, total in totals.items()}
