"""A whole MLP plan as one compiled call for one sample: the batch-1 fast path.

At batch 1 a layer's arithmetic takes a few microseconds and calling it costs nearly as much:
a Numba call unpacks every array it is given and boxes the array it hands back; a NumPy call
allocates and checks. A plan of
fully connected ops - Flatten, then dense or sparse fully connected ops with ReLU or no
activation - is therefore packed into a few flat arrays and run by ``run_chain``, one call for
all its layers, each layer in one pass that adds the bias and applies the ReLU as it writes:

- a dense layer (``dense_matvec``): four rows' dot products at once, each input read once for
  the four; LLVM vectorises the sums (reassociation allowed: the last bits differ from BLAS).
  Against NumPy's product plus bias plus ReLU it wins by more the smaller the layer (the
  calls' overhead, not the arithmetic: ``minprune bench latency``, "bare NumPy products");
- a 2:4 layer (``sparse.sliced.Pairs``): the pairs kernel, two-bit offsets and no padding;
- another sparse layer (``sparse.sliced``): the sliced kernel, when its stored slots (padding
  included) are fewer than ``SLICED_MAX_FILL`` of the dense matrix's; above that the dense
  loop over the zeros is the faster one (a step of the sliced kernel, 16 weights, costs about
  as much as 16 multiply-adds of the dense loop, and each layer adds its windows' overhead).

A sliced layer writes its outputs in its slices' order, and the layer after it reads its
columns in that same order (permuted when the chain is built), so no output is ever moved
back; the last layer keeps its rows' own order.

``chain_numpy`` is the twin: the same layers as NumPy products.
"""
from __future__ import annotations

import numpy as np

from ..jit import njit
from ..sparse import simd
from ..sparse.csr import CSR
from ..sparse.patterns import NM
from ..sparse.simd import REGISTER, padded_length
from ..sparse.sliced import (Pairs, Sliced, pairs_matvec, pairs_matvec_numba, sliced_matvec,
                             sliced_matvec_numba)
from ..sparse.variants import variant
from .fm_step import aligned

SLICED_MAX_FILL = 0.75   # sliced below this fraction of dense slots (the kernels' costs per slot)
DENSE, SLICED, PAIRS = 0, 1, 2
# a layer's row in the table: what it is, then where its arrays start in the flat arrays
KIND, N_IN, N_OUT, RELU, BIAS, WEIGHT, SLICE_PTR, N_SLICES, WINDOWS, STEP_PTR, N_ENTRIES, \
    OFFSETS, N_STEPS = range(13)
FIELDS = 13


class Chain:
    """``chain(x)`` for one sample x (any shape of ``n_in`` values) -> array (1, n_out)."""

    def __init__(self, layers, dtype, kernels="auto"):
        """``layers``: [(weight, bias or None, relu)], the weight an (out, in) array (run
        dense), 2:4 weights in ``sparse.patterns.NM`` storage (run as ``Pairs``), or a
        ``sparse.CSR`` (run sliced or dense, whichever ``SLICED_MAX_FILL`` says).
        ``kernels``: the sparse layers' inner loops, as in ``sparse.simd.resolve``."""
        self.kernels = simd.resolve(kernels)
        self._run = RUN_CHAIN[self.kernels]
        self.dtype = np.dtype(dtype)
        self.n_in, self.n_out = layers[0][0].shape[1], layers[-1][0].shape[0]
        self.forms = _forms(layers, self.dtype)
        ints, values, offsets = _pack(self.forms, self.dtype)
        # three zero-padded regions: the input, then two for the layers' outputs in turn
        widest = max([w.shape[0] for w, _, _ in layers] + [self.n_in])
        scratch = np.zeros(3 * padded_length(widest, self.dtype), dtype=self.dtype)
        self.blob, (self.ints, self.values, self.offsets, self.scratch) = _blob(
            [ints, values, offsets, scratch])
        self.in_shape, self.out_shape = (1, self.n_in), (1, self.n_out)

    def __call__(self, x):
        """``x``: a C-contiguous array of the chain's dtype (``Plan`` makes it one)."""
        if x.size != self.n_in:
            raise ValueError(f"x must hold {self.n_in} values for one sample, got shape "
                             f"{x.shape}")
        out = np.empty(self.out_shape, dtype=self.dtype)
        self._run(self.blob, x, out)
        return out

    def __repr__(self):
        kinds = [{Sliced: "sliced", Pairs: "2:4 pairs"}.get(type(w), "dense")
                 for w, _, _ in self.forms]
        return f"Chain({' -> '.join(kinds)})"


def _is_pairs(weight):
    return isinstance(weight, NM) and (weight.m, weight.values.shape[2]) == (4, 2)


def _forms(layers, dtype):
    """[(dense matrix, Sliced or Pairs, bias, relu)] as the chain runs them: each layer's
    columns in the order the layer before writes its outputs (the natural order before a
    2:4 layer, whose groups of four columns must stay together)."""
    forms, order = [], None               # order: the previous layer's output order, or None
    for i, (weight, bias, relu) in enumerate(layers):
        rows = weight.shape[0]
        bias = np.zeros(rows, dtype) if bias is None else np.asarray(bias, dtype)
        if _is_pairs(weight):
            assert order is None
            nm = NM(weight.values.astype(dtype), weight.offsets, weight.m, weight.shape)
            forms.append((Pairs.from_nm(nm), bias, relu))
            continue
        if isinstance(weight, NM):
            weight = weight.to_csr()
        if isinstance(weight, CSR):
            sort_rows = i < len(layers) - 1 and not _is_pairs(layers[i + 1][0])
            indices = weight.indices.astype(np.int64)
            if order is not None:                      # column order[j] is now column j
                place = np.empty(len(order), dtype=np.int64)
                place[order] = np.arange(len(order))
                indices = place[indices]
            sliced = Sliced.from_csr(weight.indptr, indices, weight.values.astype(dtype),
                                     weight.shape, sort_rows)
            if sliced.values.size < SLICED_MAX_FILL * rows * weight.shape[1]:
                forms.append((sliced, bias[sliced.order], relu))
                order = sliced.order if sort_rows else None
                continue
            weight = weight.to_dense()
        weight = np.asarray(weight) if order is None else np.asarray(weight)[:, order]
        forms.append((np.ascontiguousarray(weight, dtype=dtype), bias, relu))
        order = None
    return forms


def _pack(forms, dtype):
    """The flat arrays ``run_chain`` reads (few arguments: each costs a Numba call time):
    ``ints`` starts with the number of layers and the table, one row per layer, and ``values``
    with a zero of the dtype."""
    table, arrays = [], {"ints": [np.zeros(1 + FIELDS * len(forms), np.int64)],
                         "values": [np.zeros(1, dtype)], "offsets": []}

    def put(kind, array):
        start = sum(a.size for a in arrays[kind])
        arrays[kind].append(np.ascontiguousarray(array).reshape(-1))
        return start

    for weight, bias, relu in forms:
        row = [0] * FIELDS
        row[N_OUT], row[N_IN] = weight.shape
        row[RELU], row[BIAS] = int(relu), put("values", bias)
        row[WEIGHT] = put("values", weight if isinstance(weight, np.ndarray) else weight.values)
        if isinstance(weight, Pairs):
            row[KIND], row[N_STEPS], row[N_ENTRIES] = PAIRS, len(weight.values), weight.n_windows
            row[OFFSETS] = put("offsets", weight.codes)
        elif isinstance(weight, Sliced):
            row[KIND], row[N_STEPS] = SLICED, len(weight.values)
            row[OFFSETS] = put("offsets", weight.offsets)
            row[SLICE_PTR], row[N_SLICES] = put("ints", weight.slice_ptr), len(weight.slice_ptr) - 1
            row[WINDOWS], row[N_ENTRIES] = put("ints", weight.windows), len(weight.windows)
            row[STEP_PTR] = put("ints", weight.step_ptr)
        table.append(row)

    def flat(kind, dt):
        return np.concatenate(arrays[kind] or [np.zeros(0)]).astype(dt)
    ints = flat("ints", np.int64)
    ints[0] = len(forms)
    ints[1:1 + FIELDS * len(forms)] = np.array(table, dtype=np.int64).reshape(-1)
    return ints, flat("values", dtype), flat("offsets", np.uint8)


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


def _blob(arrays):
    """One byte buffer holding ``arrays``, each from a multiple of 64 bytes, and views of it:
    ``run_chain`` then takes one array where it would take four (a Numba call costs some 40
    ns per argument). Its first 64 bytes say where each array starts and ends."""
    starts, at = [], 64
    for a in arrays:
        starts.append(at)
        at += -(-a.nbytes // 64) * 64
    blob = aligned((at,), np.uint8, zero=True)          # (each array on a cache line)
    head = blob[:64].view(np.int64)
    views = []
    for i, (a, start) in enumerate(zip(arrays, starts)):
        head[2 * i], head[2 * i + 1] = start, start + a.nbytes
        view = blob[start:start + a.nbytes].view(a.dtype)
        view[:] = a
        views.append(view)
    return blob, views


def _run_chain(blob, x, out):
    """Every layer of the table in turn, each reading what the one before wrote. ``blob``
    holds (``_blob``) the table and the layers' indices (``ints``), their weights and biases
    (``values``), their offsets, and the scratch: three zero-padded regions, the input, then
    the outputs, alternately in the second and third (the last layer writes into ``out``).
    Returns nothing: handing an array back to Python costs time too."""
    head = blob[:64].view(np.int64)
    ints = blob[head[0]:head[1]].view(np.int64)
    values = blob[head[2]:head[3]].view(x.dtype)
    offsets = blob[head[4]:head[5]]
    scratch = blob[head[6]:head[7]].view(x.dtype)
    lanes = REGISTER // values.itemsize
    zero = values[0]
    region = len(scratch) // 3
    scratch[:x.size] = x.reshape(-1)
    last = out.reshape(-1)
    src = 0
    n_layers = ints[0]
    for i in range(n_layers):
        t = ints[1 + i * FIELDS:1 + (i + 1) * FIELDS]
        n_in, n_out, relu = t[N_IN], t[N_OUT], t[RELU] != 0
        dst_start = region * (1 + i % 2)
        dst = last if i == n_layers - 1 else scratch[dst_start:dst_start + n_out]
        bias = values[t[BIAS]:t[BIAS] + n_out]
        w = t[WEIGHT]
        if t[KIND] == DENSE:
            dense_matvec(values[w:w + n_out * n_in].reshape((n_out, n_in)),
                         scratch[src:src + n_in], bias, relu, dst, zero)
        elif t[KIND] == PAIRS:
            slots = t[N_STEPS] * lanes
            n_codes = t[N_STEPS] * 4                   # a 4-byte word per lane and window
            pairs_matvec(values[w:w + slots].reshape((t[N_STEPS], lanes)),
                         offsets[t[OFFSETS]:t[OFFSETS] + n_codes].reshape((-1, 4 * lanes)),
                         t[N_ENTRIES], scratch[src:src + region], bias, relu, dst)
        else:
            slots = t[N_STEPS] * lanes
            sliced_matvec(ints[t[SLICE_PTR]:t[SLICE_PTR] + t[N_SLICES] + 1],
                          ints[t[WINDOWS]:t[WINDOWS] + t[N_ENTRIES]],
                          ints[t[STEP_PTR]:t[STEP_PTR] + t[N_ENTRIES] + 1],
                          values[w:w + slots].reshape((t[N_STEPS], lanes)),
                          offsets[t[OFFSETS]:t[OFFSETS] + slots].reshape((t[N_STEPS], lanes)),
                          scratch[src:src + region], bias, relu, dst)
        src = dst_start


run_chain = njit(cache=True)(_run_chain)
run_chain_numba = njit(cache=True)(variant(_run_chain, "_numba", sliced_matvec=sliced_matvec_numba,
                                           pairs_matvec=pairs_matvec_numba))
RUN_CHAIN = {"simd": run_chain, "numba": run_chain_numba}


def chain_numpy(layers, x):
    """The twin: each layer as a NumPy product, plus bias, then ReLU where asked."""
    h = np.asarray(x).reshape(-1)
    for weight, bias, relu in layers:
        dense = weight if isinstance(weight, np.ndarray) else weight.to_dense()
        h = dense @ h + (0 if bias is None else bias)
        h = np.maximum(h, 0) if relu else h
    return h[None, :]
