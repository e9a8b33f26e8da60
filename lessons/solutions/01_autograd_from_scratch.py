# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 01's exercises

# %%
import numpy as np

from minprune import Tensor, functional as F
from minprune.autograd.gradcheck import check_grad

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A primitive `sin`
#
# A primitive is a forward value and the local derivative beside it: d sin(a) = cos(a) da.
# Written here as a function of the same shape as those in `ops.py` (add it there, and a
# `Tensor.sin` method that calls it, to make it part of the library).

# %%
def sin(a):
    def backward(grad):
        return (grad * np.cos(a.data),)
    return Tensor(np.sin(a.data), parents=(a,), backward_fn=backward)


x = rng.standard_normal((3, 4))
error = check_grad(lambda t: sin(t * t), x)     # composed with another op: the chain rule
print(f"largest difference from central differences: {error:.2e}")
assert error < 1e-7

# %% [markdown]
# ## 2. Why `log_softmax` subtracts the maximum
#
# exp(1000) overflows float64 (its largest value is about exp(709.8)): the naive formula
# gives inf / inf = nan. Subtracting the maximum changes nothing mathematically (it cancels
# between the numerator and the sum) and makes the largest exponent exp(0) = 1.

# %%
logits = np.array([[1000.0, 999.0, 0.0]])
with np.errstate(over="ignore", invalid="ignore"):
    naive = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
stable = F.log_softmax(Tensor(logits)).data
print("naive:", naive, " stable:", stable)
assert np.isnan(naive).any() or np.isinf(naive).any()
assert np.all(np.isfinite(stable))
np.testing.assert_allclose(stable, F.log_softmax(Tensor(logits - 1000)).data)   # shift-free

# %% [markdown]
# ## 3. A `max` whose gradient goes to the first maximum
#
# The two agree whenever the maximum is unique; with ties `Tensor.max` shares the gradient
# equally between the tied entries (as `torch.amax`), the first-winner version gives it all
# to one (as `torch.max` with indices, or `argmax`).

# %%
def max_first(a):
    k = int(np.argmax(a.data))
    def backward(grad):
        g = np.zeros_like(a.data)
        g.flat[k] = grad
        return (g,)
    return Tensor(a.data.flat[k], parents=(a,), backward_fn=backward)


for values in ([1.0, 3.0, 2.0], [1.0, 3.0, 3.0]):
    a = Tensor(np.array(values), requires_grad=True)
    b = Tensor(np.array(values), requires_grad=True)
    max_first(a).backward()
    b.max().backward()
    print(values, "first:", a.grad, " shared:", b.grad)
    assert np.array_equal(a.grad, b.grad) == (values.count(max(values)) == 1)
assert check_grad(lambda t: max_first(t), np.array([1.0, 3.0, 2.0])) < 1e-7
