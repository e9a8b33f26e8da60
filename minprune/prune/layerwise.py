"""Layer-wise sensitivity analysis: prune one layer at a time to a range of sparsities, measure
what each costs, and give every layer the most it can lose within a budget (the way Han et al.
2015 chose their per-layer thresholds).

Each layer is pruned alone, with every other layer as it was, and the model is restored after
each measurement: the analysis changes nothing.
"""
from __future__ import annotations


from ..checks import fraction
from ..nn.train import evaluate
from ..tables import table
from .criteria import Scores, scores
from .masks import apply, restore, snapshot, weight_sparsity
from .select import select


class Sensitivity(list):
    """Rows ``{"layer", "sparsity", "loss", "accuracy", "drop"}`` (drop: baseline accuracy
    minus accuracy) and the unpruned model's ``baseline`` ``{"loss", "accuracy"}``."""

    def __init__(self, rows, baseline):
        super().__init__(rows)
        self.baseline = baseline

    def layers(self):
        return list(dict.fromkeys(r["layer"] for r in self))

    def curve(self, layer):
        """(sparsities, accuracies) of one layer, in the order measured."""
        rows = [r for r in self if r["layer"] == layer]
        return [r["sparsity"] for r in rows], [r["accuracy"] for r in rows]

    def budget(self, max_drop):
        """{layer: the highest measured sparsity whose accuracy drop is at most ``max_drop``,
        and at every lower measured sparsity too} (0.0 when even the lowest costs more)."""
        if not isinstance(max_drop, (int, float)) or max_drop < 0:
            raise ValueError(f"max_drop must be a non-negative number, got {max_drop!r}")
        chosen = {}
        for layer in self.layers():
            chosen[layer] = 0.0
            for r in sorted((r for r in self if r["layer"] == layer),
                            key=lambda r: r["sparsity"]):
                if r["drop"] > max_drop:
                    break
                chosen[layer] = r["sparsity"]
        return chosen

    def __str__(self):
        levels = sorted({r["sparsity"] for r in self})
        grid = [{"layer": layer, **{f"{s:.0%}": r["accuracy"] for s in levels for r in self
                                    if r["layer"] == layer and r["sparsity"] == s}}
                for layer in self.layers()]
        return (f"accuracy when only that layer is pruned (unpruned: "
                f"{self.baseline['accuracy']:.4f})\n"
                + table(grid, [("layer", "layer", "{}")]
                        + [(f"{s:.0%}", f"{s:.0%}", "{:.4f}") for s in levels]))


def _one_layer(all_scores, layer):
    return Scores(all_scores.criterion, all_scores.granularity, [layer],
                  {layer.name: all_scores.values[layer.name]})


def layer_sensitivity(model, X, y, sparsities=(0.25, 0.5, 0.75, 0.9, 0.95), *,
                      criterion="magnitude", granularity="weight", data=None, p=1, rng=None):
    """Accuracy and loss on (X, y) with each prunable layer alone pruned to each sparsity.

    X : ndarray of shape (n_samples, ...); y : labels of shape (n_samples,).
    sparsities : levels in [0, 1), the fraction of that layer's groups pruned.
    criterion, granularity, data, p, rng : as in ``prune.scores`` (scored once, up front).
    Returns a ``Sensitivity``.
    """
    for s in sparsities:
        fraction("each of sparsities", s)
    baseline = evaluate(model, X, y)
    saved = snapshot(model)
    all_scores = scores(model, criterion, granularity, data, p=p, rng=rng)
    rows = []
    for layer in all_scores.layers:
        one = _one_layer(all_scores, layer)
        for level in sparsities:
            try:
                apply(model, select(one, level, "local"))
                got = evaluate(model, X, y)
            finally:
                restore(model, saved)
            rows.append({"layer": layer.name, "sparsity": level, "loss": got["loss"],
                         "accuracy": got["accuracy"],
                         "drop": baseline["accuracy"] - got["accuracy"]})
    return Sensitivity(rows, baseline)


def prune_per_layer(model, sparsities, criterion="magnitude", granularity="weight", data=None,
                    *, p=1, rng=None):
    """Prune each layer named in ``sparsities`` ({layer name: level}) to its own level, e.g.
    ``prune_per_layer(model, result.budget(0.01))``. Returns the overall weight sparsity."""
    all_scores = scores(model, criterion, granularity, data, p=p, rng=rng)
    names = {layer.name for layer in all_scores.layers}
    unknown = sorted(set(sparsities) - names)
    if unknown:
        raise ValueError(f"sparsities names layers {unknown} that have no {granularity!r} "
                         f"groups; the prunable layers are {sorted(names)}")
    for layer in all_scores.layers:
        if layer.name in sparsities:
            apply(model, select(_one_layer(all_scores, layer), sparsities[layer.name], "local"))
    return weight_sparsity(model)
