"""The batch moved between the caller's layout (N, features...) and the plan's feature-major
one (features..., N): a transposition of an (N, F) matrix, in square blocks transposed in
SIMD registers (``vec.transpose``). A Numba kernel and its NumPy twin.

NumPy copies a transposed view number by number: LeNet-300-100's 64 x 784 input took 17-20 us,
a fifth of its 90%-sparse plan at batch 64. A block of 16 x 16 float32 numbers (8 x 8
float64) is loaded as 16 registers, transposed by four rounds of interleaving pairs of them
and stored: 4-5 us for the same input. The rows and columns past the last whole block are
copied one number at a time.
"""
from __future__ import annotations

from ..jit import njit
from .. import vec


@njit(cache=True, nogil=True)
def transpose(x, out):
    """out (F, N) = x (N, F) transposed; both C-contiguous."""
    n, f = x.shape
    xf, of = x.reshape(-1), out.reshape(-1)
    lanes = vec.width(xf)
    n_blocks, f_blocks = n - n % lanes, f - f % lanes
    for r in range(0, n_blocks, lanes):
        for c in range(0, f_blocks, lanes):
            vec.transpose(xf, r * f + c, f, of, c * n + r, n)
    for r in range(n):                       # the edges: what the whole blocks leave
        first = f_blocks if r < n_blocks else 0
        for c in range(first, f):
            of[c * n + r] = xf[r * f + c]
    return out


def transpose_numpy(x, out):
    out[...] = x.T
    return out
