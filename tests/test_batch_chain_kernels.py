"""A plain stack's batch in one compiled call (``infer.batch_chain``): the call on one thread
and split over threads against its NumPy twin and the model, and its sparse fully connected
layers' kernel (``infer.sparse_blocked``) - the plan that runs it: ``test_infer``; CI runs
this file a second time with NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from helpers import conv_side

from minprune import models, nn, prune, sparse
from minprune.infer import batch_chain as BC
from minprune.infer.lower import Weighted, lower
from minprune.sparse.csr import CSR

TOL = {np.float32: 1e-4, np.float64: 1e-10}


def _stack(rng, channels, fcs, k, stride, pad, pool, dtype):
    """A Sequential of convolutions (ReLU, max pooling or not) and fully connected layers."""
    layers, c = [], channels[0]
    for c_out in channels[1:]:
        layers += [nn.Conv2d(c, c_out, k, stride, pad, rng=rng), nn.ReLU()]
        layers += [nn.MaxPool2d(pool)] if pool > 1 else []
        c = c_out
    layers += [nn.Flatten()] if len(channels) > 1 else []
    for f_in, f_out in zip(fcs, fcs[1:]):
        layers += [nn.Linear(f_in, f_out, rng=rng), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).eval()          # (no ReLU after the last layer)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model


@settings(max_examples=30, deadline=None)
@given(channels=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       size=st.integers(7, 12), k=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]),
       pad=st.integers(0, 1), pool=st.sampled_from([1, 2]), hidden=st.integers(1, 20),
       n=st.one_of(st.integers(0, 20), st.sampled_from([32, 33])), parts=st.integers(1, 3),
       dtype=st.sampled_from([np.float32, np.float64]),
       sparsity=st.sampled_from([0.0, 0.2, 0.5, 0.9]), seed=st.integers(0, 2 ** 16))
@example(channels=[1, 6, 16], size=12, k=3, stride=1, pad=0, pool=2, hidden=20, n=33,
         parts=2, dtype=np.float32, sparsity=0.0, seed=0)
@example(channels=[1, 6, 16], size=12, k=3, stride=1, pad=1, pool=2, hidden=20, n=33,
         parts=2, dtype=np.float32, sparsity=0.9, seed=0)      # sparse convolutions, pooled
@example(channels=[2, 5], size=9, k=3, stride=2, pad=1, pool=1, hidden=7, n=17,
         parts=3, dtype=np.float64, sparsity=0.9, seed=1)      # and not pooled
@example(channels=[1], size=12, k=3, stride=1, pad=0, pool=2, hidden=20, n=64, parts=2,
         dtype=np.float32, sparsity=0.9, seed=0)
def test_the_call_is_the_models_forward(channels, size, k, stride, pad, pool, hidden, n,
                                        parts, dtype, sparsity, seed):
    """Convolutions (padding, stride, pooling or not) then fully connected layers - dense, or
    CSR of a model pruned to ``sparsity`` (run as stored weights where they keep few) - or
    those alone, through the compiled call, however the batch is split: the model's
    outputs, the twin the same."""
    rng = np.random.default_rng(seed)
    side = conv_side(size, len(channels) - 1, k, stride, pad, pool)
    if side < 1:
        return
    flat = channels[-1] * side * side if len(channels) > 1 else size * size * channels[0]
    model = _stack(rng, channels, [flat, hidden, 5], k, stride, pad, pool, dtype)
    if sparsity:
        prune.prune(model, sparsity, "magnitude", "weight", "local")
        model = sparse.to_sparse(model, min_sparsity=0.0).eval()
    x = rng.standard_normal((n, channels[0], size, size)).astype(dtype)
    if len(channels) == 1:
        x = x.reshape(n, size * size * channels[0])
    ops = lower(model)
    assert BC.BatchChain.fits(ops)
    image = x.shape[1:] if x.ndim == 4 else (x.shape[1], 1, 1)
    chain = BC.BatchChain(ops, image, dtype)
    fcs = [op for op in ops if isinstance(op, Weighted) and op.conv is None]
    convs = [op for op in ops if isinstance(op, Weighted) and op.conv is not None]
    conv_below = [BC.CONV_SPARSE_BELOW[pool > 1, op.weight.shape[1] == op.conv[0] ** 2]
                  for op in convs]                  # (pooled, one input channel)
    for layers, indptrs, belows in ((fcs, chain.indptrs, [BC.SPARSE_BELOW] * len(fcs)),
                                    (convs, chain.conv_indptrs, conv_below)):
        for op, indptr, below in zip(layers, indptrs, belows):   # sparse where it keeps few
            size = op.weight.shape[0] * op.weight.shape[1]
            few = isinstance(op.weight, CSR) and op.weight.nnz < below * size
            assert (len(indptr) > 0) == few
    if sparsity == 0.9 and hidden == 20:            # (its stored weights, in their tiles)
        assert all(len(indptr) for indptr in chain.indptrs)
    got = chain(x, parts)
    want = model(x).data
    assert got.shape == want.shape and got.dtype == dtype
    tol = TOL[dtype] * (1 + np.abs(want).max(initial=0))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    twin = BC.chain_split_numpy(x.reshape(n, chain.in_features), chain, None, None,
                                np.empty_like(got))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)
    np.testing.assert_allclose(chain(x, parts), got)     # (its buffers used again)


def test_which_stacks_the_call_takes():
    """Plain stacks of dense or sparse layers, pooling after a convolution; not residual
    blocks, grouped convolutions or a pooling of its own."""
    assert BC.BatchChain.fits(lower(models.lenet5(rng=0).eval()))
    assert BC.BatchChain.fits(lower(models.lenet_300_100(rng=0).eval()))
    assert BC.BatchChain.fits(lower(models.small_vgg(rng=0).eval()))
    assert not BC.BatchChain.fits(lower(models.resnet(8, rng=0).eval()))
    pruned = models.lenet5(rng=0)
    prune.prune(pruned, 0.9, "magnitude", "weight", "global")
    assert BC.BatchChain.fits(lower(sparse.to_sparse(pruned, min_sparsity=0.0).eval()))
    assert not BC.BatchChain.fits(lower(models.mobilenet(4, rng=0).eval()))
    pruned = models.lenet_300_100(rng=0)
    prune.prune(pruned, 0.9, "magnitude", "weight", "global")
    assert BC.BatchChain.fits(lower(sparse.to_sparse(pruned, min_sparsity=0.0).eval()))
    avg = nn.Sequential(nn.Conv2d(1, 4, 3, rng=0), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(4 * 13 * 13, 3, rng=0)).eval()
    assert not BC.BatchChain.fits(lower(avg))


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 40), n_in=st.integers(1, 300), block=st.integers(1, 120),
       n=st.sampled_from([0, 1, 15, 16, 17, 33, 40, 64, 65, 130]),
       density=st.sampled_from([0.0, 0.05, 0.3, 1.0]), relu=st.booleans(),
       has_bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2 ** 16))
def test_the_blocked_sparse_layer_is_the_product(rows, n_in, block, n, density, relu, has_bias,
                                                 dtype, seed):
    """``sparse_blocked``: any block size (one block of all inputs, blocks of one input, a
    last block part full), rows with no stored weight in some blocks or none at all, the
    batch in whole registers, two or fewer, and a part of one: W @ x + bias (ReLU), and the
    twin the same."""
    from minprune.infer import sparse_blocked as SB
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, n_in)).astype(dtype)
    w[rng.random(w.shape) >= density] = 0
    csr = CSR.from_dense(w, w != 0)
    indptr2, indices, values = SB.blocked(csr.indptr, csr.indices.astype(np.uint16),
                                          csr.values, n_in, block)
    assert indptr2.shape == (-(-n_in // block), rows + 1) and indptr2[-1, -1] == csr.nnz
    x = rng.standard_normal((n_in, n)).astype(dtype)
    bias = rng.standard_normal(rows).astype(dtype) if has_bias else np.zeros(0, dtype)
    want = w @ x + (bias[:, None] if has_bias else 0)
    want = np.maximum(want, 0) if relu else want
    out = np.full((rows, n), np.nan, dtype)
    got = SB.linear_sparse_blocked(indptr2, indices, values, x, bias, relu, out)
    tol = TOL[dtype] * (1 + np.abs(want).max(initial=0))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    twin = SB.linear_sparse_blocked_numpy(indptr2, indices, values, x, bias, relu,
                                          np.empty_like(out))
    np.testing.assert_allclose(twin, got, rtol=tol, atol=tol)
