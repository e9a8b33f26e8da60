"""The best-first frontier: a max-heap of node ids by improvement, kept exactly as C++'s
``std::push_heap`` / ``std::pop_heap`` (libstdc++) keep it.

scikit-learn's best-first builder stores its frontier in a ``std::vector`` with those two calls
and a strict "less improvement" comparison, so when several nodes have the same improvement the
one expanded next is decided by where the heap algorithms happened to place them. Reproducing
the algorithms move for move reproduces that choice, and with it the tree.
"""
from __future__ import annotations

from ..jit import njit


@njit(cache=True)
def _sift_up(heap, key, hole, top, node):
    """libstdc++'s ``__push_heap``: move ``node`` up from ``hole`` while its parent is worse."""
    parent = (hole - 1) // 2
    while hole > top and key[heap[parent]] < key[node]:
        heap[hole] = heap[parent]
        hole = parent
        parent = (hole - 1) // 2
    heap[hole] = node


@njit(cache=True)
def push(heap, key, node, size):
    """``frontier.push_back(node); std::push_heap(...)``; returns the new size."""
    heap[size] = node
    _sift_up(heap, key, size, 0, node)
    return size + 1


@njit(cache=True)
def pop(heap, key, size):
    """``std::pop_heap(...); frontier.pop_back()``: remove and return the best node (the heap
    then holds ``size - 1`` nodes). libstdc++'s ``__adjust_heap``: the hole left at the top
    walks down to a leaf, taking the better child (the right one unless the left is strictly
    better), then the former last element is sifted up from there."""
    best = heap[0]
    n = size - 1
    if n <= 0:
        return best
    value = heap[n]
    hole, child = 0, 0
    while child < (n - 1) // 2:
        child = 2 * (child + 1)
        if key[heap[child]] < key[heap[child - 1]]:
            child -= 1
        heap[hole] = heap[child]
        hole = child
    if n % 2 == 0 and child == (n - 2) // 2:
        child = 2 * (child + 1)
        heap[hole] = heap[child - 1]
        hole = child - 1
    _sift_up(heap, key, hole, 0, value)
    return best
