"""Selection rules as properties: exact counts, ties, monotone masks, min_keep, scopes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import models, prune
from minprune.prune.criteria import Scores
from minprune.prune.groups import prunable_layers


def fake_scores(model, values, granularity="weight"):
    layers = prunable_layers(model, granularity)
    return Scores("test", granularity, layers, {layer.name: v for layer, v in
                                                zip(layers, values)})


small_model = lambda: models.mlp([6, 5, 4, 3], rng=0)    # weights of 30, 20 and 12


score_arrays = st.lists(st.integers(0, 4), min_size=62, max_size=62).map(
    lambda v: np.array(v, dtype=float))                   # few values: many ties


def split(flat):
    return [flat[:30].reshape(5, 6), flat[30:50].reshape(4, 5), flat[50:].reshape(3, 4)]


@settings(max_examples=60, deadline=None)
@given(flat=score_arrays, sparsity=st.floats(0, 0.99), scope=st.sampled_from(["local", "global"]))
def test_exact_count_and_tie_rule(flat, sparsity, scope):
    model = small_model()
    values = split(flat)
    sel = prune.select(fake_scores(model, values), sparsity, scope, min_keep=0)
    pruned = [~sel.keep[name] for name in ("1", "3", "5")]
    if scope == "local":
        for v, pr in zip(values, pruned):
            assert pr.sum() == round(sparsity * v.size)
            ranked = np.argsort(v.ravel(), kind="stable")        # lowest score, then lowest index
            assert set(np.flatnonzero(pr.ravel())) == set(ranked[:pr.sum()])
    else:
        assert sum(pr.sum() for pr in pruned) == round(sparsity * 62)
        all_scores = np.concatenate([v.ravel() for v in values])
        all_pruned = np.concatenate([pr.ravel() for pr in pruned])
        if all_pruned.any() and not all_pruned.all():
            assert all_scores[all_pruned].max() <= all_scores[~all_pruned].min()
            t = all_scores[all_pruned].max()             # at the threshold, lower index first
            at_t = np.flatnonzero(all_scores == t)
            assert np.all(np.diff(all_pruned[at_t].astype(int)) <= 0)


@settings(max_examples=40, deadline=None)
@given(flat=score_arrays, first=st.floats(0, 0.9), second=st.floats(0, 0.9),
       scope=st.sampled_from(["local", "global"]))
def test_masks_only_shrink_and_sparsity_counts_earlier_pruning(flat, first, second, scope):
    model = small_model()
    for k in range(3):
        model[2 * k + 1].weight.data = split(flat)[k].astype(np.float32) + 1
    prune.prune(model, first, scope=scope, min_keep=0)
    before = [m.weight.mask.copy() for m in model if hasattr(m, "weight")]
    prune.prune(model, second, scope=scope, min_keep=0)
    after = [m.weight.mask for m in model if hasattr(m, "weight")]
    for b, a in zip(before, after):
        assert not np.any(a & ~b)                         # nothing revived
    pruned = sum((~a).sum() for a in after)
    if scope == "global":
        assert pruned == max(round(second * 62), sum((~b).sum() for b in before))


@settings(max_examples=40, deadline=None)
@given(flat=score_arrays, sparsity=st.floats(0.5, 0.99), min_keep=st.integers(1, 3))
def test_global_never_empties_a_layer(flat, sparsity, min_keep):
    model = small_model()
    values = split(flat)
    values[1] = values[1] - 100                          # layer "3" scores lowest everywhere
    sel = prune.select(fake_scores(model, values), sparsity, "global", min_keep=min_keep)
    for name in ("1", "3", "5"):
        assert sel.keep[name].sum() >= min_keep
    reachable = 62 - 3 * min_keep                        # the count is exact when reachable
    assert sum((~k).sum() for k in sel.keep.values()) == min(round(sparsity * 62), reachable)


def test_local_min_keep_caps_each_layer():
    model = small_model()
    sel = prune.select(fake_scores(model, split(np.arange(62.0))), 0.99, "local", min_keep=2)
    assert [int(sel.keep[n].sum()) for n in ("1", "3", "5")] == [2, 2, 2]


def test_unit_granularity_spares_the_output_layer():
    model = small_model()
    layers = prunable_layers(model, "unit")
    assert [layer.name for layer in layers] == ["1", "3"]
    prune.prune(model, 0.6, "magnitude", "unit", "global")
    assert model[5].weight.mask is not None                     # its inputs lost columns
    assert model[5].weight.mask.any(axis=1).all()               # but every output unit lives


def test_trace_rows_and_table():
    model = small_model()
    X = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    y = np.arange(20) % 3
    result = prune.prune(model, 0.5, "magnitude", "weight", "local", data=(X, y))
    assert len(result.trace) == 3
    row = result.trace[0]
    assert row["pruned"] == 15 and row["sparsity_before"] == 0 and row["sparsity_after"] == 0.5
    assert row["loss_before"] is not None and row["accuracy_after"] is not None
    assert "threshold" in str(result.trace) and "acc after" in str(result.trace)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sparsity=1.0), ValueError, r"\[0, 1\)"),
    (dict(sparsity=-0.1), ValueError, r"\[0, 1\)"),
    (dict(criterion="weird"), ValueError, "magnitude, random, taylor"),
    (dict(granularity="layer"), ValueError, "weight, unit, filter, block"),
    (dict(granularity="block"), ValueError, "needs residual blocks"),
    (dict(granularity="filter"), ValueError, "matches no layer"),
    (dict(criterion="taylor"), ValueError, r"data=\(X, y\)"),
    (dict(scope="everywhere"), ValueError, "local, global"),
])
def test_bad_input(kwargs, error, match):
    args = dict(sparsity=0.5)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        prune.prune(small_model(), **args)


def test_non_sequential_model_is_refused():
    from minprune import nn

    class Custom(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(3, 2, rng=0)

        def forward(self, x):
            return self.fc(x)
    with pytest.raises(TypeError, match="Sequential"):
        prune.prune(Custom(), 0.5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 1.0, 2.0, -np.inf, np.inf, np.nan, 0.5]),
                          st.booleans()), max_size=40))
def test_the_order_skips_sorting_what_is_gone_and_equals_a_stable_argsort(entries):
    from minprune.prune.select import _stable_order
    values = np.array([v for v, _ in entries], dtype=np.float64)
    gone = np.array([g for _, g in entries], dtype=bool)
    expected = np.argsort(np.where(gone, -np.inf, values), kind="stable")
    got = _stable_order(values, gone)
    # equal up to the order among -inf: gone entries first, then alive -inf ones - both by index
    ranked = np.where(gone, -np.inf, values)
    np.testing.assert_array_equal(ranked[got], ranked[expected])
    head = int(gone.sum())
    assert set(got[:head]) == set(np.flatnonzero(gone))
