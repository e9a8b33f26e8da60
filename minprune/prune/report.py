"""Reports: the per-layer summary with FLOPs, and the trace of pruning events."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.module import eval_mode
from ..nn.walk import forward_visiting
from ..tables import table


def summary(model, input_shape=(1, 1, 28, 28)):
    """One row per Linear / Conv2d layer, and a total row.

    Columns: layer, type, shape, params (weights + biases), nonzeros, sparsity (of the weight),
    dense FLOPs and effective FLOPs per example. FLOPs are counted as ShrinkBench counts them:
    multiply-adds of Linear (in·out) and Conv2d (weights · output positions) layers only;
    effective FLOPs count only non-zero weights, which for structured pruning equals the
    FLOPs of the physically compacted model (the consumer's inputs are masked too).
    """
    positions = _output_positions(model, input_shape)
    rows = []
    for name, m in model.named_modules():
        if not L.is_weighted(m):
            continue
        w = m.weight.data
        nonzero_w = int(np.count_nonzero(w))
        params = w.size + (m.bias.size if m.bias is not None else 0)
        nonzeros = nonzero_w + (int(np.count_nonzero(m.bias.data)) if m.bias is not None else 0)
        pos = positions.get(name, 1)
        rows.append({"layer": name, "type": type(m).__name__, "shape": "x".join(map(str, w.shape)),
                     "params": params, "nonzeros": nonzeros, "sparsity": 1 - nonzero_w / w.size,
                     "flops": w.size * pos, "effective_flops": nonzero_w * pos})
    total_w = sum(m.weight.size for _, m in model.named_modules()
                  if L.is_weighted(m))
    nonzero_total = sum(int(np.count_nonzero(m.weight.data)) for _, m in model.named_modules()
                        if L.is_weighted(m))
    rows.append({"layer": "total", "type": "", "shape": "",
                 "params": sum(r["params"] for r in rows),
                 "nonzeros": sum(r["nonzeros"] for r in rows),
                 "sparsity": 1 - nonzero_total / total_w if total_w else 0.0,
                 "flops": sum(r["flops"] for r in rows),
                 "effective_flops": sum(r["effective_flops"] for r in rows)})
    return Summary(rows)


class Summary(list):
    """A list of row dicts that prints as a table."""

    COLUMNS = [("layer", "layer", "{}"), ("type", "type", "{}"), ("shape", "shape", "{}"),
               ("params", "params", "{:,}"), ("nonzeros", "nonzeros", "{:,}"),
               ("sparsity", "sparsity", "{:.1%}"), ("flops", "dense FLOPs", "{:,}"),
               ("effective_flops", "effective FLOPs", "{:,}")]

    def __str__(self):
        return table(self, self.COLUMNS)


def _output_positions(model, input_shape):
    """Output positions (OH·OW; 1 for Linear) of every Linear/Conv2d, from one dummy forward
    of shape ``input_shape`` (only needed, and only run, when the model has convolutions)."""
    positions = {}
    if not any(isinstance(m, L.Conv2d) for m in model.modules()):
        return positions
    def visit(name, m, h):
        if isinstance(m, L.Conv2d):
            side = [(size + 2 * m.padding - m.kernel_size) // m.stride + 1
                    for size in h.shape[2:]]
            positions[name] = side[0] * side[1]
    with eval_mode(model), no_grad():
        forward_visiting(model, Tensor(np.zeros(input_shape, dtype=np.float32)), visit)
    return positions


class Trace(list):
    """Pruning events, one dict per (call, layer); prints as a table.

    Keys: step, layer, criterion, granularity, threshold (highest pruned score, normalised
    in global structured scope), pruned (new this event), ties (scores equal to the
    threshold), sparsity_before / sparsity_after (of the layer's weight), and loss_before,
    loss_after, accuracy_before, accuracy_after (whole model) when data was given; members
    (what each group spans: a coupled group's parameters, a stage's blocks) for networks
    with blocks.
    """

    COLUMNS = [("step", "step", "{}"), ("layer", "layer", "{}"), ("criterion", "criterion", "{}"),
               ("granularity", "granularity", "{}"), ("threshold", "threshold", "{:.4g}"),
               ("pruned", "pruned", "{:,}"), ("ties", "ties", "{}"),
               ("sparsity_before", "sparsity before", "{:.1%}"),
               ("sparsity_after", "sparsity after", "{:.1%}"),
               ("loss_before", "loss before", "{:.4f}"), ("loss_after", "loss after", "{:.4f}"),
               ("accuracy_before", "acc before", "{:.4f}"),
               ("accuracy_after", "acc after", "{:.4f}"),
               ("members", "members", "{}")]

    def __str__(self):
        columns = [c for c in self.COLUMNS if any(r.get(c[0]) is not None for r in self)]
        rows = [{**r, "members": _spans(r["members"])} if r.get("members") else r
                for r in self]
        return table(rows, columns)


def _spans(members):
    """A group's members as the layers they lie in ("0, 1, 3.body.0"), or a stage's blocks."""
    layers = []
    for name in members:
        layer = name.rsplit(".", 1)[0] if name.endswith((".weight", ".bias")) else name
        if layer not in layers:
            layers.append(layer)
    return ", ".join(layers)
