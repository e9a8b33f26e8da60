"""N:M and block granularities: exact counts, the pattern in every group, local and global
scope, masks through training, the trace, compaction, ``to_sparse`` and the inference plan."""
import copy

import numpy as np
import pytest

from minprune import infer, prune, sparse
from minprune.autograd import Tensor
from minprune.nn import optim
from minprune.nn.models import lenet5, lenet_300_100, mlp
from minprune.nn.module import eval_mode
from minprune.nn.train import fit
from minprune.prune import patterns

WEIGHTED = lambda m: [(n, p) for n, p in m.named_parameters() if p.data.ndim >= 2]


def obeys(model, name):
    pattern = patterns.parse(name)
    return all(patterns.satisfies(p.mask, pattern) for _, p in WEIGHTED(model))


@pytest.mark.parametrize("name, sparsity", [("2:4", 0.5), ("2:4", 0.8), ("1:4", 0.75),
                                            ("block:1x4", 0.7), ("block:4x1", 0.9),
                                            ("block:2x2", 0.6)])
@pytest.mark.parametrize("scope", ["local", "global"])
@pytest.mark.parametrize("make", [lenet_300_100, lenet5], ids=["mlp", "cnn"])
def test_exact_counts_and_the_pattern_in_every_group(name, sparsity, scope, make):
    model = make(rng=0)
    result = prune.prune(model, sparsity, "magnitude", name, scope)
    assert obeys(model, name)
    pattern = patterns.parse(name)
    layers = result.selection.layers
    groups = [layer.n_groups for layer in layers]
    pruned = [int((~result.selection.keep[layer.name]).sum()) for layer in layers]
    if scope == "global":
        assert sum(pruned) == round(sparsity * sum(groups))
    else:
        assert pruned == [round(sparsity * g) for g in groups]
    if pattern.kind == "nm":                       # groups are weights: the weight sparsity
        assert prune.weight_sparsity(model) == pytest.approx(sparsity, abs=1e-3)
    rows = result.trace.rows if hasattr(result.trace, "rows") else list(result.trace)
    assert {r["granularity"] for r in rows} == {name}


def test_nm_keeps_the_n_largest_of_every_group():
    model = mlp([8, 6, 3], rng=1)
    prune.prune(model, 0.5, "magnitude", "2:4", "local")
    w = model[1].weight
    groups = np.abs(w.data).reshape(6, 2, 4)
    kept = w.mask.reshape(6, 2, 4)
    assert (kept.sum(axis=2) == 2).all()
    lowest_kept = np.where(kept, groups, np.inf).min(axis=2)
    highest_pruned = np.where(kept, -np.inf, groups).max(axis=2)
    assert (lowest_kept >= highest_pruned).all()


def test_conv_groups_run_along_input_channels():
    """A Conv2d weight (out, in, kh, kw) is grouped channels-last: M consecutive input
    channels at one kernel position."""
    model = lenet5(rng=0)
    prune.prune(model, 0.5, "magnitude", "2:4", "local")
    conv = [m for m in model if type(m).__name__ == "Conv2d"][1]     # 20 -> 50 channels
    mask = conv.weight.mask.transpose(0, 2, 3, 1)       # (out, kh, kw, in)
    assert (mask.reshape(*mask.shape[:3], -1, 4).sum(axis=-1) == 2).all()


def test_masks_hold_the_pattern_through_training(rng):
    model = lenet_300_100(rng=0)
    prune.prune(model, 0.6, "magnitude", "block:4x1", "global")
    X = rng.random((64, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    fit(model, X, y, epochs=2, optimizer=optim.SGD(model.parameters(), lr=0.1),
        progress=False)
    assert obeys(model, "block:4x1")
    for _, p in WEIGHTED(model):
        assert not p.data[~p.mask].any()


def test_refusals_name_the_argument():
    model = lenet_300_100(rng=0)
    with pytest.raises(ValueError, match="prunes at least 50% of every weight; sparsity must "
                                         "be >= 0.5, got 0.3"):
        prune.prune(model, 0.3, "magnitude", "2:4")
    with pytest.raises(ValueError, match="granularity must be one of weight, unit, filter, "
                                         "block, N:M"):
        prune.prune(model, 0.5, "magnitude", "block:4")
    with pytest.raises(ValueError, match="N:M needs 1 <= N < M"):
        prune.prune(model, 0.5, "magnitude", "4:4")
    with pytest.raises(ValueError, match="criterion 'apoz' scores unit and filter groups, not "
                                         "'2:4'"):
        prune.scores(model, "apoz", "2:4", data=(np.zeros((2, 784)), np.zeros(2, int)))


@pytest.mark.parametrize("name", ["2:4", "block:1x4", "block:4x1"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plan_to_sparse_and_compaction_compute_what_the_model_computes(name, dtype, rng):
    for make, shape in ((lenet_300_100, (6, 784)), (lenet5, (3, 1, 28, 28))):
        model = make(rng=0)
        if dtype == np.float64:
            for p in model.parameters():
                p.data = p.data.astype(np.float64)
        prune.prune(model, 0.5 if name == "2:4" else 0.7, "taylor", name, "global",
                    data=(rng.random((16,) + shape[1:]).astype(dtype), rng.integers(0, 10, 16)))
        x = rng.random(shape).astype(dtype)
        with eval_mode(model):
            expected = model(Tensor(x)).data
        plan = infer.compile(model, pattern=name)
        assert any("Patterned" in repr(s) or "sparse" in repr(s) for s in plan.steps)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        for xb in (x, x[:1], x[:0]):
            np.testing.assert_allclose(plan(xb), expected[:len(xb)], atol=tol)
        with eval_mode(converted := sparse.to_sparse(model, min_sparsity=0.0)):
            np.testing.assert_allclose(converted(Tensor(x)).data, expected, atol=tol)
        with eval_mode(small := prune.compact(copy.deepcopy(model))):
            np.testing.assert_allclose(small(Tensor(x)).data, expected, atol=tol)
    with pytest.raises(ValueError, match="pattern must be None, N:M"):
        infer.compile(model, pattern="3x3")
