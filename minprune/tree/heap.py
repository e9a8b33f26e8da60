"""An indexed binary min-heap of node ids for the cost-complexity path: smaller key first, then
the lower node id. ``pos[node]`` is the node's place in the heap (-1 when absent), so a node's
key can change in place as well as be popped."""
from __future__ import annotations

from ..jit import njit


@njit(cache=True)
def before(key, a, b):
    """Heap order: smaller key first, then the lower node id (scikit-learn's tie rule)."""
    return key[a] < key[b] or (key[a] == key[b] and a < b)


@njit(cache=True)
def sift(heap, pos, key, i, size):
    """Restore the heap property around position i after its key changed (up, then down)."""
    while i > 0:
        up = (i - 1) // 2
        if not before(key, heap[i], heap[up]):
            break
        heap[i], heap[up] = heap[up], heap[i]
        pos[heap[i]], pos[heap[up]] = i, up
        i = up
    sift_down(heap, pos, key, i, size)


@njit(cache=True)
def sift_down(heap, pos, key, i, size):
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and before(key, heap[c + 1], heap[c]):
            c += 1
        if not before(key, heap[c], heap[i]):
            break
        heap[i], heap[c] = heap[c], heap[i]
        pos[heap[i]], pos[heap[c]] = i, c
        i = c


@njit(cache=True)
def pop(heap, pos, key, size):
    """Remove and return the first node; the heap then holds ``size - 1`` nodes."""
    first = heap[0]
    size -= 1
    heap[0] = heap[size]
    pos[heap[0]] = 0
    pos[first] = -1
    sift_down(heap, pos, key, 0, size)
    return first
