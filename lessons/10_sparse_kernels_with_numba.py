# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 10: sparse kernels with Numba
#
# **Goal.** A pruned network whose zeros are still multiplied is no faster. Store only the
# surviving weights (CSR), write the matrix product that touches only them, read it line by
# line, and measure where it beats dense BLAS: the break-even sparsity, and what it means for
# choosing unstructured or structured pruning.

# %%
import inspect
import os
import time

import numpy as np

from minprune import Tensor, models, prune, sparse, viz
from minprune.sparse import CSR, kernels
from minprune.sparse.reference import csr_matmul_reference

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. CSR by hand
#
# Row r's stored values are `values[indptr[r]:indptr[r+1]]`, at columns `indices[...]`.

# %%
W = np.array([[0, 2, 0, 0],
              [1, 0, 0, 3],
              [0, 0, 0, 0]], dtype=np.float32)
csr = CSR.from_dense(W)
print("indptr ", csr.indptr)
print("indices", csr.indices)
print("values ", csr.values)
assert csr.indptr.tolist() == [0, 1, 3, 3] and csr.values.tolist() == [2, 1, 3]
np.testing.assert_array_equal(csr.to_dense(), W)

# %% [markdown]
# ## 2. The kernel, line by line
#
# Activations are held transposed, `xt` of shape (n_in, batch). For each stored weight
# w = W[r, c], the whole batch row `xt[c, :]` is scaled and added to `out[r, :]`: a contiguous
# loop the compiler vectorises. Four weights are handled per pass so the output row is read
# and written a quarter as often. `kernels.matmul` runs this kernel for batches above 128.
# (Set `NUMBA_DISABLE_JIT=1` and this runs as the plain Python you see, in a debugger.)

# %%
print(inspect.getsource(kernels.csr_matmul))
xt = rng.standard_normal((4, 3)).astype(np.float32)
out = np.empty((3, 3), dtype=np.float32)
kernels.csr_matmul(csr.indptr, csr.indices, csr.values, xt, out)    # the plain Python above
np.testing.assert_allclose(out, csr_matmul_reference(csr.indptr, csr.indices, csr.values, xt))
np.testing.assert_allclose(out, W @ xt)

# %% [markdown]
# ## 3. Small batches: the sums live in registers
#
# With a batch of 8, the loop over the batch is only eight numbers long, and the kernel above
# spends its time loading and storing `out[r, :]` and checking that `out` and `xt` do not
# overlap. `kernels.matmul` therefore picks another kernel for small batches: the eight sums
# of an output row are eight local variables `a0..a7`, which the compiler packs into one SIMD
# register, and the row's stored weights stream past four at a time. (Batches up to 128 use
# the same idea with sixteen sums; see the notes at the top of `minprune/sparse/kernels.py`.)

# %%
print(inspect.getsource(kernels.csr_matmul_8))

# %% [markdown]
# ## 4. Time against sparsity
#
# Dense BLAS does the same work whatever the sparsity; the kernel's work shrinks with the
# number of stored weights. Where the curves cross is the break-even sparsity.

# %%
try:
    import scipy.sparse as sp
except ImportError:
    sp = None


def timeit(fn, repeat):
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


shape, batch = (1024, 1024), 64
levels = [0.5, 0.8, 0.9, 0.95, 0.99] if not QUICK else [0.5, 0.9, 0.99]
repeat = 3 if QUICK else 30
X = rng.standard_normal((batch, shape[1])).astype(np.float32)
xt = np.ascontiguousarray(X.T)
times = {"dense (BLAS)": [], "minprune CSR": [], "scipy.sparse": []}
for s in levels:
    mask = rng.random(shape) >= s
    Wd = np.where(mask, rng.standard_normal(shape), 0).astype(np.float32)
    c = CSR.from_dense(Wd, mask)
    o = np.empty((shape[0], batch), dtype=np.float32)
    times["dense (BLAS)"].append(timeit(lambda: X @ Wd.T, repeat))
    times["minprune CSR"].append(timeit(lambda: kernels.matmul(c.indptr, c.indices, c.values,
                                                               xt, o), repeat))
    if sp is not None:
        Ws = sp.csr_matrix(Wd)
        times["scipy.sparse"].append(timeit(lambda: Ws @ xt, repeat))
if sp is None:
    del times["scipy.sparse"]
print(f"{'sparsity':>8}  " + "  ".join(f"{k:>14}" for k in times))
for i, s in enumerate(levels):
    print(f"{s:>8.0%}  " + "  ".join(f"{v[i] * 1e3:>11.3f} ms" for v in times.values()))
fig = viz.new_figure()
ax = fig.subplots()
for name, t in times.items():
    ax.plot([100 * s for s in levels], [1e3 * v for v in t], "o-", label=name)
ax.set(xlabel="sparsity (%)", ylabel="ms per product", yscale="log",
       title=f"W {shape[0]}x{shape[1]}, batch {batch}")
ax.legend()
viz.save_png(fig, "10_break_even.png")
assert times["minprune CSR"][-1] < times["minprune CSR"][0]     # less work, less time

# %% [markdown]
# The same comparison at batch 8, with the batch-wide kernel of section 2 run directly next
# to the register kernel that `matmul` picks:

# %%
X8 = rng.standard_normal((8, shape[1])).astype(np.float32)
xt8, o8 = np.ascontiguousarray(X8.T), np.empty((shape[0], 8), dtype=np.float32)
mask = rng.random(shape) >= 0.8
Wd = np.where(mask, rng.standard_normal(shape), 0).astype(np.float32)
c = CSR.from_dense(Wd, mask)
batch_wide = kernels.kernel("matmul")
t8 = {"dense (BLAS)": timeit(lambda: X8 @ Wd.T, repeat),
      "batch-wide kernel": timeit(lambda: batch_wide(c.indptr, c.indices, c.values, xt8, o8),
                                  repeat),
      "register kernel": timeit(lambda: kernels.matmul(c.indptr, c.indices, c.values, xt8, o8),
                                repeat)}
for name, t in t8.items():
    print(f"80% sparse, batch 8, {name:>17}: {t * 1e6:8.1f} us")
np.testing.assert_allclose(o8, Wd @ xt8, rtol=1e-4, atol=1e-4)

# %% [markdown]
# ## 5. A whole pruned network on the kernels
#
# `to_sparse` swaps each layer that is sparse enough for a CSR layer; the outputs match the
# masked dense model, and training it updates only the surviving weights.

# %%
net = models.lenet_300_100(rng=0)
prune.prune(net, 0.9, "magnitude", "weight", "global")
fast = sparse.to_sparse(net)
print(fast)
x = Tensor(rng.random((16, 784), dtype=np.float32))
np.testing.assert_allclose(fast(x).data, net(x).data, rtol=1e-5, atol=1e-6)

# %% [markdown]
# ## Summary
#
# - CSR stores only what survived; the kernel's cost follows the number of stored weights.
# - Dense BLAS is very fast per multiply: sparse kernels win only past a break-even sparsity
#   (see `minprune bench sparse` for the full table on your machine).
# - How the loop meets the hardware matters as much as the arithmetic: the same products,
#   kept in registers instead of memory, run several times faster at small batches.
# - Structured pruning (lesson 07) needs no special kernel at all: a smaller dense layer is
#   fast everywhere. Unstructured pruning reaches higher sparsity at the same accuracy, but
#   pays off only with kernels like these, and only beyond the break-even point.
#
# ## Exercises
#
# 1. Time batch 1 (the matrix-vector kernel) at 50%, 80% and 95%. Why is the break-even
#    sparsity higher for one sample than for 64?
# 2. Run the kernel with `kernels.set_threads(2)`. When does the second thread help?
# 3. Numba leaves LLVM's straight-line (SLP) vectorizer off by default; `kernels._with_slp`
#    turns it on for these kernels. Compile the register kernel without it,
#    `numba.njit(kernels.csr_matmul_8)`, and time it at batch 8 against `matmul`. What is
#    left of the register kernel's advantage, and why?
