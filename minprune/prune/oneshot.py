"""Pruning a trained model without retraining, layer by layer: each Linear and Conv2d in turn,
from the calibration inputs it receives in the model as pruned so far (the sequential scheme
of SparseGPT and Wanda), by one of ``METHODS``.

>>> trace = prune.oneshot.prune_posttrain(model, 0.5, "sparsegpt", X_calibration)

A failure midway leaves the model as it was (snapshot and restore).
"""
from __future__ import annotations

import time

import numpy as np

from ..autograd.conv import im2col
from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.module import eval_mode
from . import patterns
from .calibration import batches
from .masks import restore, snapshot
from .posttrain import Hessian, layer_error, reconstruct, sparsegpt, wanda_scores
from ..nn.walk import forward_visiting

METHODS = {
    "magnitude": "|w|, the same fraction of every output row, no update",
    "wanda": "|w| * ||x_j||_2 (Sun et al. 2023), the same fraction of every output row",
    "magnitude+reconstruct": "the magnitude mask, then the kept weights refitted by least "
                             "squares to the dense layer's outputs",
    "sparsegpt": "OBS row by row with a shared Hessian, masks chosen per block, errors "
                 "compensated (Frantar & Alistarh 2023)",
}


def wanda(model, layers, data, *, p=1, rng=None, batch_size=256):
    """The registry's "wanda": |W_ij| * ||X_j||_2 for every weight of ``layers``, the input
    norms from one pass of the calibration inputs through the model as it is (not layer by
    layer as ``prune_posttrain`` does); selected with any scope or as N:M like every score."""
    wanted = {layer.name: layer for layer in layers}
    sq = {}

    def visit(name, module, h):
        if name in wanted:
            for g, x in enumerate(_group_inputs(module, h.data)):
                x = x.astype(np.float64)
                sq[name, g] = sq.get((name, g), 0.0) + np.einsum("ij,ij->j", x, x)
    with eval_mode(model), no_grad():
        for xb, _ in batches(data, batch_size):
            forward_visiting(model, Tensor(np.asarray(xb, dtype=np.float32)), visit)
    out = {}
    for name, layer in wanted.items():
        W = patterns.as_matrix(layer.weight.data.astype(np.float64))
        rows = _group_rows(layer.module)
        scores = np.vstack([wanda_scores(W[r], np.sqrt(sq[name, g]))
                            for g, r in enumerate(rows)])
        out[name] = patterns.as_weight(scores, layer.weight.shape)
    return out


def no_scores(model, layers, data, *, p=1, rng=None, batch_size=256):
    """The registry's "sparsegpt" has no scores: ``prune.prune`` runs ``prune_posttrain``."""
    raise ValueError("criterion 'sparsegpt' has no scores; prune with prune.prune or "
                     "prune.oneshot.prune_posttrain")


def _group_rows(module):
    """The weight rows of each group of the layer (one group but for a grouped Conv2d)."""
    groups = getattr(module, "groups", 1)
    per = module.weight.shape[0] // groups
    return [slice(g * per, (g + 1) * per) for g in range(groups)]


def _group_inputs(module, h):
    """The rows each group of the layer multiplies its weight rows with: the inputs of a
    Linear, the im2col receptive fields (kh, kw, C) of a Conv2d - for a grouped convolution,
    one matrix per group, of that group's channels."""
    if not isinstance(module, L.Conv2d):
        return [h.reshape(len(h), -1)]
    k = module.kernel_size
    cols = im2col(h, k, k, module.stride, module.padding)[0]
    if module.groups == 1:
        return [cols]
    fields = cols.reshape(len(cols), k * k, module.groups, -1)
    return [fields[:, :, g, :].reshape(len(cols), -1) for g in range(module.groups)]


def _hessians(module, h, batch_size):
    """One ``Hessian`` per group of the layer, from its inputs ``h``, batch by batch."""
    hessians = None
    for i in range(0, len(h), batch_size):
        parts = _group_inputs(module, h[i:i + batch_size])
        if hessians is None:
            hessians = [Hessian(x.shape[1]) for x in parts]
        for hessian, x in zip(hessians, parts):
            hessian.add(x)
    return hessians


def _through(model, X, visit, batch_size):
    """Run the calibration inputs through ``model`` leaf by leaf, ``visit(name, layer, h)``
    at each Linear and Conv2d before it runs (with every sample's input)."""
    def apply(name, module, h):
        if isinstance(module, (L.Linear, L.Conv2d)):
            visit(name, module, h)

    def run(module, h):
        return np.concatenate([module(Tensor(h[i:i + batch_size])).data
                               for i in range(0, len(h), batch_size)])
    forward_visiting(model, np.asarray(X, dtype=np.float32), apply, run=run)


def _row_mask(score, sparsity, pattern):
    """True = pruned: the lowest ``sparsity`` of every row, or N of every M columns."""
    rows, columns = score.shape
    mask = np.zeros(score.shape, dtype=bool)
    if pattern is not None:                # a short last group: the missing count as pruned
        n, m = pattern
        padded = np.full((rows, -(-columns // m) * m), -np.inf)
        padded[:, :columns] = score
        groups = padded.reshape(rows, -1, m)
        lowest = np.argsort(groups, axis=2, kind="stable")[:, :, :n]
        out = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(out, lowest, True, axis=2)
        return out.reshape(rows, -1)[:, :columns]
    k = int(round(sparsity * columns))
    np.put_along_axis(mask, np.argsort(score, axis=1, kind="stable")[:, :k], True, axis=1)
    return mask


def _prune_matrix(W, hessian, method, sparsity, pattern, blocksize, percdamp):
    """(new weight matrix, mask) of one layer."""
    H = hessian.value()
    if method == "sparsegpt":
        new, _ = sparsegpt(W, H, sparsity, pattern, blocksize, percdamp)
        return new, new == 0
    score = wanda_scores(W, hessian.input_norms()) if method == "wanda" else np.abs(W)
    mask = _row_mask(score, sparsity, pattern)
    if method == "magnitude+reconstruct":
        return reconstruct(W, mask, H, percdamp), mask
    return np.where(mask, 0.0, W), mask


def _check(sparsity, method, X, pattern, blocksize):
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float)) \
            or not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    if X is None or len(X) == 0:
        raise ValueError(f"method {method!r} needs calibration inputs: pass data=X (held out "
                         f"from training with data.calibration_split, never the test set)")
    if method == "sparsegpt" and pattern is not None and blocksize % pattern[1]:
        raise ValueError(f"blocksize must be a multiple of M = {pattern[1]} for the pattern "
                         f"{pattern[0]}:{pattern[1]}, got {blocksize}")


def prune_posttrain(model, sparsity, method="sparsegpt", data=None, *, granularity="weight",
                    blocksize=128, percdamp=0.01, batch_size=256):
    """Prune every Linear and Conv2d of ``model`` (through its blocks) to ``sparsity`` (or to
    ``granularity`` = "N:M"), in order, without retraining; ``data``: calibration inputs X (or
    (X, y): y is not used). Returns the trace: per layer the calibration samples, the output
    error of the dense weights with the chosen mask before any update and after the method's
    update, and the seconds it took."""
    X = data[0] if isinstance(data, tuple) else data
    pattern = patterns.parse(granularity) if granularity != "weight" else None
    if granularity != "weight" and (pattern is None or pattern.kind != "nm"):
        raise ValueError(f"granularity must be 'weight' or an N:M pattern such as '2:4', got "
                         f"{granularity!r}")
    pattern = None if pattern is None else (pattern.n, pattern.m)
    _check(sparsity, method, X, pattern, blocksize)
    saved, trace = snapshot(model), []
    try:
        with eval_mode(model), no_grad():
            _through(model, X, lambda name, module, h: trace.append(_prune_layer(
                name, module, h, method, sparsity, pattern, blocksize, percdamp, batch_size)),
                batch_size)
    except BaseException:
        restore(model, saved)
        raise
    return trace


def refit(model, data, dense, *, percdamp=0.01, batch_size=256):
    """Refit the kept weights of every masked Linear and Conv2d of ``model``, in order, by
    least squares to the outputs the layer had before pruning (``dense``: a ``snapshot``
    taken then) on the calibration inputs it receives in the model refitted so far; what is
    pruned stays zero. "magnitude + reconstruction", after any criterion. Returns the trace
    rows as ``prune_posttrain`` does; a failure midway leaves the model as it was."""
    X = data[0] if isinstance(data, tuple) else data
    if X is None or len(X) == 0:
        raise ValueError("reconstruction needs calibration inputs: pass data=X (held out from "
                         "training with data.calibration_split, never the test set)")
    saved, trace = snapshot(model), []
    try:
        def visit(name, module, h):
            if module.weight.mask is not None:
                trace.append(_refit_layer(name, module, h, dense, percdamp, batch_size))
        with eval_mode(model), no_grad():
            _through(model, X, visit, batch_size)
    except BaseException:
        restore(model, saved)
        raise
    return trace


def _refit_layer(name, module, h, dense, percdamp, batch_size):
    start = time.perf_counter()
    w = module.weight
    W = patterns.as_matrix(dense.state[f"{name}.weight"]).astype(np.float64)
    mask = ~patterns.as_matrix(w.mask)
    hessians = _hessians(module, h, batch_size)
    new = np.zeros_like(W)
    for rows, hessian in zip(_group_rows(module), hessians):
        new[rows] = reconstruct(W[rows], mask[rows], hessian.value(), percdamp)
    w.data[...] = patterns.as_weight(new, w.shape) * w.mask
    return _trace_row(name, "reconstruct", module, hessians, W, new, mask, start)


def _prune_layer(name, module, h, method, sparsity, pattern, blocksize, percdamp, batch_size):
    start = time.perf_counter()
    w = module.weight
    W = patterns.as_matrix(w.data).astype(np.float64)
    hessians = _hessians(module, h, batch_size)
    new, mask = np.zeros_like(W), np.zeros(W.shape, dtype=bool)
    for rows, hessian in zip(_group_rows(module), hessians):
        new[rows], mask[rows] = _prune_matrix(W[rows], hessian, method, sparsity, pattern,
                                              blocksize, percdamp)
    if w.mask is not None:                            # what was pruned stays pruned
        mask |= ~patterns.as_matrix(w.mask)
        new = np.where(mask, 0.0, new)
    keep = patterns.as_weight(~mask, w.shape)
    w.data[...] = patterns.as_weight(new, w.shape)
    w.mask = np.ascontiguousarray(keep)
    w.data *= w.mask
    return _trace_row(name, method, module, hessians, W, new, mask, start)


def _trace_row(name, method, module, hessians, W, new, mask, start):
    """A layer's trace row; its errors summed over the layer's groups."""
    rows = _group_rows(module)
    error = {"error_masked": 0.0, "error_after": 0.0}
    for r, hessian in zip(rows, hessians):
        H = hessian.value()
        error["error_masked"] += layer_error(W[r], np.where(mask[r], 0.0, W[r]), H)
        error["error_after"] += layer_error(W[r], new[r], H)
    return {"layer": name, "method": method, "samples": hessians[0].n,
            "sparsity": float(mask.mean()), **error, "seconds": time.perf_counter() - start}
