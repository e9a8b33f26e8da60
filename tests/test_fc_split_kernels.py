"""A fully connected plan's batch in one compiled call (``infer.fc_split``): the chain on one
thread and split over threads against its NumPy twin and the layers' products, and the plan
that runs it; CI runs this file a second time with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from minprune import infer, models, prune, sparse, threads
from minprune.infer import fc_split as FS

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def _layers(rng, sizes, dtype, with_bias):
    return [(rng.standard_normal((r, f)).astype(dtype),
             rng.standard_normal(r).astype(dtype) if with_bias else None, relu)
            for (f, r), relu in zip(zip(sizes, sizes[1:]),
                                    [True] * (len(sizes) - 2) + [False])]


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=2, max_size=4),
       n=st.one_of(st.integers(0, 40), st.sampled_from([64, 65])),
       parts=st.integers(1, 3), dtype=st.sampled_from([np.float32, np.float64]),
       with_bias=st.booleans(), seed=st.integers(0, 2 ** 16))
@example(sizes=[784, 300, 100, 10], n=64, parts=2, dtype=np.float32, with_bias=True,
         seed=0)                                                       # LeNet-300-100's
def test_the_chain_is_the_layers_products(sizes, n, parts, dtype, with_bias, seed):
    """Every sample through every layer, however the batch is split: the products with the
    bias and ReLU (float64 sums), the twin the same."""
    rng = np.random.default_rng(seed)
    layers = _layers(rng, sizes, dtype, with_bias)
    x = rng.standard_normal((n, sizes[0])).astype(dtype)
    chain = FS.SplitChain(layers, dtype)
    got = chain(x, parts)
    h = x.astype(np.float64).T
    for w, b, relu in layers:
        h = w @ h + (b[:, None] if b is not None else 0)
        h = np.maximum(h, 0) if relu else h
    tol = TOL[dtype] * np.sqrt(max(sizes)) * 4
    assert got.shape == (n, sizes[-1]) and got.dtype == dtype
    np.testing.assert_allclose(got, h.T, rtol=tol, atol=tol)
    twin = FS.chain_split_numpy(x, chain.filters, chain.biases, chain.relus, chain.rows, None,
                                np.empty_like(got))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)


def test_a_fully_connected_plan_runs_the_chain_on_one_thread_and_split_on_two(rng):
    """A dense fully connected plan times the chain against its steps on one thread and
    splits the batch over two: the model's outputs every way; a plan with a sparse layer
    keeps its steps (the chain is dense)."""
    model = models.lenet_300_100(rng=0).eval()
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    want = model(x).data
    plan = infer.compile(model)
    np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
    assert 40 in plan._fc_ways                          # chain or steps: timed
    for chain in (False, True):
        plan._fc_ways[40] = chain
        np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
    threads.set_threads(2)
    try:
        np.testing.assert_allclose(plan._threaded(x), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
        assert (40, 2) in plan._solo                    # two threads timed against one
    finally:
        threads.set_threads(1)
    pruned = models.lenet_300_100(rng=0)
    prune.prune(pruned, 0.9, "magnitude", "weight", "global")
    plan = infer.compile(sparse.to_sparse(pruned, min_sparsity=0.0).eval())
    assert not FS.SplitChain.fits(plan._chain_layers)
    plan(x)
    assert plan._split_chain is None
