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
# line, and measure - honestly - where it beats dense BLAS: the break-even sparsity, where the
# time of a whole network goes at batch 1, and what it means for choosing unstructured,
# structured or hardware-pattern (N:M, block) pruning.

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
# loop the compiler vectorises. Eight weights (then four, then the rest one by one) are
# handled per pass, so the output row is read and written an eighth as often.
# `kernels.matmul` runs this kernel for batches above 128.
# Past `COLUMN_BLOCK` (256) columns - a convolution's columns in training are thousands long -
# it walks them in blocks, every row's block before the next, so that the block of `xt` the
# rows read stays in the second-level cache; and where `xt`'s rows are a multiple of 4 KB
# long, they are read from rows one cache line longer (`padded_rows`), because rows 4 KB
# apart all fall on the same few sets of the cache and evict each other.
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
# ## 4. Time against sparsity, measured honestly
#
# Dense BLAS does the same work whatever the sparsity; the kernel's work shrinks with the
# number of stored weights. Where the curves cross is the break-even sparsity. A timing is
# only worth something if it is taken carefully: **one thread** for BLAS and Numba alike (two
# thread pools fighting over two cores were measured 9x slower), **warm-up** calls first (the
# first call compiles), the **median** of many calls with the spread beside it (a neighbour's
# burst moves one sample, not the answer), and the machine written next to the numbers.

# %%
try:
    import scipy.sparse as sp
except ImportError:
    sp = None
from minprune.timing import machine_line, one_thread


def measure(fn, repeat, warmup=3):
    """(median, quartile spread) of ``fn()``'s wall time in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return median, q3 - q1


def timeit(fn, repeat):
    return measure(fn, repeat)[0]


print(machine_line(threads=1))
shape, batch = (1024, 1024), 64
levels = [0.5, 0.8, 0.9, 0.95, 0.99] if not QUICK else [0.5, 0.9, 0.99]
repeat = 15 if QUICK else 60
X = rng.standard_normal((batch, shape[1])).astype(np.float32)
xt = np.ascontiguousarray(X.T)
times = {"dense (BLAS)": [], "minprune CSR": [], "scipy.sparse": []}
spread = {k: [] for k in times}
with one_thread():
    for s in levels:
        mask = rng.random(shape) >= s
        Wd = np.where(mask, rng.standard_normal(shape), 0).astype(np.float32)
        c = CSR.from_dense(Wd, mask)
        o = np.empty((shape[0], batch), dtype=np.float32)
        runs = {"dense (BLAS)": lambda: X @ Wd.T,
                "minprune CSR": lambda: kernels.matmul(c.indptr, c.indices, c.values, xt, o)}
        if sp is not None:
            Ws = sp.csr_matrix(Wd)
            runs["scipy.sparse"] = lambda: Ws @ xt
        for name, fn in runs.items():
            median, iqr = measure(fn, repeat)
            times[name].append(median)
            spread[name].append(iqr)
if sp is None:
    del times["scipy.sparse"], spread["scipy.sparse"]
print(f"{'sparsity':>8}  " + "  ".join(f"{k:>22}" for k in times))
for i, s in enumerate(levels):
    print(f"{s:>8.0%}  " + "  ".join(f"{v[i] * 1e3:>9.3f} ms +/- {spread[k][i] * 1e3:6.3f}"
                                     for k, v in times.items()))
fig = viz.new_figure()
ax = fig.subplots()
for name, t in times.items():
    ax.errorbar([1 - s for s in levels], [1e3 * v for v in t],
                yerr=[1e3 * e / 2 for e in spread[name]], fmt="o-", capsize=3, label=name)
ax.set(xlabel="fraction of weights kept (log)", ylabel="ms per product (log)", xscale="log",
       yscale="log", title=f"W {shape[0]}x{shape[1]}, batch {batch}, one thread")
ax.invert_xaxis()
ax.legend()
viz.save_png(fig, "10_break_even.png")
# The sanity check of any such plot: dense BLAS does the same work at every sparsity, so its
# line must be flat; if it is not, the machine was busy and the other numbers mean little.
dense_times = np.array(times["dense (BLAS)"])
print(f"dense line: {dense_times.min() * 1e3:.3f} to {dense_times.max() * 1e3:.3f} ms")
assert dense_times.max() < 3 * dense_times.min(), "the dense line is not flat: a busy machine"
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
# ## 6. A whole network, one sample: where the time goes
#
# What a user feels is the latency of a whole model on one input. `infer.compile` turns a
# model into a plan of plain array operations (masks baked in, BatchNorm folded, activations
# fused, no Tensors, no graph); that is what we time - the dense model, the same model 90%
# pruned in CSR, 75% of its units pruned and deleted (`prune.compact`), and the hardware
# patterns: 2:4 (two of every four weights of a row kept) and 1x4 blocks at 90%. At batch 1
# three things cost time: the fixed **overhead** of each call and layer, the **bytes** of
# weights that must be read (the floor no kernel can beat: bytes / memory bandwidth), and
# **gathers** - a sparse product fetches each input through an index.
#
# At batch 1 the CSR kernel of section 2 has nothing to share an index with: each stored
# weight costs a load of its index, a load of its input and a multiply-add, one weight at a
# time (about half a nanosecond each), while a dense product streams 16 weights per
# instruction. So the plan stores a sparse layer differently for one sample (`sparse.sliced`):
#
# - rows in *slices* of 16 (one SIMD register of float32 sums), columns in *windows* of 32
#   (two registers of inputs);
# - for a slice and a window, *step* j holds each row's j-th weight in that window and its
#   offset in the window (one byte) - or a zero where a row has fewer;
# - one step is one load of 16 weights, one permute instruction that picks their 16 inputs
#   out of the two registers, and one multiply-add: 16 weights at once, no gather.
#
# The price is *padding*: a slice takes as many steps in a window as its fullest row needs.

# %%
from minprune.sparse.sliced import Sliced  # noqa: E402

W_small = np.where(rng.random((20, 70)) < 0.15, rng.standard_normal((20, 70)), 0)
W_small = W_small.astype(np.float32)
sliced = Sliced.from_dense(W_small)
steps = np.diff(sliced.step_ptr)
print(f"{np.count_nonzero(W_small)} weights in {len(sliced.slice_ptr) - 1} slices; "
      f"(slice, window) entries: {len(sliced.windows)}, steps per entry: {steps.tolist()}")
print(f"slots stored per weight (padding): {sliced.padding:.2f}")
np.testing.assert_array_equal(sliced.to_dense(), W_small)
x_small = rng.standard_normal(70).astype(np.float32)
np.testing.assert_allclose(sliced.product(x_small, np.empty(20, np.float32)), W_small @ x_small,
                           rtol=1e-5, atol=1e-5)
assert sliced.padding > 1                # the fullest row of a slice sets its steps

# %% [markdown]
# The other cost, overhead, is the calls: a Numba call unpacks each array it is given (tens
# of nanoseconds each), a NumPy call allocates and checks, and a three-layer network makes a
# dozen of them. A plan of fully connected layers therefore runs one sample in **one**
# compiled call (`infer.chain`) that goes through every layer, adding the bias and applying
# the ReLU as it writes; `print(plan)` shows which form each layer takes (a layer whose padded
# slots would fill most of the dense matrix stays dense).

# %%
from minprune import infer  # noqa: E402
from minprune.timing import interleaved_times  # noqa: E402

dense_net = models.lenet_300_100(rng=0).eval()
nets = {"dense": dense_net}
pruned_90 = prune.restore(models.lenet_300_100(rng=0), prune.snapshot(dense_net))
prune.prune(pruned_90, 0.9, "magnitude", "weight", "global")
nets["masked 90%"] = pruned_90.eval()
nets["CSR 90%"] = sparse.to_sparse(pruned_90, min_sparsity=0.0).eval()
units = prune.restore(models.lenet_300_100(rng=0), prune.snapshot(dense_net))
prune.prune(units, 0.75, "magnitude", "unit", "local")
nets["units 75% compacted"] = prune.compact(units).eval()
patterns_of = {}
for label, granularity, s in (("2:4", "2:4", 0.5), ("1x4 blocks 90%", "block:1x4", 0.9)):
    net = prune.restore(models.lenet_300_100(rng=0), prune.snapshot(dense_net))
    prune.prune(net, s, "magnitude", granularity, "global")
    nets[label], patterns_of[label] = net.eval(), granularity


def plan_bytes(plan):
    """Bytes of weights a one-sample pass reads: every array the chain multiplies by
    (weights with their padding, biases, and the offsets and pointers that say where they
    go)."""
    chain = plan.chain
    return chain.values.nbytes + chain.offsets.nbytes + chain.ints.nbytes


def bandwidth(n_bytes):
    """Bytes per second at which one thread reads ``n_bytes`` of float32 (a BLAS dot product
    over two arrays of half that size each: it streams them at the memory's pace)."""
    a = np.ones(max(n_bytes // 8, 1), dtype=np.float32)
    b = np.ones_like(a)
    seconds, _ = measure(lambda: a.dot(b), repeat=300)
    return 2 * a.nbytes / seconds


with one_thread():
    tiny = infer.compile(models.mlp([1, 1, 1, 1], rng=0).eval())
    one = np.zeros((1, 1), dtype=np.float32)
    overhead, _ = measure(lambda: tiny(one), repeat=500)
    dense_bytes = plan_bytes(infer.compile(dense_net))
    print(f"read bandwidth for {dense_bytes / 1e3:.0f} kB: {bandwidth(dense_bytes) / 1e9:.1f} "
          f"GB/s; a 3-layer plan on a 1-number input: {overhead * 1e6:.1f} us of overhead")

print(infer.compile(nets["CSR 90%"]))
plans = {label: infer.compile(net, pattern=patterns_of.get(label)) for label, net in nets.items()}
inputs = {b: rng.random((b, 1, 28, 28), dtype=np.float32) for b in (1, 64)}
with one_thread():       # in turns: every model meets the machine in the same states
    timed = interleaved_times({(label, b): (lambda plan=plan, x=inputs[b]: plan(x))
                               for label, plan in plans.items() for b in (1, 64)},
                              rounds=30 if QUICK else 100)
rows = []
for label, plan in plans.items():
    row = {"model": label, "bytes": plan_bytes(plan), "b1": timed[label, 1],
           "b64": timed[label, 64]}
    row["floor"] = overhead + row["bytes"] / bandwidth(row["bytes"])
    rows.append(row)
base = {b: rows[0][f"b{b}"] for b in (1, 64)}
print(f"{'model':>20} {'weights':>9} {'floor b1':>9} {'batch 1':>17} {'batch 64':>17}")
for r in rows:
    print(f"{r['model']:>20} {r['bytes'] / 1e3:>7.0f}kB {r['floor'] * 1e6:>7.1f}us "
          f"{r['b1'] * 1e6:>6.1f}us ({base[1] / r['b1']:.2f}x) "
          f"{r['b64'] * 1e6:>7.1f}us ({base[64] / r['b64']:.2f}x)")
fig = viz.new_figure()
ax = fig.subplots()
for r in rows:
    ax.plot(r["bytes"] / 1e3, r["b1"] * 1e6, "o", label=r["model"])
ax.plot([r["bytes"] / 1e3 for r in sorted(rows, key=lambda r: r["bytes"])],
        [r["floor"] * 1e6 for r in sorted(rows, key=lambda r: r["bytes"])], "k--",
        label="floor: overhead + bytes / bandwidth")
ax.set(xlabel="kB of weights read per sample", ylabel="microseconds per sample (batch 1)",
       title="LeNet-300-100, one sample, one thread")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))   # beside: hides no point
viz.save_png(fig, "10_latency_floor.png")
# What the table says, checked where the margins are wide (timings themselves vary):
by = {r["model"]: r for r in rows}
assert by["CSR 90%"]["bytes"] < 0.3 * by["dense"]["bytes"]         # a quarter of the bytes
assert by["units 75% compacted"]["bytes"] < 0.35 * by["dense"]["bytes"]
assert all(r["b1"] > 0.5 * r["floor"] for r in rows)               # nobody beats the floor
assert by["CSR 90%"]["b1"] < by["dense"]["b1"]          # fewer bytes, no gathers: faster
assert by["2:4"]["bytes"] < 0.6 * by["dense"]["bytes"]  # 4.25 bytes per weight, half the weights

# %% [markdown]
# Read the table with the floor beside it. Every plan pays the same overhead, about a
# microsecond and a half of calling; past it the dense plan streams its megabyte of weights
# close to the bandwidth. The CSR model reads about a quarter of the bytes - the padding
# doubles its weights at this sparsity, and every weight brings a byte of offset - and at
# batch 1 runs about three times faster: its steps stream like dense ones, 16 weights at once,
# so its time follows its bytes. It stays above its floor by the work each (slice, window)
# entry costs before its first step. The compacted model is simply a smaller dense model: no
# padding, no offsets, which is why structured pruning turns FLOPs into latency most directly. The
# 2:4 model keeps half the weights, and its regularity buys a layout of its own (`Pairs`): every
# row holds exactly two weights in each group of four columns, so a window is always 16 steps,
# step j reads group j // 2, and each weight needs only two bits to say which of the four
# columns it sits in - no padding, 4.25 bytes per weight. Its gain is bounded by its bytes:
# 8.5 per pair against the dense 16. At batch 64 the sliced layouts are not used: the kernels of
# section 3 share each gathered input row among 64 samples. That is why the 2:4 model can be
# *slower* than dense at batch 64: it runs there on the CSR kernels, with an index beside
# each of its weights, at 50% density - below the break-even of section 3 - against BLAS
# streaming the dense matrix; its layout pays at one sample only.
#
# And the floor is an estimate, not a law: its bandwidth is measured streaming two arrays
# from memory, while a small model called again and again keeps its weights in the caches,
# which are faster. A model that lands a little under its floor (the assert allows half) has
# its weights in cache - LeNet-300-100's 2:4 and compacted weights fit in the L2 of most CPUs.
#
# And the **masked** model? Through the plan it costs what the dense one costs - the zeros are
# baked in and still multiplied. In training mode it is *slower* than dense: every forward pass
# multiplies each weight by its mask first, an extra pass over all the weights:

# %%
x16 = Tensor(rng.random((16, 784), dtype=np.float32))
with one_thread():
    timed = interleaved_times({"dense": lambda: dense_net(x16), "masked": lambda: pruned_90(x16)},
                              rounds=50)
t_dense, t_masked = timed["dense"], timed["masked"]
print(f"model(x), batch 16: dense {t_dense * 1e6:.0f} us, masked {t_masked * 1e6:.0f} us "
      f"({t_masked / t_dense:.2f}x)")

# %% [markdown]
# ## Summary
#
# - CSR stores only what survived; the kernel's cost follows the number of stored weights.
# - Dense BLAS is very fast per multiply: sparse kernels win only past a break-even sparsity
#   (see `minprune bench sparse` for the full table on your machine).
# - How the loop meets the hardware matters as much as the arithmetic: the same products,
#   kept in registers instead of memory, run several times faster at small batches.
# - At batch 1 a whole pruned network is bounded below by overhead + bytes / bandwidth. A
#   gather per weight keeps a sparse product far above it; the sliced layout trades padding
#   for SIMD (16 weights per step, inputs picked from registers) and follows its bytes.
#   A masked model costs what the dense one costs (more, in training mode).
# - Structured pruning (lesson 07) needs no special kernel at all: a smaller dense layer is
#   fast everywhere. Unstructured pruning reaches higher sparsity at the same accuracy, but
#   pays off only with kernels like these, and only beyond the break-even point.
#
# ## Exercises
#
# 1. Time batch 1 (the matrix-vector kernel) at 50%, 80% and 95%. Why is the break-even
#    sparsity higher for one sample than for 64? Check: at each sparsity the kernel's output
#    equals the dense product (`np.testing.assert_allclose`); the times are yours to read.
# 2. Run the kernel with `kernels.set_threads(2)`. When does the second thread help? Check:
#    the two-thread output equals the one-thread output exactly.
# 3. Numba leaves LLVM's straight-line (SLP) vectorizer off by default; `kernels._with_slp`
#    turns it on for these kernels. Compile the register kernel without it,
#    `numba.njit(kernels.csr_matmul_8)`, and time it at batch 8 against `matmul`. What is
#    left of the register kernel's advantage, and why? Check: the kernel compiled without
#    the vectorizer computes the same product.
#
# All three are worked and checked in `lessons/solutions/10_sparse_kernels_with_numba.py`.
