# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 03: convolutions with im2col
#
# **Goal.** See a convolution as one matrix product: unfold every receptive field into a row
# (im2col), multiply by the filters, fold gradients back (col2im). Then see why the *memory
# layout* of those rows decides the speed, see a *pruned* convolution skip the unfolding
# altogether (a direct sparse convolution), and train LeNet-5.

# %%
import os
import time

import numpy as np

from matplotlib.patches import Rectangle

from minprune import Tensor, functional as F, models, viz
from minprune.autograd.columns import windows
from minprune.nn import evaluate, fit, optim

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Convolution, the slow way
#
# Output (n, o, i, j) is the sum over channels c and taps (p, q) of
# x[n, c, i·s + p, j·s + q] · w[o, c, p, q] (PyTorch computes this cross-correlation).

# %%
def conv_loops(x, w):
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    out = np.zeros((n, o, h - k + 1, wd - k + 1))
    for i in range(h - k + 1):
        for j in range(wd - k + 1):
            patch = x[:, :, i:i + k, j:j + k]                     # (n, c, k, k)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


x = rng.standard_normal((2, 3, 8, 8))
w = rng.standard_normal((4, 3, 3, 3))
reference = conv_loops(x, w)
assert np.allclose(F.conv2d(x, w).data, reference)
print("minprune's conv2d equals the loops:", reference.shape)

# %% [markdown]
# ## 2. im2col: one row per output position
#
# Stack every 3x3x3 patch as a row: 2 images x 6 x 6 positions = 72 rows of 27 numbers. The
# convolution is then `cols @ W2ᵀ` with the filters flattened the same way.

# %%
x_nhwc = x.transpose(0, 2, 3, 1)                                 # channels last
cols = windows(x_nhwc, 3, 3, 1, 6, 6).reshape(2 * 6 * 6, 3 * 3 * 3)
W2 = w.transpose(0, 2, 3, 1).reshape(4, 27)                      # same (kh, kw, c) order
out = (cols @ W2.T).reshape(2, 6, 6, 4).transpose(0, 3, 1, 2)
print("cols:", cols.shape, " W2:", W2.shape)
assert np.allclose(out, reference)

# %% [markdown]
# The picture, on one 4x4 image and a 2x2 kernel: each of the 3x3 output positions takes one
# window of the image (left), and im2col writes that window out as one row (right). The
# highlighted window is row 4 of the matrix; neighbouring windows overlap, so every pixel
# inside the image appears in up to four rows.

# %%
small = np.arange(1, 17, dtype=np.float64).reshape(1, 4, 4, 1)          # NHWC, one channel
small_cols = windows(small, 2, 2, 1, 3, 3).reshape(9, 4)
fig = viz.new_figure(8, 3.4)
left, right = fig.subplots(1, 2, width_ratios=[1, 1.1])
left.imshow(small[0, :, :, 0], cmap="Blues", alpha=0.35)
for (i, j), v in np.ndenumerate(small[0, :, :, 0]):
    left.text(j, i, f"{v:.0f}", ha="center", va="center")
left.add_patch(Rectangle((0.5, 0.5), 2, 2, fill=False, edgecolor="crimson", linewidth=2.5))
left.set(title="image 4x4, window at output (1, 1)", xticks=[], yticks=[])
right.imshow(np.zeros_like(small_cols), cmap="Greys", vmin=0, vmax=1)
for (i, j), v in np.ndenumerate(small_cols):
    right.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8,
               color="crimson" if i == 4 else "black")
right.add_patch(Rectangle((-0.5, 3.5), 4, 1, fill=False, edgecolor="crimson", linewidth=2.5))
right.set(title="im2col: 9 rows (positions) x 4 (window)", xticks=[], yticks=range(9),
          ylabel="output position")
viz.save_png(fig, "03_im2col.png")
assert small_cols[4].tolist() == [6, 7, 10, 11]                      # the highlighted window
assert np.bincount(small_cols.astype(int).ravel(), minlength=17)[6] == 4

# %% [markdown]
# ## 3. The backward pass is two more products and a fold
#
# With G the output gradient as a (rows, filters) matrix: dW2 = Gᵀ·cols, and dcols = G·W2;
# col2im adds each row of dcols back to the pixels it came from (overlapping patches add up).
# `check_grad` confirms minprune's implementation, stride and padding included.

# %%
from minprune.autograd.gradcheck import check_grad

err = check_grad(lambda a, b: F.conv2d(a, b, stride=2, padding=1), x[:1], w)
print(f"conv2d gradient check: max error {err:.1e}")
assert err < 1e-6

# %% [markdown]
# ## 4. Layout decides speed
#
# Unfolding copies data. If channels are the innermost (contiguous) axis, each tap of a patch
# copies C neighbouring numbers at once; in NCHW each tap copies a single number. minprune keeps
# activations channels-last in memory while showing NCHW shapes.

# %%
def time_it(fn, repeat):
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


big = rng.standard_normal((32, 20, 12, 12)).astype(np.float32)   # LeNet-5's second conv input
nchw = lambda: np.lib.stride_tricks.sliding_window_view(big, (5, 5), axis=(2, 3)) \
    .transpose(0, 2, 3, 1, 4, 5).reshape(-1, 500)
nhwc_array = np.ascontiguousarray(big.transpose(0, 2, 3, 1))
nhwc = lambda: windows(nhwc_array, 5, 5, 1, 8, 8).reshape(-1, 500)
repeat = 5 if QUICK else 50
t_nchw, t_nhwc = time_it(nchw, repeat), time_it(nhwc, repeat)
print(f"im2col from NCHW {t_nchw * 1e3:.2f} ms, from NHWC {t_nhwc * 1e3:.2f} ms "
      f"({t_nchw / t_nhwc:.1f}x)")
assert nchw().shape == nhwc().shape == (32 * 8 * 8, 500)

# %% [markdown]
# ## 5. A direct sparse convolution
#
# When most filter weights are zero, unfolding every receptive field is wasted work: im2col
# copies k·k·C numbers per output pixel, and the product then multiplies most of them by zero.
# A *direct sparse convolution* (Park et al. 2017) turns the loops around. Each stored weight
# w of output channel o, input channel c and tap (i, j) is applied, in one sweep, to the
# window of channel c shifted by (i, j):
#
# $$\text{out}[o] \mathrel{+}= w \cdot x[c,\; i : i + OH,\; j : j + OW].$$
#
# No columns are built; the work is one multiply-add per stored weight and output pixel. On a
# small example, by hand:

# %%
own = np.random.default_rng(5)                     # its own numbers: the lesson's rng is LeNet's
x = own.standard_normal((2, 6, 6))                 # 2 channels, 6x6 (one sample, CHW)
filters = own.standard_normal((3, 2, 3, 3))         # 3 filters of 3x3 over 2 channels
filters[own.random(filters.shape) < 0.8] = 0        # 80% of the weights pruned
out = np.zeros((3, 4, 4))
for o, c, i, j in zip(*np.nonzero(filters)):        # one sweep per stored weight
    out[o] += filters[o, c, i, j] * x[c, i:i + 4, j:j + 4]
reference = F.conv2d(Tensor(x[None]), Tensor(filters)).data[0]
print(f"{np.count_nonzero(filters)} stored weights of {filters.size}; largest difference "
      f"from the im2col convolution {np.abs(out - reference).max():.1e}")
assert np.allclose(out, reference)

# %% [markdown]
# The inference plan keeps images feature-major, (C, H, W, N), so that the innermost loop of
# that sweep runs over the batch (or, for one sample, along an output row). Its kernel takes
# the weights as (channel, tap row, tap column, value) entries per output channel: the same
# numbers, on a batch of 5.

# %%
from minprune.infer import direct

batch = own.standard_normal((5, 2, 6, 6))
matrix = filters.transpose(0, 2, 3, 1).reshape(3, -1)  # (out, kh·kw·C), the lowered layout
entries = direct.taps(matrix, 3, 2)
got = direct.direct_conv(np.ascontiguousarray(batch.transpose(1, 2, 3, 0)), *entries,
                         np.zeros(3), 1, 0, False, np.empty((3, 4, 4, 5)))
expected = F.conv2d(Tensor(batch), Tensor(filters)).data
assert np.allclose(got.transpose(3, 0, 1, 2), expected)
dense_macs, sparse_macs = 3 * 2 * 9 * 16, len(entries[4]) * 16
print(f"multiply-adds per sample: {dense_macs} dense, {sparse_macs} direct sparse "
      f"({dense_macs / sparse_macs:.1f}x fewer), and no {16}x{18} matrix of columns")
assert sparse_macs < dense_macs / 3

# %% [markdown]
# `direct_conv` is the sweep as written above, for reading. The plan runs a faster form of it,
# `direct_conv_padded`, with two changes that each cut the passes over memory. The input is
# padded once beforehand, so every stored weight reads a whole window and needs no bounds of
# its own; then four weights of a filter are applied in one pass, `out += w0·x0 + w1·x1 +
# w2·x2 + w3·x3`, reading and writing the output once for four weights instead of four times.
# (At one sample it also sums a filter's output over *wide* rows - each row taken over the
# full padded width - so that each weight's window is one contiguous run.) Same numbers:

# %%
padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)))           # zeros around each image
padded = np.ascontiguousarray(padded.transpose(1, 2, 3, 0))         # (C, H + 2, W + 2, N)
fast = direct.direct_conv_padded(padded, *entries, np.zeros(3), 1, False,
                                 np.empty(padded[0].size), np.empty((3, 6, 6, 5)))
expected_padded = F.conv2d(Tensor(batch), Tensor(filters), padding=1).data
print(f"largest difference from the im2col convolution (padding 1): "
      f"{np.abs(fast.transpose(3, 0, 1, 2) - expected_padded).max():.1e}")
assert np.allclose(fast.transpose(3, 0, 1, 2), expected_padded)

# %% [markdown]
# At one sample there is a neater trick. The window of tap (i, j) is OH rows of OW numbers,
# not one run - unless the input is first copied k times, the j-th copy shifted left by j
# columns and cut to OW columns (`shifted.shift_copies`). Then the window of (c, i, j) is
# rows i to i + OH of copy j: OH·OW numbers *in a row*, laid out exactly as one output
# channel's image. k copies where im2col makes k·k, and every stored weight is one
# multiply-add over a contiguous run (`shifted.conv_shifted` does it four registers of
# output pixels at a time). The plan times it beside the other ways at one sample.

# %%
from minprune.infer import shifted

one = batch[0]                                                      # (C, H, W)
copies = shifted.shift_copies(one, 1, np.zeros(shifted.copies_shape(2, 6, 6, 3, 1)))
print(f"shifted copies: {copies.shape} (k, C, H + 2, OW)")
i, j, c = 2, 1, 0                                                   # one tap of channel 0
window = copies[j, c, i:i + 6].ravel()                              # one run of 36 numbers
framed = np.pad(one, ((0, 0), (1, 1), (1, 1)))                      # padding 1 around each
assert np.array_equal(window, framed[c, i:i + 6, j:j + 6].ravel())
stored = filters.transpose(0, 2, 3, 1).reshape(3, -1)               # (out, kh·kw·C)
indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(stored, axis=1))])
columns = np.nonzero(stored)[1]
offsets = shifted.entries(columns, 3, 2, *copies.shape[2:])
swept = shifted.conv_shifted(copies, indptr, offsets, stored[stored != 0], np.zeros(3), False,
                             np.empty((3, 6, 6)))
assert np.allclose(swept, expected_padded[0])

# %% [markdown]
# The same reading pays for dense filters too, where the columns cost as much to copy as the
# product takes (few input channels, one sample): `direct_dense` applies *all* nine taps of a
# 3x3 filter, for four filters at once, in one pass - it loads the nine shifted windows of a
# channel once and does 36 multiply-adds per output pixel with them. The plan times it beside
# im2col + GEMM and keeps whichever is faster for each layer and batch size. Here, with the
# filters unpruned:

# %%
from minprune.infer import direct_dense

dense_filters = own.standard_normal((3, 2, 3, 3))
lowered = dense_filters.transpose(0, 2, 3, 1).reshape(3, -1)        # (out, kh·kw·C)
four = direct_dense.filters(lowered, 3, 2)                          # padded to 4 filters
print(f"filters as the kernel reads them: {four.shape} (out rounded up to four, C, k·k)")
rows = 6                                                            # one band of all rows
made = direct_dense.direct_dense(padded, four, np.zeros(3), False, rows,
                                 np.empty((4, rows * 8 * 5)), np.empty((3, 6, 6, 5)))
expected_dense = F.conv2d(Tensor(batch), Tensor(dense_filters), padding=1).data
assert np.allclose(made.transpose(3, 0, 1, 2), expected_dense)

# %% [markdown]
# `direct_dense` still keeps its sums in memory: each pass adds one channel's taps into rows
# of sums held in the cache, and reads and writes them again for the next channel. A matrix
# product's inner kernel does better - it keeps a small block of the output in the CPU's
# SIMD registers while the whole sum over the inputs is taken, and writes it once. The
# plan's fastest dense way does the same for a convolution (`tiles.conv_tiles`): a *tile* is
# eight filters at one output pixel and two registers of samples (16 float32 samples each).
# For every input channel and tap it loads the two registers of samples under that tap and
# multiplies them by the eight filters' weights there - 16 fused multiply-adds for 2 loads -
# and only at the end adds the bias and writes the 16 registers out. (`minprune.vec` makes a
# register a Numba value; LLVM keeps those 16 values in registers.) No columns, no sums in
# memory, any filter size and stride:

# %%
from minprune.infer import tiles

eight = tiles.filters8(lowered, 3, 2)                     # (groups of 8 filters, C, k, k, 8)
print(f"filters as the tiles read them: {eight.shape}")
tiled = tiles.conv_tiles(padded, eight, np.zeros(3), 1, False, np.empty((3, 6, 6, 5)))
assert np.allclose(tiled.transpose(3, 0, 1, 2), expected_dense)
strided = tiles.conv_tiles(padded, eight, np.zeros(3), 2, False, np.empty((3, 3, 3, 5)))
assert np.allclose(strided.transpose(3, 0, 1, 2),
                   F.conv2d(Tensor(batch), Tensor(dense_filters), stride=2, padding=1).data)

# %% [markdown]
# ### Fewer multiplications: Winograd's minimal filtering
#
# Two outputs of a 3-tap filter g over four inputs d take six multiplications done directly.
# Winograd (as Lavin & Gray 2016 brought it to convolutional networks) takes four: transform
# the filter once (G g), the inputs with additions only (Bᵀ d), multiply the four pairs, and
# add them back into two outputs (Aᵀ m). Nested in two dimensions, a 2x2 block of outputs
# of a 3x3 filter takes 16 multiplications instead of 36; summed over input channels, the 16
# products become 16 matrix products. `infer.winograd` runs it for the plan's 3x3 stride-1
# convolutions (its NumPy twin, below, is the readable one).

# %%
from minprune.infer import winograd

g, d = np.array([1.0, -2.0, 0.5]), np.array([3.0, 1.0, 4.0, 1.0])
m = (winograd.G @ g) * (winograd.BT @ d)                   # four multiplications
two = winograd.AT @ m
print("Winograd:", two, " direct:", np.correlate(d, g, "valid"))
assert np.allclose(two, np.correlate(d, g, "valid"))

u = winograd.filters(lowered, 2)                           # (16, groups of 8, C, 8)
fast = winograd.conv_winograd_numpy(padded, u, np.zeros(3), False, np.zeros((0, 0, 0, 0)),
                                    np.empty((3, 6, 6, 5)))
assert np.allclose(fast.transpose(3, 0, 1, 2), expected_dense)

# %% [markdown]
# ## 6. Pooling
#
# Max pooling keeps the largest value of each window; its gradient goes to the first maximum
# (as in PyTorch). Average pooling spreads the gradient evenly.

# %%
img = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
pooled = F.max_pool2d(img, 2)
pooled.sum().backward()
print(pooled.data[0, 0])
print(img.grad[0, 0])
assert pooled.data[0, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]
assert img.grad.sum() == 4

# %% [markdown]
# ## 7. LeNet-5 on a small image task
#
# Two conv layers, two max-pools, two fully connected layers: 431,080 parameters. Our task:
# 28x28 images showing a horizontal bar, a vertical bar, a cross, or a box, at random positions
# with noise.

# %%
def shapes(n, rng):
    X = 0.3 * rng.random((n, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 4, n)
    for k in range(n):
        r, c, L = rng.integers(4, 14), rng.integers(4, 14), rng.integers(8, 14)
        if y[k] in (0, 2):
            X[k, 0, r + L // 2, c:c + L] = 1
        if y[k] in (1, 2):
            X[k, 0, r:r + L, c + L // 2] = 1
        if y[k] == 3:
            X[k, 0, r, c:c + L] = X[k, 0, r + L, c:c + L] = 1
            X[k, 0, r:r + L, c] = X[k, 0, r:r + L, c + L] = 1
    return X, y


n_train = 1500 if QUICK else 4000
X_train, y_train = shapes(n_train, rng)
X_test, y_test = shapes(400, rng)
net = models.lenet5(rng=rng)
print(f"LeNet-5 parameters: {sum(p.size for p in net.parameters()):,}")
assert sum(p.size for p in net.parameters()) == 431_080
history = fit(net, X_train, y_train, epochs=3 if QUICK else 5,
              optimizer=optim.SGD(net.parameters(), lr=0.05, momentum=0.9), batch_size=32,
              rng=rng)
acc = evaluate(net, X_test, y_test)["accuracy"]
print(f"test accuracy {acc:.3f}")
assert history["loss"][-1] < history["loss"][0]
assert acc > 0.95

# %% [markdown]
# ## Summary
#
# - im2col turns convolution into a matrix product; col2im folds its gradient back.
# - The copy into columns is the price; a channels-last layout makes it cheap.
# - A pruned convolution can skip the columns: each stored weight sweeps a shifted window;
#   so can a dense one, many taps and filters per sweep.
# - Winograd's minimal filtering trades multiplications for additions: 16 instead of 36 per
#   2x2 block of a 3x3 convolution's outputs.
# - Pooling's backward routes gradient to the winners (max) or spreads it (average).
#
# ## Exercises
#
# 1. Derive the output size formula (H + 2p − k) // s + 1 from the loops in section 1.
#    Check: it matches `F.conv2d`'s output for several sizes, strides and paddings.
# 2. Time `F.conv2d` on NCHW-contiguous input against the same data channels-last in memory.
#    Check: both give the same result (the times are yours to read).
# 3. Which layer of LeNet-5 holds most parameters? Most multiply-adds? (Pruning cares about
#    both.) Check: `lessons/solutions/03_convolutions_with_im2col.py`, like the other two.
