"""A whole MLP plan as one compiled call for one sample: the batch-1 fast path.

At batch 1 a layer's arithmetic takes a few microseconds and calling it costs one more: a
Numba call unpacks every array it is given (about a microsecond for ten), a NumPy call
allocates and checks. A plan of fully connected steps - Flatten, then Dense, Sparse or
Patterned steps with ReLU or no activation - is therefore packed into a few flat arrays and
run by ``run_chain``, one call for all its layers, each layer in one pass that adds the bias
and applies the ReLU as it writes:

- a dense layer (``dense_matvec``): four rows' dot products at once, each input read once for
  the four; LLVM vectorises the sums (reassociation allowed: the last bits differ from BLAS).
  Measured against NumPy's matrix product plus bias plus ReLU, one thread: 784 -> 300
  1.2x faster, 300 -> 100 2.2x, 100 -> 10 6x (the calls' overhead, not the arithmetic);
- a sparse layer (``sparse.sliced``): the sliced kernel, when its stored slots (padding
  included) are fewer than ``SLICED_MAX_FILL`` of the dense matrix's; above that the dense
  loop over the zeros is the faster one (a 42%-dense 300 -> 100 layer: sliced; a 2:4 layer:
  sliced, one slot per weight).

``chain_numpy`` is the twin: the same layers as NumPy products.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..sparse.sliced import Sliced, sliced_matvec

SLICED_MAX_FILL = 0.6    # sliced below this fraction of dense slots (the kernels' costs per slot)
DENSE, SLICED = 0, 1
# a layer's row in the table: what it is, then where its arrays start in the flat arrays
KIND, N_IN, N_OUT, RELU, BIAS, WEIGHT, SLICE_PTR, N_SLICES, WINDOWS, STEP_PTR, N_ENTRIES, \
    ORDER, OFFSETS, N_STEPS = range(14)
FIELDS = 14


class Chain:
    """``chain(x)`` for one sample x (any shape of ``n_in`` values) -> array (1, n_out)."""

    def __init__(self, layers, dtype):
        """``layers``: [(weight as an (out, in) array or a ``Sliced``, bias or None, relu)]."""
        self.dtype = np.dtype(dtype)
        self.layers = layers
        table, ints, values, offsets = [], [], [], []
        at = {"ints": 0, "values": 0, "offsets": 0}

        def put(kind, array):
            store = {"ints": ints, "values": values, "offsets": offsets}[kind]
            start = at[kind]
            store.append(np.ascontiguousarray(array).reshape(-1))
            at[kind] += store[-1].size
            return start

        for weight, bias, relu in layers:
            n_out, n_in = weight.shape
            b = np.zeros(n_out, self.dtype) if bias is None else bias
            row = [0] * FIELDS
            row[KIND] = SLICED if isinstance(weight, Sliced) else DENSE
            row[N_IN], row[N_OUT], row[RELU] = n_in, n_out, int(relu)
            row[BIAS] = put("values", b.astype(self.dtype))
            if isinstance(weight, Sliced):
                row[WEIGHT] = put("values", weight.values)
                row[OFFSETS] = put("offsets", weight.offsets)
                row[N_STEPS] = len(weight.values)
                row[SLICE_PTR] = put("ints", weight.slice_ptr)
                row[N_SLICES] = len(weight.slice_ptr) - 1
                row[WINDOWS] = put("ints", weight.windows)
                row[STEP_PTR] = put("ints", weight.step_ptr)
                row[N_ENTRIES] = len(weight.windows)
                row[ORDER] = put("ints", weight.order)
            else:
                row[WEIGHT] = put("values", weight.astype(self.dtype))
            table.append(row)
        self.table = np.array(table, dtype=np.int64).reshape(-1, FIELDS)
        self.ints = np.concatenate(ints or [np.zeros(0)]).astype(np.int64)
        self.values = np.concatenate(values).astype(self.dtype)
        self.offsets = np.concatenate(offsets or [np.zeros(0)]).astype(np.uint8)
        self.n_in, self.n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
        widest = max(w.shape[0] for w, _, _ in layers)
        self.scratch = np.zeros(2 * widest, dtype=self.dtype)

    def __call__(self, x):
        x = np.ascontiguousarray(x, dtype=self.dtype).reshape(-1)
        if x.size != self.n_in:
            raise ValueError(f"x must hold {self.n_in} values for one sample, got shape "
                             f"{x.shape}")
        out = np.empty((1, self.n_out), dtype=self.dtype)
        run_chain(self.table, self.ints, self.values, self.offsets, x, self.scratch, out[0],
                  self.dtype.type(0))
        return out

    def __repr__(self):
        kinds = ["dense" if self.table[i, 0] == DENSE else "sliced"
                 for i in range(len(self.table))]
        return f"Chain({' -> '.join(kinds)}, one call at batch 1)"


def layer_weight(dense=None, sliced=None):
    """The chain's form of a layer: a ``Sliced`` if it stores fewer than ``SLICED_MAX_FILL``
    of the dense slots, else the dense (out, in) matrix (built from ``sliced`` if need be)."""
    if sliced is not None:
        rows, cols = sliced.shape
        if sliced.values.size < SLICED_MAX_FILL * rows * cols:
            return sliced
        if dense is None:
            dense = sliced.to_dense()
    return np.ascontiguousarray(dense)


@njit(cache=True, fastmath={"reassoc", "contract"})
def dense_matvec(w, x, bias, relu, out, zero):
    """out = w @ x + bias (then max(., 0) if ``relu``), four rows per pass."""
    rows, cols = w.shape
    r = 0
    while r + 4 <= rows:
        a0 = a1 = a2 = a3 = zero
        for c in range(cols):
            xc = x[c]
            a0 += w[r, c] * xc
            a1 += w[r + 1, c] * xc
            a2 += w[r + 2, c] * xc
            a3 += w[r + 3, c] * xc
        y0, y1, y2, y3 = a0 + bias[r], a1 + bias[r + 1], a2 + bias[r + 2], a3 + bias[r + 3]
        if relu:
            y0, y1, y2, y3 = max(y0, zero), max(y1, zero), max(y2, zero), max(y3, zero)
        out[r], out[r + 1], out[r + 2], out[r + 3] = y0, y1, y2, y3
        r += 4
    while r < rows:
        a = zero
        for c in range(cols):
            a += w[r, c] * x[c]
        y = a + bias[r]
        out[r] = max(y, zero) if relu else y
        r += 1
    return out


@njit(cache=True)
def run_chain(table, ints, values, offsets, x, scratch, out, zero):
    """Every layer of ``table`` in turn, each writing into one half of ``scratch`` (the last
    into ``out``) and reading what the one before wrote."""
    half = len(scratch) // 2
    lanes = 64 // values.itemsize
    src = x
    n_layers = len(table)
    for i in range(n_layers):
        t = table[i]
        n_in, n_out, relu = t[N_IN], t[N_OUT], t[RELU] != 0
        start = (i % 2) * half
        dst = out if i == n_layers - 1 else scratch[start:start + n_out]
        bias = values[t[BIAS]:t[BIAS] + n_out]
        w = t[WEIGHT]
        if t[KIND] == DENSE:
            dense_matvec(values[w:w + n_out * n_in].reshape((n_out, n_in)), src, bias, relu,
                         dst, zero)
        else:
            slots = t[N_STEPS] * lanes
            sliced_matvec(ints[t[SLICE_PTR]:t[SLICE_PTR] + t[N_SLICES] + 1],
                          ints[t[WINDOWS]:t[WINDOWS] + t[N_ENTRIES]],
                          ints[t[STEP_PTR]:t[STEP_PTR] + t[N_ENTRIES] + 1],
                          values[w:w + slots].reshape((t[N_STEPS], lanes)),
                          offsets[t[OFFSETS]:t[OFFSETS] + slots].reshape((t[N_STEPS], lanes)),
                          ints[t[ORDER]:t[ORDER] + n_out], src, bias, relu, dst)
        src = dst
    return out


def chain_numpy(layers, x):
    """The twin: each layer as a NumPy product, plus bias, then ReLU where asked."""
    from ..sparse.sliced import sliced_matvec_numpy
    h = np.asarray(x).reshape(-1)
    for weight, bias, relu in layers:
        if isinstance(weight, Sliced):
            h = sliced_matvec_numpy(weight, h, bias, relu)
        else:
            h = weight @ h + (0 if bias is None else bias)
            h = np.maximum(h, 0) if relu else h
    return h[None, :]
