"""The two sparsity patterns hardware and libraries exploit, as pruning granularities.

``"N:M"`` (e.g. ``"2:4"``): at most N non-zero weights in every M consecutive weights of a row,
as NVIDIA's sparse tensor cores and ``torch.sparse.to_sparse_semi_structured`` use. Every weight
is scored; in each group the M - N lowest are pruned, then - when the sparsity asked for is
higher than the pattern's 1 - N/M - the lowest of the rest, in local or global scope.

``"block:RxC"`` (e.g. ``"block:1x4"``, ``"block:4x1"``): R x C blocks of weights pruned
together, as Intel's and NNI's block pruning; a block is scored by the Lp norm of its weights'
scores (for magnitude, the Lp norm of the block), and blocks are selected like any group.

Rows and columns are those of the weight as a matrix: a Linear weight (out, in) as it is; a
Conv2d weight (out, in, kh, kw) as (out, kh·kw·in) in channels-last order (kh, kw, c), the
order of minprune's im2col - so an N:M group runs along input channels, as NVIDIA's ASP groups
convolution weights. Groups and blocks at the right or bottom edge may be partial.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_NM = re.compile(r"^(\d+):(\d+)$")
_BLOCK = re.compile(r"^block:(\d+)x(\d+)$")


@dataclass(frozen=True)
class Pattern:
    """N:M: at most ``n`` non-zero weights in every ``m`` consecutive weights of a row."""
    n: int
    m: int
    kind = "nm"

    @property
    def name(self):
        return f"{self.n}:{self.m}"

    @property
    def tile(self):
        """(rows, columns) of the unit the pattern works on: a group of M in one row."""
        return 1, self.m

    @property
    def min_sparsity(self):
        """The sparsity the pattern itself imposes: 1 - N/M."""
        return 1 - self.n / self.m


@dataclass(frozen=True)
class Block:
    """Blocks of ``rows`` x ``cols`` weights, kept or pruned whole."""
    rows: int
    cols: int
    kind = "block"

    @property
    def name(self):
        return f"block:{self.rows}x{self.cols}"

    @property
    def tile(self):
        return self.rows, self.cols

    @property
    def min_sparsity(self):
        return 0.0


def parse(granularity):
    """The ``Pattern`` (N:M) or ``Block`` of a granularity string, or None for "weight",
    "unit", "filter" and anything else (which the caller refuses)."""
    if not isinstance(granularity, str):
        return None
    m = _NM.match(granularity)
    if m:
        n, size = int(m.group(1)), int(m.group(2))
        if not 1 <= n < size:
            raise ValueError(f"granularity {granularity!r}: N:M needs 1 <= N < M, got N={n}, "
                             f"M={size}")
        return Pattern(n, size)
    m = _BLOCK.match(granularity)
    if m:
        r, c = int(m.group(1)), int(m.group(2))
        if r < 1 or c < 1 or r * c < 2:
            raise ValueError(f"granularity {granularity!r}: a block needs R, C >= 1 and at "
                             f"least 2 weights, got {r}x{c}")
        return Block(r, c)
    return None


def as_matrix(w):
    """A weight as its (rows, columns) matrix: conv weights channels-last (see the module)."""
    w = np.asarray(w)
    return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1) if w.ndim == 4 else w


def as_weight(m, shape):
    """Back from ``as_matrix`` to a weight of ``shape``."""
    if len(shape) == 4:
        out, c, kh, kw = shape
        return np.asarray(m).reshape(out, kh, kw, c).transpose(0, 3, 1, 2)
    return np.asarray(m).reshape(shape)


def block_grid(shape, pattern):
    """(block rows, block columns) covering a weight of ``shape``."""
    rows, cols = as_matrix(np.empty(shape, dtype=np.bool_)).shape
    r, c = pattern.tile
    return -(-rows // r), -(-cols // c)


def _padded(m, pattern, fill):
    """``m`` padded at the bottom and right to whole blocks (or whole groups)."""
    rows, cols = m.shape
    r, c = pattern.tile
    out = np.full((-(-rows // r) * r, -(-cols // c) * c), fill, dtype=m.dtype)
    out[:rows, :cols] = m
    return out


def _grouped(padded, size):
    """(rows, groups, size) view of a matrix padded to whole groups."""
    return padded.reshape(padded.shape[0], padded.shape[1] // size, size)


def block_scores(weight_scores, pattern, p=1):
    """The Lp norm of each block's scores: (block rows, block columns)."""
    m = _padded(np.abs(as_matrix(weight_scores)).astype(np.float64), pattern, 0.0)
    r, c = pattern.tile
    blocks = m.reshape(m.shape[0] // r, r, m.shape[1] // c, c)
    return np.linalg.norm(blocks.transpose(0, 2, 1, 3).reshape(*blocks.shape[::2], -1),
                          ord=p, axis=-1)


def expand_blocks(keep_blocks, shape, pattern):
    """The weight mask of ``shape`` that keeps the kept blocks."""
    rows, cols = as_matrix(np.empty(shape, dtype=np.bool_)).shape
    r, c = pattern.tile
    full = np.repeat(np.repeat(np.asarray(keep_blocks, dtype=bool), r, axis=0), c,
                     axis=1)[:rows, :cols]
    return as_weight(full, shape)


def blocks_pruned(mask, shape, pattern):
    """(block rows, block columns): True where every weight of the block is masked."""
    if mask is None:
        return np.zeros(block_grid(shape, pattern), dtype=bool)
    m = _padded(~as_matrix(mask), pattern, True)
    r, c = pattern.tile
    return m.reshape(m.shape[0] // r, r, m.shape[1] // c, c).all(axis=(1, 3))


def nm_forced(weight_scores, pruned, pattern):
    """The weights N:M forces out: in every group of M consecutive weights of a row, all but
    the N highest-scoring (already pruned weights count as lowest; among equal scores the
    earlier weight goes first, the rule of every selection). Returns a bool array of the
    weight's shape."""
    n, size = pattern.n, pattern.m
    s = as_matrix(np.where(pruned, -np.inf, weight_scores)).astype(np.float64)
    rows, cols = s.shape
    groups = _grouped(_padded(s, pattern, np.inf), size)           # padding sorts last
    real = _grouped(_padded(np.ones((rows, cols), dtype=bool), pattern, False), size)
    excess = np.maximum(real.sum(axis=2) - n, 0)                    # how many must go
    rank = np.empty(groups.shape, dtype=np.int64)
    np.put_along_axis(rank, np.argsort(groups, axis=2, kind="stable"),
                      np.arange(size)[None, None, :], axis=2)
    forced = (rank < excess[:, :, None]).reshape(rows, groups.shape[1] * size)[:, :cols]
    return as_weight(forced, np.shape(weight_scores))


def satisfies(mask, pattern):
    """Whether a weight mask (None: dense) obeys the pattern: at most N kept in every group of
    M, or whole blocks kept or pruned."""
    if mask is None:
        return False
    m = as_matrix(mask)
    if pattern.kind == "nm":
        groups = _grouped(_padded(m, pattern, False), pattern.m)
        return bool((groups.sum(axis=2) <= pattern.n).all())
    padded = _padded(m, pattern, False)
    r, c = pattern.tile
    blocks = padded.reshape(padded.shape[0] // r, r, padded.shape[1] // c, c)
    edge = _padded(np.ones_like(m), pattern, False).reshape(blocks.shape)
    kept = blocks.sum(axis=(1, 3))
    return bool(((kept == 0) | (kept == edge.sum(axis=(1, 3)))).all())
