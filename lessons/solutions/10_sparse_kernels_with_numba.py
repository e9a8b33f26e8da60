# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 10's exercises

# %%
import numba
import numpy as np

from minprune.sparse import CSR, kernels
from minprune.timing import median_time, one_thread

rng = np.random.default_rng(0)


def sparse_matrix(sparsity, shape=(300, 784)):
    w = rng.standard_normal(shape).astype(np.float32)
    return w * (rng.random(shape) >= sparsity)

# %% [markdown]
# ## 1. One sample at 50%, 80% and 95%
#
# With one sample every stored weight costs a gather of its input and feeds one sum; dense
# BLAS streams the whole matrix but wastes nothing on indices. The gathers are the price,
# which is why one sample needs more sparsity to break even than 64, where each gathered
# input row serves 64 samples.

# %%
x = rng.standard_normal((784, 1)).astype(np.float32)
with one_thread():
    for sparsity in (0.5, 0.8, 0.95):
        w = sparse_matrix(sparsity)
        c = CSR.from_dense(w)
        out = np.empty((300, 1), np.float32)
        kernels.matmul(c.indptr, c.indices, c.values, x, out)
        np.testing.assert_allclose(out, w @ x, rtol=1e-4, atol=1e-4)
        t_sparse = median_time(lambda: kernels.matmul(c.indptr, c.indices, c.values, x, out))
        t_dense = median_time(lambda: w @ x)
        print(f"{sparsity:.0%}: CSR {t_sparse * 1e6:.1f} us, dense {t_dense * 1e6:.1f} us "
              f"({t_dense / t_sparse:.2f}x)")

# %% [markdown]
# ## 2. Two threads
#
# The parallel kernel splits the output rows between the threads; each row is summed in the
# same order as before, so the result is the same to the last bit. A product smaller than
# `kernels.PARALLEL_MIN_WORK` multiply-adds stays serial anyway: starting the pool would cost
# more than the work.

# %%
w = sparse_matrix(0.9, (2000, 4000))
c = CSR.from_dense(w)
xt = rng.standard_normal((4000, 256)).astype(np.float32)
one = np.empty((2000, 256), np.float32)
kernels.matmul(c.indptr, c.indices, c.values, xt, one)
kernels.set_threads(2)
try:
    two = np.empty_like(one)
    kernels.matmul(c.indptr, c.indices, c.values, xt, two)
finally:
    kernels.set_threads(1)
np.testing.assert_array_equal(two, one)
print(f"{c.nnz * 256:,} multiply-adds: parallel from {kernels.PARALLEL_MIN_WORK:,}; "
      f"two threads, same bits")

# %% [markdown]
# ## 3. The register kernel without the SLP vectorizer
#
# Compiled plainly, the eight sums of a row are still eight local variables, but LLVM no
# longer packs them into one SIMD register: each update is eight scalar multiply-adds. The
# product is the same; most of the kernel's advantage at batch 8 was the packing.

# %%
plain = numba.njit(kernels.csr_matmul_8)
w = sparse_matrix(0.9)
c = CSR.from_dense(w)
xt8 = rng.standard_normal((784, 8)).astype(np.float32)
with_slp, without = np.empty((300, 8), np.float32), np.empty((300, 8), np.float32)
kernels.matmul(c.indptr, c.indices, c.values, xt8, with_slp)
plain(c.indptr, c.indices, c.values, xt8, without, np.float32(0))
np.testing.assert_allclose(without, with_slp, rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(without, w @ xt8, rtol=1e-4, atol=1e-4)
with one_thread():
    t_slp = median_time(lambda: kernels.matmul(c.indptr, c.indices, c.values, xt8, with_slp))
    t_plain = median_time(lambda: plain(c.indptr, c.indices, c.values, xt8, without,
                                        np.float32(0)))
print(f"batch 8: with the vectorizer {t_slp * 1e6:.1f} us, without {t_plain * 1e6:.1f} us")
