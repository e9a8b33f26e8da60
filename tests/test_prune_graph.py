"""Coupled channel groups derived from the structure (``prune.graph``): the same groups as
Torch-Pruning's DependencyGraph on the torch twins, its group importances, and structured
pruning, compaction and refusals on networks with residual blocks and depthwise convolutions.

How each criterion reduces over a coupled group, and the Torch-Pruning configuration it equals:

- magnitude: the L_p norm over every weight row the group removes (each producer of a
  residual sum, a depthwise filter) = MagnitudeImportance(p, group_reduction="sum",
  normalizer=None, target_types=[Conv2d, Linear]) on the group's output-channel entries,
  to the power 1/p, plus the depthwise filters, which Torch-Pruning 1.6.1 leaves out of
  every magnitude (its branch tests for the plain convolution's pruning function, not the
  depthwise one); for the same reason LAMP is compared on the networks without depthwise
  convolutions.
- bn_scale: the mean |gamma| over the group's BatchNorms = BNScaleImportance(normalizer=None).
- lamp: the mean over the group's weight tensors of the sum of squares, LAMP-normalised =
  LAMPImportance().
- fpgm: the sum over the weights whose rows the group removes of each one's distance sums =
  FPGMImportance(p=1, group_reduction="sum", normalizer=None) on the output-channel entries
  (non-negative weights, where |w| and w agree).
- snip (one batch of |w * dL/dw| over every member) = TaylorImportance(group_reduction="sum",
  normalizer=None, bias=True) plus the BatchNorm terms, which Torch-Pruning 1.6.1 leaves out
  (its Taylor branch for normalisation layers tests for GroupNorm).
"""
import numpy as np
import pytest
from helpers import architectures, distinct, require
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import Tensor, models, nn, prune
from minprune.nn.interop import to_torch
from minprune.prune.graph import coupled_groups

MODELS = {"resnet8": lambda: models.resnet(8, 4, rng=0),
          "resnet20": lambda: models.resnet(20, 4, rng=0),
          "mobilenet": lambda: models.mobilenet(2, rng=0),
          "lenet5": lambda: models.lenet5(rng=0),
          "small_vgg": lambda: models.small_vgg((4, 8, 8), rng=0)}


@pytest.fixture(scope="module")
def tp():
    require("torch")
    return require("torch_pruning")


def ours_as_sets(model):
    """Each group as a set of (layer, "in"/"out", number of indices), biases left out."""
    out = []
    for g in coupled_groups(model):
        entries = set()
        for m in g.members:
            if m.name.endswith(".weight"):
                layer = m.name.rsplit(".", 1)[0]
                entries.add((layer, "out" if m.axis == 0 else "in", g.size * m.block))
        out.append(frozenset(entries))
    return out


def torch_groups(tp, model):
    """Torch-Pruning's groups on the twin (the output layer ignored), as (names, group)."""
    import torch
    twin = to_torch(model, dtype=torch.float64).eval()
    names = {m: n for n, m in twin.named_modules()}
    graph = tp.DependencyGraph().build_dependency(
        twin, example_inputs=torch.ones(1, 1, 28, 28, dtype=torch.float64))
    last = [m for m in twin.modules() if isinstance(m, torch.nn.Linear)][-1]
    groups = list(graph.get_all_groups(ignored_layers=[last],
                                       root_module_types=(torch.nn.Conv2d, torch.nn.Linear)))
    return twin, names, groups


def theirs_as_sets(names, groups):
    out = []
    for group in groups:
        entries = set()
        for dep, idxs in group:
            if dep.layer in names:
                fn = dep.pruning_fn.__name__
                entries.add((names[dep.layer], "in" if "in_channels" in fn else "out",
                             len(idxs)))
                assert list(idxs) == list(range(len(idxs)))      # whole groups, in order
        out.append(frozenset(entries))
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_the_groups_are_torch_pruning_s(tp, name):
    model = MODELS[name]()
    twin, names, groups = torch_groups(tp, model)
    ours, theirs = ours_as_sets(model), theirs_as_sets(names, groups)
    assert sorted(map(sorted, ours)) == sorted(map(sorted, theirs))


def test_a_residual_sum_is_one_group_across_its_blocks():
    groups = coupled_groups(models.resnet(8, 4, rng=0))
    first = groups[0]                          # the stem's channels run through stage 1
    assert [n for n, _ in first.producers] == ["0", "3.body.3"]
    readers = sorted(m.name for m in first.members if m.axis == 1)
    assert readers == ["3.body.0.weight", "5.body.0.weight", "5.shortcut.0.weight"]
    depthwise = coupled_groups(models.mobilenet(2, rng=0))[0]
    assert {m.name for m in depthwise.members if m.axis == 0} >= {"3.weight", "4.weight"}


def _scores(tp, model, importance, keep=lambda fn: True, before=None):
    """{our layer name: Torch-Pruning's score} for the groups of the twin."""
    twin, names, groups = torch_groups(tp, model)
    if before is not None:
        before(twin)
    out = {}
    for group in groups:
        sub = tp.dependency.Group()
        for item in group:
            if keep(item.dep.pruning_fn.__name__):
                sub.add_dep(item.dep, item.idxs)
                sub[len(sub) - 1].root_idxs = item.root_idxs      # as DepGraph fills it
        root = names[group[0].dep.layer]
        out[root] = (importance(sub).double().numpy(), group)
    return out, names, twin


def _by_group(model, granularity="filter"):
    """{frozenset of our producer names: GroupLayer}."""
    return {frozenset(g.producers): g for g in prune.prunable_layers(model, granularity)}


def _match(ours_by_layer, theirs, names, model):
    """Pairs (ours, theirs) of scores for the same group."""
    layers = _by_group(model)
    pairs = []
    for _, (value, group) in theirs.items():
        producers = frozenset(names[d.layer] for d, _ in group if d.layer in names
                              and d.pruning_fn.__name__ == "prune_out_channels"
                              and isinstance(d.layer, __import__("torch").nn.Conv2d)
                              and d.layer.groups == 1)
        layer = layers[producers]
        pairs.append((ours_by_layer[layer.name], value))
    assert len(pairs) == len(layers)
    return pairs


OUT = lambda fn: "out_channels" in fn and "batchnorm" not in fn      # noqa: E731


@pytest.mark.parametrize("name", ["resnet8", "mobilenet"])
@pytest.mark.parametrize("p", [1, 2])
def test_magnitude_is_torch_pruning_s_group_magnitude(tp, name, p):
    import torch
    model = distinct(MODELS[name]())
    theirs, names, _ = _scores(tp, model, tp.importance.MagnitudeImportance(
        p=p, group_reduction="sum", normalizer=None,
        target_types=[torch.nn.Conv2d, torch.nn.Linear]), keep=OUT)
    for value, group in theirs.values():             # the depthwise filters they leave out
        for dep, _ in group:
            if isinstance(dep.layer, torch.nn.Conv2d) and dep.layer.groups > 1:
                value += dep.layer.weight.data.abs().pow(p).flatten(1).sum(1).double().numpy()
    ours = prune.scores(model, "magnitude", "filter", p=p).values
    for mine, their in _match(ours, theirs, names, model):
        np.testing.assert_allclose(mine ** p, their, rtol=1e-6)


@pytest.mark.parametrize("name", ["resnet8", "resnet20", "mobilenet"])
def test_bn_scale_and_lamp_are_torch_pruning_s(tp, name):
    model = distinct(MODELS[name]())
    pairs = [("bn_scale", tp.importance.BNScaleImportance(normalizer=None))]
    if name != "mobilenet":       # their LAMP leaves depthwise filters out of its mean
        pairs.append(("lamp", tp.importance.LAMPImportance()))
    for criterion, importance in pairs:
        theirs, names, _ = _scores(tp, model, importance)
        ours = prune.scores(model, criterion, "filter").values
        for mine, their in _match(ours, theirs, names, model):
            np.testing.assert_allclose(mine, their, rtol=1e-5, err_msg=criterion)


def test_fpgm_is_torch_pruning_s_summed_over_the_group(tp):
    model = distinct(MODELS["resnet8"](), positive=True)
    theirs, names, _ = _scores(tp, model, tp.importance.FPGMImportance(
        p=1, group_reduction="sum", normalizer=None), keep=OUT)
    ours = prune.scores(model, "fpgm", "filter").values
    for mine, their in _match(ours, theirs, names, model):
        np.testing.assert_allclose(mine, their, rtol=1e-6)


def test_snip_is_torch_pruning_s_taylor_with_the_batchnorm_terms(tp):
    import torch
    model = distinct(MODELS["resnet8"]())
    rng = np.random.default_rng(0)
    X, y = rng.random((8, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 8)

    def backward(twin):
        twin.eval()
        torch.nn.functional.cross_entropy(twin(torch.tensor(X, dtype=torch.float64)),
                                          torch.tensor(y)).backward()
    theirs, names, twin = _scores(tp, model, tp.importance.TaylorImportance(
        group_reduction="sum", normalizer=None, bias=True), before=backward)
    for root, (value, group) in theirs.items():
        for dep, _ in group:
            layer = dep.layer
            if isinstance(layer, torch.nn.BatchNorm2d):
                for p in (layer.weight, layer.bias):
                    value += (p.data * p.grad).abs().double().numpy()
        theirs[root] = (value, group)
    ours = prune.scores(model, "snip", "filter", (X, y), batch_size=8).values
    for mine, their in _match(ours, theirs, names, model):
        np.testing.assert_allclose(mine, their, rtol=1e-4)


@pytest.mark.parametrize("name", ["resnet8", "resnet20", "mobilenet"])
@pytest.mark.parametrize("scope", ["local", "global"])
def test_pruned_and_compacted_networks_compute_the_same(name, scope):
    model = distinct(MODELS[name](), seed=3)
    result = prune.prune(model, 0.5, "magnitude", "filter", scope)
    assert result is not None
    small = prune.compact(model).eval()
    model.eval()
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(small(Tensor(x)).data, model(Tensor(x)).data, rtol=1e-5,
                               atol=1e-5)
    assert sum(p.size for p in small.parameters()) < sum(p.size for p in model.parameters())
    if scope == "local":                           # every group loses exactly half
        for g in prune.prunable_layers(model, "filter"):
            assert g.pruned_groups().sum() == g.n_groups // 2


@settings(max_examples=25, deadline=None)
@given(model=architectures(), sparsity=st.sampled_from([0.3, 0.5, 0.8]),
       scope=st.sampled_from(["local", "global"]))
def test_masked_and_compacted_agree_on_random_architectures(model, sparsity, scope):
    distinct(model, seed=7)
    prune.prune(model, sparsity, "magnitude", "filter", scope)
    small = prune.compact(model).eval()
    model.eval()
    x = np.random.default_rng(2).standard_normal((2, 1, 28, 28)).astype(np.float32)
    expected = model(Tensor(x)).data
    # float32: compaction sums in another order, so an output near zero may differ by the
    # rounding of the network's largest activations, not of its own size
    np.testing.assert_allclose(small(Tensor(x)).data, expected, rtol=1e-5,
                               atol=1e-6 * max(1.0, np.abs(expected).max()))


def test_criteria_that_read_activations_by_position_say_so():
    x = np.zeros((4, 1, 28, 28), np.float32)
    for criterion in ("apoz", "taylor_2017"):
        with pytest.raises(ValueError, match="place in a chain"):
            prune.prune(models.resnet(8, 4, rng=0), 0.5, criterion, "filter",
                        data=(x, np.zeros(4, int)))


def _combinations():
    from minprune.prune.criteria import REGISTRY
    out = []
    for name, record in REGISTRY.items():
        for granularity in record.granularities:
            if granularity == "unit":                  # resnet8's only Linear is its output
                continue
            for scope in ("local", "global"):
                out.append((name, granularity, scope))
    return out


@pytest.mark.parametrize("criterion, granularity, scope", _combinations())
def test_every_criterion_granularity_and_scope_on_resnet8(criterion, granularity, scope):
    """Each combination runs and keeps exact counts, or is refused in one line naming why."""
    model = distinct(models.resnet(8, 2, rng=0), seed=4)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8))
    layers = prune.prunable_layers(model, granularity)
    sizes = [layer.n_groups for layer in layers]
    try:
        prune.prune(model, 0.5, criterion, granularity, scope, data=data, rng=0)
    except ValueError as exc:
        assert criterion in ("apoz", "taylor_2017") and "place in a chain" in str(exc)
        return
    if criterion == "sparsegpt":                      # every layer to 50% by its own rule
        assert abs(prune.weight_sparsity(model) - 0.5) < 0.02
        return
    pruned = [int(layer.pruned_groups().sum()) for layer in layers]
    if scope == "local":
        floor = 0 if granularity == "block" else 1
        assert pruned == [min(round(0.5 * n), n - floor) for n in sizes]
    else:
        assert sum(pruned) == round(0.5 * sum(sizes))


def test_a_network_the_tracer_cannot_read_is_refused_naming_the_layer():
    class Odd(nn.Module):
        def forward(self, x):
            return x
    bad_sum = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0),
                            nn.Residual(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0))),
                            nn.Flatten(), nn.Linear(3 * 28 * 28, 10, rng=0))
    odd = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0),
                        nn.Residual(nn.Sequential(Odd())), nn.Flatten(),
                        nn.Linear(2 * 28 * 28, 10, rng=0))
    for model, error, message in (
            (bad_sum, ValueError, r"layer 1 \(Residual\): its body gives \(3, 28, 28\) but its "
                                  r"shortcut \(2, 28, 28\)"),
            (odd, TypeError, r"layer 1.body.0 \(Odd\): minprune cannot tell which channels")):
        before = [p.data.copy() for p in model.parameters()]
        with pytest.raises(error, match=message):
            prune.prune(model, 0.5, "magnitude", "filter")
        assert all((p.data == b).all() and p.mask is None
                   for p, b in zip(model.parameters(), before))
