# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Lesson 01: autograd from scratch
#
# **Goal.** Understand how a network's gradients are computed: every operation records its
# inputs and the local rule for its derivative, and one backward walk over that graph applies
# the chain rule. By the end you can read `minprune/autograd/` and check any gradient against
# finite differences.

# %%
import os

import numpy as np

from minprune import Tensor, functional as F, no_grad, viz
from minprune.autograd.engine import topological_order
from minprune.autograd.gradcheck import check_grad

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The chain rule by hand
#
# Take f(x, y) = (x·y + y)². Name the intermediate values: a = x·y, b = a + y, f = b².
# Going backwards: ∂f/∂b = 2b, ∂f/∂a = ∂f/∂b, ∂f/∂y = ∂f/∂b·(x + 1), ∂f/∂x = ∂f/∂b·y.

# %%
x, y = 3.0, -2.0
a = x * y
b = a + y
f = b ** 2
df_db = 2 * b
df_dx = df_db * y
df_dy = df_db * x + df_db              # y feeds a (through x·y) and b directly: paths add up
print(f"f = {f}, df/dx = {df_dx}, df/dy = {df_dy}")

# %% [markdown]
# ## 2. The same with Tensors
#
# A `Tensor` remembers its `parents` and a `backward_fn` that turns the gradient of its output
# into gradients for each parent. `backward()` visits the graph in reverse topological order.

# %%
tx = Tensor(np.array(x), requires_grad=True, dtype=np.float64)
ty = Tensor(np.array(y), requires_grad=True, dtype=np.float64)
tf = (tx * ty + ty) ** 2
tf.backward()
print("autograd:", tx.grad, ty.grad)
assert np.isclose(tx.grad, df_dx) and np.isclose(ty.grad, df_dy)

# %% [markdown]
# The order of the walk: every node comes after its parents, so reversed it visits a node only
# when all the gradient that flows into it has arrived.

# %%
order = topological_order(tf)
print([tuple(n.shape) or float(n.data) for n in order])
assert order[0] is tx or order[0] is ty
assert order[-1] is tf
# The graph itself: each box is a tensor, with the value the forward pass computed and its
# gradient ∂f/∂(box). autograd keeps gradients for the inputs only; the inner ones are the
# hand-computed ∂f/∂b = ∂f/∂a = 2b of section 1. y feeds two boxes: its gradient is the sum
# of what flows back along both arrows.
mul_node, add_node = order[2], order[3]
viz.computation_graph(tf, "01_graph.png", names={id(tx): "x", id(ty): "y"},
                      grads={id(mul_node): df_db, id(add_node): df_db, id(tf): 1.0},
                      title="f = (x·y + y)²: values forward, gradients backward")
assert len(order) == 5 and sum(ty in n.parents for n in order) == 2

# %% [markdown]
# ## 3. Look inside one primitive
#
# Every primitive in `minprune/autograd/ops.py` is its forward with the calculus of its backward
# beside it. Here is `matmul`: dL/dA = G Bᵀ and dL/dB = Aᵀ G.

# %%
import inspect

from minprune.autograd import ops

print(inspect.getsource(ops.matmul))

# %% [markdown]
# ## 4. Broadcasting and its adjoint
#
# Adding a bias of shape (3,) to a batch of shape (4, 3) copies the bias four times. Its
# gradient is therefore the *sum* of the four copies' gradients: the engine un-broadcasts in one
# place for every operation.

# %%
X = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
bias = Tensor(np.zeros(3), requires_grad=True)
(X + bias).sum().backward()
print("bias gradient:", bias.grad)
assert bias.grad.shape == (3,) and np.allclose(bias.grad, 4.0)

# %% [markdown]
# ## 5. Checking gradients numerically
#
# A central difference (f(x+ε) − f(x−ε)) / 2ε approximates each partial derivative with error
# O(ε²). `check_grad` compares it with autograd for every input entry (use float64).

# %%
W = rng.standard_normal((5, 3))
inputs = rng.standard_normal((4, 3))
labels = np.array([0, 2, 4, 1])
err = check_grad(lambda w, x: F.cross_entropy(F.linear(x, w), labels), W, inputs)
print(f"largest difference between autograd and finite differences: {err:.2e}")
assert err < 1e-6

# %% [markdown]
# And a wrong backward is caught: this "square" forgets the factor 2.

# %%
def bad_square(t):
    return Tensor(t.data ** 2, parents=(t,), backward_fn=lambda g: (g * t.data,))


try:
    check_grad(bad_square, rng.standard_normal(3))
    raise RuntimeError("the check should have failed")
except AssertionError as exc:
    print("caught:", exc)

# %% [markdown]
# ## 6. Deep graphs need no recursion
#
# The walk is iterative, so a chain of thousands of operations is fine.

# %%
n_ops = 2_000 if QUICK else 20_000
t = Tensor(np.array(1.0), requires_grad=True, dtype=np.float64)
out = t
for _ in range(n_ops):
    out = out * 1.0001
out.backward()
print(f"d(1.0001^{n_ops} t)/dt = {t.grad:.4f}")
assert np.isclose(t.grad, 1.0001 ** n_ops)

# %% [markdown]
# ## 7. Turning the recorder off
#
# Evaluation needs no graph: `no_grad()` saves the memory and time of recording.

# %%
with no_grad():
    z = t * 2
assert not z.requires_grad
print("inside no_grad: requires_grad =", z.requires_grad)

# %% [markdown]
# ## Summary
#
# - A Tensor stores its data, its parents and a local backward rule.
# - `backward()` walks the graph once, in reverse topological order; gradients from different
#   paths add up; broadcasting is undone by summing.
# - Finite differences verify every rule; minprune's tests do this for every primitive.
#
# ## Exercises
#
# 1. Add a primitive `sin` to `ops.py` with its backward. Check: `check_grad` on
#    `lambda t: sin(t * t)` returns an error below 1e-7.
# 2. Why does `log_softmax` subtract the maximum before exponentiating? Try logits of 1000.
#    Check: the naive formula gives inf or nan there, `F.log_softmax` stays finite.
# 3. Write `max` with a gradient that goes only to the first maximum. When does it differ from
#    the shared gradient of `Tensor.max`? Check: the two gradients are equal exactly when the
#    maximum is unique.
#
# Solutions, each ending with its check: `lessons/solutions/01_autograd_from_scratch.py`.
