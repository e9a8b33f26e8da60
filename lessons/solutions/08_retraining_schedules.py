# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Solutions to lesson 08's exercises

# %%
import os

import numpy as np

from minprune import Tensor, models, no_grad, prune, zoo
from minprune.nn import evaluate, fit, optim
from minprune.prune import schedules

QUICK = os.environ.get("MINPRUNE_QUICK") == "1"
TARGET = 0.95
EPOCHS = 2 if QUICK else 4
(X, y), validation, (X_test, y_test) = zoo.dataset(quick=QUICK)
trained = zoo.trained("lenet_300_100", quick=QUICK).state_dict()


def fresh():
    net = models.lenet_300_100(rng=0)
    net.load_state_dict(trained)
    return net


def sgd(params):
    return optim.SGD(params, lr=0.02, momentum=0.9)


def test_accuracy(net):
    return evaluate(net, X_test, y_test)["accuracy"]

# %% [markdown]
# ## 1. Twice the budget
#
# Every schedule gets `2 * EPOCHS` epochs. Whichever gains most, each network must still be
# exactly 95% sparse, and the iterative schedule now runs twice as many rounds.

# %%
budget = 2 * EPOCHS
gained = {}
net = fresh()
schedules.one_shot(net, X, y, TARGET, epochs=budget, optimizer=sgd, rng=0, progress=False)
gained["one-shot"] = test_accuracy(net)
assert abs(prune.weight_sparsity(net) - TARGET) < 1e-3
net = fresh()
it = schedules.iterative(net, X, y, TARGET, steps=budget, epochs_per_step=1, optimizer=sgd,
                         rng=0, progress=False)
gained["iterative"] = test_accuracy(net)
assert abs(prune.weight_sparsity(net) - TARGET) < 1e-3
assert len(it.rounds) == 2 * EPOCHS                  # twice the rounds of the lesson's run
net = fresh()
steps = budget * int(np.ceil(len(X) / 64))
end = max(int(0.75 * steps), 2)
fit(net, X, y, epochs=budget, optimizer=sgd(net.parameters()), rng=0, progress=False,
    callbacks=[schedules.GradualPruning(TARGET, begin=0, end=end, every=max(end // 20, 1))])
gained["gradual"] = test_accuracy(net)
assert abs(prune.weight_sparsity(net) - TARGET) < 1e-3
print(", ".join(f"{k} {v:.4f}" for k, v in gained.items()))

# %% [markdown]
# ## 2. Late rewinding
#
# With `rewind_epoch=1` the survivors go back to their values after the first epoch of
# training, not to their initial ones: `rewind_state` must differ from the initialisation.

# %%
ticket = models.lenet_300_100(rng=1)
initial = models.lenet_300_100(rng=1).state_dict()
lt = schedules.lottery_ticket(ticket, X, y, TARGET, rounds=2, epochs=2, rewind_epoch=1,
                              optimizer=sgd, rng=0, progress=False)
moved = [name for name in initial
         if not np.array_equal(lt.rewind_state[name], initial[name])]
print(f"ticket at {TARGET:.0%}: {test_accuracy(ticket):.4f}; rewound weights differ from the "
      f"initial ones in {len(moved)} of {len(initial)} tensors")
assert moved and abs(prune.weight_sparsity(ticket) - TARGET) < 1e-3

# %% [markdown]
# ## 3. Units with the iterative schedule, then compacted
#
# The compacted network computes what the masked one computes - checked on the test images -
# with far fewer weights.

# %%
net = fresh()
schedules.iterative(net, X, y, 0.75, steps=2, epochs_per_step=1, optimizer=sgd,
                    granularity="unit", rng=0, progress=False)
small = prune.compact(net)
with no_grad():
    masked_out = net.eval()(Tensor(X_test[:256])).data
    small_out = small.eval()(Tensor(X_test[:256])).data
np.testing.assert_allclose(small_out, masked_out, atol=1e-4)
before = sum(p.size for p in net.parameters())
after = sum(p.size for p in small.parameters())
print(f"compacted: {after:,} of {before:,} weights ({before / after:.1f}x fewer)")
assert after < 0.5 * before
