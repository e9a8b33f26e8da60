# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 03's exercises

# %%
import time

import numpy as np

from minprune import Tensor, functional as F, models

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The output size
#
# Pad the input to H + 2p. A k-wide window starting at row r fits while r + k <= H + 2p, and
# the starts are 0, s, 2s, ...: r = i·s for i = 0, 1, ... while i·s <= H + 2p - k, which is
# (H + 2p - k) // s + 1 values of i.

# %%
for H, k, s, p in [(28, 5, 1, 0), (28, 5, 2, 2), (7, 3, 2, 1), (10, 4, 3, 0), (5, 5, 1, 0)]:
    out = F.conv2d(Tensor(rng.standard_normal((1, 1, H, H))), Tensor(np.ones((1, 1, k, k))),
                   stride=s, padding=p)
    assert out.shape[2] == (H + 2 * p - k) // s + 1, (H, k, s, p)
print("the formula matches conv2d for every case")

# %% [markdown]
# ## 2. Memory layout
#
# Same numbers, different order in memory: the result must be identical; what changes is
# how the im2col gathers walk memory. (Timings are for you to read, never to assert: they
# depend on the machine.)

# %%
x = rng.standard_normal((64, 20, 12, 12)).astype(np.float32)
w = rng.standard_normal((50, 20, 5, 5)).astype(np.float32)
channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
assert not channels_last.flags["C_CONTIGUOUS"]
for name, data in (("NCHW", x), ("channels-last", channels_last)):
    start = time.perf_counter()
    out = F.conv2d(Tensor(data), Tensor(w)).data
    print(f"{name:>14}: {1e3 * (time.perf_counter() - start):.2f} ms")
np.testing.assert_allclose(F.conv2d(Tensor(channels_last), Tensor(w)).data,
                           F.conv2d(Tensor(x), Tensor(w)).data, rtol=1e-5, atol=1e-4)

# %% [markdown]
# ## 3. Parameters against multiply-adds in LeNet-5
#
# A fully connected layer uses each weight once per image; a convolution uses each weight
# once per output position. So the first fully connected layer (800 x 500) holds most of the
# parameters, and the second convolution (applied at 8 x 8 positions) does most of the work.

# %%
net = models.lenet5(rng=0)
params, macs = {}, {}
size = 28
for i, layer in enumerate(net):
    name = type(layer).__name__
    if name == "Conv2d":
        oc, ic, kh, kw = layer.weight.shape
        size = size - kh + 1
        params[i], macs[i] = layer.weight.size, oc * size * size * ic * kh * kw
    elif name == "MaxPool2d":
        size //= 2
    elif name == "Linear":
        params[i], macs[i] = layer.weight.size, layer.weight.size
for i in params:
    print(f"layer {i} {type(net[i]).__name__:>7}: {params[i]:>8,} weights, {macs[i]:>10,} "
          f"multiply-adds per image")
most_params, most_macs = max(params, key=params.get), max(macs, key=macs.get)
assert type(net[most_params]).__name__ == "Linear" and net[most_params].weight.shape == (500, 800)
assert type(net[most_macs]).__name__ == "Conv2d" and net[most_macs].weight.shape[0] == 50
