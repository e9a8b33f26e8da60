"""Layer pruning: granularity ``"block"``, each residual block one prunable unit, removed whole.

Removing a block zeroes (masks) every parameter of its body, so the block computes its
shortcut alone - ``x`` for an identity shortcut, conv1x1-BN for a projection - exactly what the
network computes once ``compact`` has taken the block out. The blocks are grouped in *stages*
(a run of blocks at the model's top level; a block that changes the shape starts a new one):
local scope prunes the same fraction of every stage, global scope ranks every block of the
network together.

Block scores (higher = keep), named by the registry's criteria:

- ``magnitude``: the L_p norm of all the body's Linear and Conv2d weights;
- ``sensitivity``: ablation, the measured increase of the loss on calibration data when the
  block alone is removed;
- ``block_influence``: 1 - cos(x_in, x_out) between the block's input and output, averaged
  over calibration samples - the angular distance a block moves its input (Gromov et al.
  2024; Men et al. 2024's Block Influence): a block that barely turns its input does little.
  A block that changes the shape is compared with its shortcut's output instead of its input.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.blocks import Residual
from ..nn.module import Sequential, eval_mode
from .calibration import batches


@dataclass
class BlockStage:
    """One stage's blocks, as the selection sees a prunable layer: ``n_groups`` blocks,
    which are pruned, and the masks that prune them."""
    name: str                                     # the stage's first block, e.g. "3"
    blocks: list = field(default_factory=list)    # [(name, Residual)]
    granularity: str = "block"
    producers: list = None
    members: list = field(default_factory=list)
    pattern = None
    per_weight = False

    @property
    def n_groups(self):
        return len(self.blocks)

    def parameters(self, k):
        """[(name, parameter)] of block k's body."""
        name, block = self.blocks[k]
        return [(f"{name}.body.{n}", p) for n, p in block.body.named_parameters()]

    def weights(self, k):
        """The Linear and Conv2d weights of block k's body."""
        return [m.weight for m in block_layers(self.blocks[k][1]) if L.is_weighted(m)]

    def sparsity(self):
        """The fraction of the stage's Linear and Conv2d weights that are zero."""
        weights = [w.data for k in range(self.n_groups) for w in self.weights(k)]
        total = sum(w.size for w in weights)
        return 1 - sum(np.count_nonzero(w) for w in weights) / max(total, 1)

    def pruned_groups(self):
        return np.array([all(p.mask is not None and not p.mask.any()
                             for _, p in self.parameters(k)) for k in range(self.n_groups)])

    def expand(self, keep):
        masks = {}
        for k, kept in enumerate(np.asarray(keep, dtype=bool).ravel()):
            for name, p in self.parameters(k):
                masks[name] = np.full(p.shape, bool(kept))
        return masks


def block_layers(block):
    return [m for m in block.body.modules() if not isinstance(m, Sequential)]


def stages(model):
    """The model's residual blocks in stages (see the module note); ValueError when it has
    none."""
    out, current = [], None
    for i, m in enumerate(model):
        if isinstance(m, Residual):
            if current is None or not m.identity:
                current = BlockStage(str(i))
                out.append(current)
            current.blocks.append((str(i), m))
        elif not isinstance(m, (L.ReLU, L.Tanh, L.Sigmoid, L.Dropout)):
            current = None
    if not out:
        raise ValueError("granularity 'block' needs residual blocks (nn.Residual) at the "
                         "model's top level; this model has none")
    return out


def magnitude(layer, p=1):
    return np.array([np.linalg.norm(np.concatenate([w.data.astype(np.float64).ravel()
                                                    for w in layer.weights(k)]), ord=p)
                     for k in range(layer.n_groups)])


def ablation(model, layer, data, loss_on, batch_size):
    base = loss_on(model, data, batch_size)
    scores = np.zeros(layer.n_groups)
    for k in range(layer.n_groups):
        saved = [(p, p.data.copy()) for _, p in layer.parameters(k)]
        for p, _ in saved:
            p.data[...] = 0
        try:
            scores[k] = loss_on(model, data, batch_size) - base
        finally:
            for p, values in saved:
                p.data[...] = values
    return scores


def block_influence(model, layers, data, *, p=1, rng=None, batch_size=256):
    """The registry's "block_influence": 1 - cos(x_in, x_out) per block, averaged over the
    calibration samples (each sample's input and output of the block flattened); for a block
    that changes the shape, x_in is its shortcut's output - what is left once it is removed."""
    if any(not isinstance(layer, BlockStage) for layer in layers):
        raise ValueError("criterion 'block_influence' scores residual blocks; use granularity "
                         "'block'")
    where = {name: (layer.name, k) for layer in layers
             for k, (name, _) in enumerate(layer.blocks)}
    total = {layer.name: np.zeros(layer.n_groups) for layer in layers}
    seen = 0
    with eval_mode(model), no_grad():
        for xb, _ in batches(data, batch_size):
            h = Tensor(np.asarray(xb))
            for i, module in enumerate(model):
                out = module(h)
                if str(i) in where:
                    stage, k = where[str(i)]
                    a = module.branch(h).data.reshape(len(xb), -1).astype(np.float64)
                    b = out.data.reshape(len(xb), -1).astype(np.float64)
                    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
                    cos = np.where(norms > 0, (a * b).sum(axis=1) / np.where(norms > 0, norms,
                                                                              1), 1.0)
                    total[stage][k] += (1 - cos).sum()
                h = out
            seen += len(xb)
    return {name: t / seen for name, t in total.items()}


def drop_removed(model):
    """A copy's layer list with every removed block (body all masked) taken out: an identity
    block disappears, a projection block becomes its shortcut's layers; a ReLU that then
    follows another ReLU goes too (ReLU(ReLU(x)) = ReLU(x)). Returns a new Sequential."""
    kept = []
    for m in model:
        if isinstance(m, Residual) and _removed(m):
            kept.extend([] if m.identity else list(m.shortcut))
            continue
        if isinstance(m, L.ReLU) and kept and isinstance(kept[-1], L.ReLU):
            continue
        kept.append(m)
    return Sequential(*kept)


def _removed(block):
    params = list(block.body.parameters())
    return bool(params) and all(p.mask is not None and not p.mask.any() for p in params)
