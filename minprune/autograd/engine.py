"""The only graph walk: iterative topological order, gradient accumulation, un-broadcasting."""
from __future__ import annotations

import numpy as np


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the adjoint of NumPy broadcasting.

    Broadcasting copies a value along new leading axes and along axes of length 1, so the
    gradient of each copy flows back to the one original: sum over those axes.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def topological_order(root):
    """Nodes reachable from ``root``, every node after all of its parents (iterative DFS)."""
    order, seen = [], {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent.requires_grad and id(parent) not in seen:
                seen.add(id(parent))
                stack.append((parent, iter(parent.parents)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def backward(root, grad=None):
    """Propagate d(root)/d(node) to every leaf that requires a gradient.

    Interior gradients live only for the walk; leaves accumulate into ``.grad`` (as in PyTorch,
    so two ``backward`` calls add up until ``zero_grad``).
    """
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() needs a gradient argument for a non-scalar output of shape "
                f"{root.shape}; pass grad=np.ones(shape) or reduce it with .sum() first")
        grad = np.ones_like(root.data)
    else:
        grad = np.asarray(grad, dtype=root.data.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"grad has shape {grad.shape}, expected the output's shape "
                             f"{root.shape}")
    grads = {id(root): grad}
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.backward_fn is None:              # a leaf: keep what reached it
            node.accumulate(g)
            continue
        given = set()
        for parent, pg in zip(node.parents, node.backward_fn(g)):
            if pg is None or not parent.requires_grad:
                continue
            pg = unbroadcast(pg, parent.shape)
            if id(pg) in given:                   # one array handed to two parents (a + b):
                pg = pg.copy(order="K")           # each must own its gradient (same layout)
            given.add(id(pg))
            key = id(parent)
            grads[key] = pg if key not in grads else grads[key] + pg
