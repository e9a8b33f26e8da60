"""From scores to keep masks: local, global or row scope, exact counts, the tie rule, ``min_keep``.

The rules, in one place:
- ``sparsity`` is the fraction of the scope's groups (weights, units or filters) that are
  pruned *afterwards*, counting earlier pruning; what was pruned stays pruned (its score is
  taken as -inf, so it is counted first).
- The count is exact: ``round(sparsity * n)`` with Python's ``round`` (half to even), as
  ``torch.nn.utils.prune`` computes it.
- Among equal scores the lower flat index is pruned first (a stable sort).
- ``min_keep`` groups (default 1) survive in every layer, in both scopes; in global scope the
  layer that reaches its limit is skipped and the next-lowest score elsewhere is taken, so the
  total stays exact whenever it is reachable. A stage of residual blocks (granularity
  "block") may lose them all: the shortcuts remain.

Row scope (weights and N:M only) prunes the same fraction of every output row of every layer -
a Linear's row, a Conv2d's filter (Wanda's comparison group, Sun et al. 2023): the count is
exact per row, ``min_keep`` weights survive in each row.

N:M granularity first prunes, in every group of M, all but the N highest scores (the count
then being at least that many); the rest of the selection proceeds as for weights.

Global scope ranks raw scores for weights, N:M and blocks. For units and filters the scores of
each layer are first divided by their L2 norm over the layer (Molchanov et al. 2017): group
scores grow with a layer's fan-in and group size (a unit of a 784-input layer sums 784 weights,
one of a 100-input layer 100), so raw scores would always empty the narrowest layers first;
after normalisation each layer's scores live on the same scale and the ranking compares
relative importance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import fraction, integer, one_of
from . import patterns
from .groups import prunable_layers
from .patterns import nm_forced

SCOPES = ("local", "global", "row")


@dataclass
class Scores:
    """Scores per layer (``values[name]``), with the layers they belong to."""
    criterion: str
    granularity: str
    layers: list
    values: dict

    @classmethod
    def given(cls, model, values, granularity="weight"):
        """Scores of your own (as ``torch.nn.utils.prune``'s ``importance_scores=``): ``values``
        maps each prunable layer's name (``prune.prunable_layers``) to an array of the shape
        a criterion gives it - the weight's shape for "weight" and N:M, (groups,) for "unit"
        and "filter", and for "block:RxC" the weight's shape (reduced to one score per block
        by its L1 norm) or the block grid's."""
        layers = prunable_layers(model, granularity)
        names = [layer.name for layer in layers]
        if set(values) != set(names):
            raise ValueError(f"scores must give an array for each prunable layer "
                             f"{names} at granularity {granularity!r}, got {sorted(values)}")
        pattern = patterns.parse(granularity)
        out = {}
        for layer in layers:
            v = np.asarray(values[layer.name], dtype=np.float64)
            want = ((layer.n_groups,) if layer.granularity in ("unit", "filter", "block")
                    else layer.weight.shape)
            if pattern is not None and pattern.kind == "block":
                want = patterns.block_grid(layer.weight.shape, pattern)
                if v.shape == layer.weight.shape:
                    v = patterns.block_scores(v, pattern, 1)
            if v.shape != tuple(want):
                raise ValueError(f"scores[{layer.name!r}] must have shape {tuple(want)} at "
                                 f"granularity {granularity!r}, got {v.shape}")
            out[layer.name] = v
        return cls("given", granularity, layers, out)


@dataclass
class Selection:
    """Keep arrays per layer (True = keep), plus what a trace needs to say about them."""
    granularity: str
    layers: list
    keep: dict          # layer name -> bool array of the layer's score shape
    threshold: dict     # layer name -> highest pruned (normalised) score, or None
    ties: dict          # layer name -> how many scores equal that threshold
    newly_pruned: dict  # layer name -> groups pruned by this selection


def exponential_levels(sparsity, steps):
    """The sparsity after each of ``steps`` rounds that each prune the same fraction of the
    weights still there: s_i = 1 - (1 - sparsity)^(i / steps), ending exactly at ``sparsity``."""
    fraction("sparsity", sparsity)
    integer("steps", steps, 1)
    return [1 - (1 - sparsity) ** (i / steps) for i in range(1, steps)] + [sparsity]


def _check(sparsity, scope, min_keep):
    fraction("sparsity", sparsity)
    one_of("scope", scope, SCOPES)
    integer("min_keep", min_keep, 0)


def check_row_scope(granularity):
    """Refuse a granularity that scope "row" cannot select (only weights and N:M can)."""
    pattern = patterns.parse(granularity)
    if granularity != "weight" and (pattern is None or pattern.kind != "nm"):
        raise ValueError(f"scope 'row' prunes weights or N:M patterns row by row, not "
                         f"{granularity!r}; use scope 'local' or 'global'")


def _lowest(s, gone, sparsity, min_keep):
    """True = pruned: ``round(sparsity * n)`` of ``s`` (at least what is ``gone``), the lowest
    first, ``min_keep`` kept."""
    n = s.size
    count = min(round(sparsity * n), n - min_keep) if n > min_keep else 0
    count = max(count, int(gone.sum()))               # pruned stays pruned
    pruned = np.zeros(n, dtype=bool)
    pruned[_stable_order(s, gone)[:count]] = True
    return pruned


def _by_row(s, gone, shape, sparsity, min_keep):
    """``_lowest`` in every output row (the first axis of ``shape``)."""
    rows = len(s) // shape[0]
    s, gone = s.reshape(shape[0], rows), gone.reshape(shape[0], rows)
    return np.concatenate([_lowest(s[r], gone[r], sparsity, min_keep) for r in range(len(s))])


def _stable_order(values, gone):
    """``np.argsort(np.where(gone, -inf, values), kind="stable")``, sorting only the entries
    not gone (they are few after many rounds of pruning): the gone ones first, by index."""
    alive = np.flatnonzero(~gone)
    return np.concatenate([np.flatnonzero(gone),
                           alive[np.argsort(values[alive], kind="stable")]])


def _prune_lowest(order, layer_of, count, limit):
    """Walk ``order`` (lowest first), pruning until ``count``, at most ``limit[l]`` per layer."""
    pruned = np.zeros(len(order), dtype=bool)
    if np.all(np.bincount(layer_of[order[:count]], minlength=len(limit)) <= limit):
        pruned[order[:count]] = True                    # the common case: no layer at its limit
        return pruned
    taken = np.zeros(len(limit), dtype=np.int64)
    n = 0
    for i in order:
        if n == count:
            break
        layer = layer_of[i]
        if taken[layer] < limit[layer]:
            pruned[i] = True
            taken[layer] += 1
            n += 1
    return pruned


def select(scores, sparsity, scope="local", min_keep=1, *, model=None, granularity="weight"):
    """Choose the groups to prune so that ``sparsity`` of the scope is pruned.

    scores : a ``Scores`` from ``prune.scores``, or plain arrays {layer name: array} of your
        own scores for ``model`` at ``granularity`` (``Scores.given`` says what shapes).
    Returns a ``Selection`` whose ``keep[layer]`` is True for the survivors.
    """
    _check(sparsity, scope, min_keep)
    if not isinstance(scores, Scores):
        if model is None or not hasattr(scores, "keys"):
            raise TypeError(f"scores must be a prune.Scores, or a dict of arrays by layer name "
                            f"together with model=; got {type(scores).__name__}"
                            f"{'' if model is not None else ' and no model'}")
        scores = Scores.given(model, scores, granularity)
    layers = scores.layers
    flat, already, force, layer_of = [], [], [], []
    for li, layer in enumerate(layers):
        s = np.asarray(scores.values[layer.name], dtype=np.float64).ravel()
        if scope == "global" and layer.granularity in ("unit", "filter"):
            norm = np.linalg.norm(s)
            s = s / norm if norm > 0 else s
        flat.append(s)
        was = layer.pruned_groups().ravel()
        already.append(was)
        pattern = layer.pattern
        if pattern is not None and pattern.kind == "nm":        # the pattern's own pruning
            if sparsity < pattern.min_sparsity - 1e-12:
                raise ValueError(f"granularity {pattern.name!r} prunes at least "
                                 f"{pattern.min_sparsity:.0%} of every weight; sparsity must "
                                 f"be >= {pattern.min_sparsity:g}, got {sparsity!r}")
            forced = nm_forced(np.reshape(s, layer.weight.shape),
                               np.reshape(was, layer.weight.shape), pattern).ravel()
            force.append(forced & ~was)
        else:
            force.append(np.zeros(s.size, dtype=bool))
        layer_of.append(np.full(s.size, li))
    keep, threshold, ties, newly = {}, {}, {}, {}

    def record(li, s, was, pruned):
        layer = layers[li]
        keep[layer.name] = (~pruned).reshape(np.shape(scores.values[layer.name]))
        fresh = pruned & ~was
        newly[layer.name] = int(fresh.sum())
        if fresh.any():
            t = s[fresh].max()
            threshold[layer.name] = float(t)
            ties[layer.name] = int((s[~was] == t).sum())
        else:
            threshold[layer.name], ties[layer.name] = None, 0

    if scope == "row":
        check_row_scope(scores.granularity)
    # a stage of residual blocks may lose every block: their shortcuts still carry the signal
    keeps = [0 if layer.granularity == "block" else min_keep for layer in layers]
    if scope in ("local", "row"):
        for li, (s, was, forced) in enumerate(zip(flat, already, force)):
            pruned = (_lowest(s, was | forced, sparsity, keeps[li]) if scope == "local" else
                      _by_row(s, was | forced, layers[li].weight.shape, sparsity, min_keep))
            record(li, s, was, pruned)
    else:
        s_all = np.concatenate(flat)
        was_all = np.concatenate(already)
        gone = was_all | np.concatenate(force)
        layer_all = np.concatenate(layer_of)
        count = max(round(sparsity * s_all.size), int(gone.sum()))
        limit = np.array([max(f.size - k, 0) for f, k in zip(flat, keeps)])
        limit = np.maximum(limit, [int(w.sum()) + int(f.sum())
                                   for w, f in zip(already, force)])
        order = _stable_order(s_all, gone)
        pruned_all = _prune_lowest(order, layer_all, count, limit)
        start = 0
        for li, s in enumerate(flat):
            stop = start + s.size
            record(li, s, was_all[start:stop], pruned_all[start:stop])
            start = stop
    return Selection(scores.granularity, layers, keep, threshold, ties, newly)
