"""Pruning one layer without retraining, from its calibration inputs: Wanda's scores, SparseGPT's
pruning with compensating updates, and the least-squares refit of the kept weights.

Everything here works on one weight matrix ``W`` (rows: outputs, columns: inputs; a Conv2d's
weight flattened to (out, in * kh * kw), its inputs the im2col columns) and the layer's inputs
``X`` (samples, columns), or their Hessian ``H = 2 X^T X / n`` - the Hessian of the layer's
squared reconstruction error, the same for every row because it depends on the inputs only.
That shared ``H`` is what lets Optimal Brain Surgeon run row by row at the cost of one
factorisation (Frantar & Alistarh 2022, 2023).
"""
from __future__ import annotations

import numpy as np


class Hessian:
    """``H = 2 X^T X / n`` accumulated batch by batch into float64, so that the inputs are never
    held all at once. Each batch's product is taken in the inputs' precision (float32 inputs:
    float32 products, as the authors' code takes them; float64 inputs: float64)."""

    def __init__(self, columns):
        self.H = np.zeros((columns, columns))
        self.n = 0
        self.sq = np.zeros(columns)               # the sum of each input's squares (Wanda)

    def add(self, X):
        X = np.asarray(X)
        X = X.astype(np.float64 if X.dtype == np.float64 else np.float32, copy=False)
        X = X.reshape(-1, self.H.shape[0])
        self.H += X.T @ X
        self.sq += np.einsum("ij,ij->j", X, X, dtype=np.float64)
        self.n += len(X)
        return self

    def value(self):
        if self.n == 0:
            raise ValueError("the Hessian has seen no calibration inputs; pass data")
        return 2.0 * self.H / self.n

    def input_norms(self):
        """||X_j||_2 over every sample seen, one per column (Wanda's input norms)."""
        return np.sqrt(self.sq)


def wanda_scores(W, norms):
    """Wanda (Sun et al. 2023): |W_ij| * ||X_j||_2, higher = keep."""
    return np.abs(W) * np.asarray(norms)[None, :]


def _damped(H, W, percdamp):
    """Dead inputs (never non-zero) get H_jj = 1 and their weights zero, then
    ``percdamp * mean(diag H)`` is added to the diagonal; returns (H, W) copies."""
    H, W = np.array(H, dtype=np.float64), np.array(W, dtype=np.float64)
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0
    H[np.diag_indices_from(H)] += percdamp * np.mean(np.diag(H))
    return H, W


def inverse_factor(H):
    """The upper Cholesky factor U of H^-1 (H^-1 = U^T U): row j of U, divided by U_jj, is
    what removing column j does to the columns after it once columns before j are gone.

    Computed without forming H^-1: with J the reversal of the order, J H J = M M^T (lower M)
    gives H^-1 = (J M^-1 J)^T (J M^-1 J), and J M^-1 J is upper triangular - one Cholesky
    factorisation and one triangular inverse (4x faster than inverting H and factoring it).
    """
    M = np.linalg.cholesky(H[::-1, ::-1])
    return _lower_inverse(M)[::-1, ::-1]


def _lower_inverse(M):
    """The inverse of the lower triangular ``M``, by halves: [[A, 0], [B, C]]^-1 =
    [[A^-1, 0], [-C^-1 B A^-1, C^-1]] (matrix products instead of a general inverse)."""
    n = len(M)
    if n <= 96:
        return np.linalg.inv(M)
    k = n // 2
    Ai, Ci = _lower_inverse(M[:k, :k]), _lower_inverse(M[k:, k:])
    out = np.zeros_like(M)
    out[:k, :k], out[k:, k:] = Ai, Ci
    out[k:, :k] = -Ci @ (M[k:, :k] @ Ai)
    return out


def _block_mask(W1, d, sparsity, selection):
    """Which weights of a block to prune, by w^2 / [H^-1]_jj^2 (lowest first)."""
    score = W1 ** 2 / d[None, :] ** 2
    if selection == "reference":
        # the authors' rule: the sorted score at index int(numel * sparsity) is the threshold
        # and every score <= it is pruned - one weight more than the count, ties included
        flat = np.sort(score.ravel())
        return score <= flat[int(score.size * sparsity)]
    k = int(round(score.size * sparsity))
    mask = np.zeros(score.size, dtype=bool)
    mask[np.argsort(score.ravel(), kind="stable")[:k]] = True
    return mask.reshape(score.shape)


def sparsegpt(W, H, sparsity, pattern=None, blocksize=128, percdamp=0.01,
              selection="reference"):
    """SparseGPT (Frantar & Alistarh 2023, Algorithm 1) on one layer: returns the pruned
    weights (float64; zeros where pruned) and the squared error it reports per row.

    Columns are taken in order, in blocks of ``blocksize``; each block's mask is chosen at its
    start by w^2 / [H^-1]_jj^2 (``sparsity`` of the block; with ``pattern`` = (N, M), the N
    lowest of every M consecutive columns of each row instead; in a row's short last group
    the missing columns count as pruned, as everywhere in minprune); each pruned weight's error is
    spread over the columns after it through the Cholesky factor of H^-1, within the block at
    once and onto the later blocks lazily, once per block. ``selection``: "reference" prunes
    as the authors' code does (one weight over the count per block, ties included), "exact"
    exactly round(sparsity * block size) weights per block.
    """
    if selection not in ("reference", "exact"):
        raise ValueError(f"selection must be 'reference' or 'exact', got {selection!r}")
    if pattern is not None and blocksize % pattern[1]:
        raise ValueError(f"blocksize must be a multiple of M = {pattern[1]} for the pattern "
                         f"{pattern[0]}:{pattern[1]}, got {blocksize}")
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    H, W = _damped(H, W, percdamp)
    U = inverse_factor(H)
    rows, columns = W.shape
    losses = np.zeros(rows)
    for i1 in range(0, columns, blocksize):
        i2 = min(i1 + blocksize, columns)
        W1, U1 = W[:, i1:i2].copy(), U[i1:i2, i1:i2]
        Q1, E1 = np.zeros_like(W1), np.zeros_like(W1)
        d = np.diag(U1)
        mask = (_block_mask(W1, d, sparsity, selection) if pattern is None
                else np.zeros_like(W1, dtype=bool))
        for i in range(i2 - i1):
            if pattern is not None and i % pattern[1] == 0:
                score = W1[:, i:i + pattern[1]] ** 2 / d[i:i + pattern[1]][None, :] ** 2
                # a row's last group may be short: the missing weights count as pruned
                k = pattern[0] - (pattern[1] - score.shape[1])
                lowest = np.argsort(score, axis=1, kind="stable")[:, :max(k, 0)]
                np.put_along_axis(mask[:, i:i + pattern[1]], lowest, True, axis=1)
            w = W1[:, i]
            q = np.where(mask[:, i], 0.0, w)
            err = (w - q) / U1[i, i]
            losses += (w - q) ** 2 / U1[i, i] ** 2 / 2
            W1[:, i:] -= err[:, None] * U1[i, i:]
            Q1[:, i], E1[:, i] = q, err
        W[:, i1:i2] = Q1
        W[:, i2:] -= E1 @ U[i1:i2, i2:]
    return W, losses


def reconstruct(W, mask, H, percdamp=0.0):
    """The kept weights refitted by least squares for a given ``mask`` (True = pruned): each
    row's survivors chosen to reproduce the dense row's outputs on the calibration inputs,
    min ||X w' - X w||^2 over w' zero where pruned, i.e. H_KK w'_K = H_K: w. ``percdamp``
    adds to the diagonal as SparseGPT does (for a singular H)."""
    W = np.asarray(W, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != W.shape:
        raise ValueError(f"mask must have the weight's shape {W.shape}, got {mask.shape}")
    H = np.array(H, dtype=np.float64)
    H[np.diag_indices_from(H)] += percdamp * np.mean(np.diag(H))
    out = np.zeros_like(W)
    target = W @ H                                    # row r: H w_r (H is symmetric)
    # damped, every H_KK is definite: one LU solve per row; undamped, H may be singular and
    # the least-squares solution of least norm is taken (many refits then fit equally well)
    definite = percdamp > 0 and np.all(np.diag(H) > 0)
    for r in range(W.shape[0]):
        keep = ~mask[r]
        if keep.any():
            A, b = H[np.ix_(keep, keep)], target[r, keep]
            out[r, keep] = (np.linalg.solve(A, b) if definite
                            else np.linalg.lstsq(A, b, rcond=None)[0])
    return out


def layer_error(W, W_new, H):
    """The layer's squared output error on the calibration inputs, per sample:
    trace((W - W') H (W - W')^T) / 2 (H = 2 X^T X / n)."""
    D = np.asarray(W, dtype=np.float64) - W_new
    return float(np.sum((D @ H) * D) / 2)             # one matrix product (BLAS)
