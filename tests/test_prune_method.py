"""One signature for every criterion, one record for what to prune and how, and select on
score arrays of your own."""
import inspect

import numpy as np
import pytest

from minprune import models, prune
from minprune.prune.criteria import REGISTRY


def test_every_criterion_takes_the_same_arguments():
    expected = ["model", "layers", "data", "p", "rng", "batch_size"]
    for name, record in REGISTRY.items():
        params = list(inspect.signature(record.score).parameters.values())
        assert [p.name for p in params[:6]] == expected, name
        assert all(p.kind is p.KEYWORD_ONLY for p in params[3:]), name
        assert callable(record.score) and record.score.__name__ != "<lambda>", name


def test_a_method_is_checked_when_made_and_carried_whole():
    m = prune.Method("taylor", "unit", "local")
    assert str(m) == "taylor, unit, local" and m.needs_data and m.p == 1
    with pytest.raises(ValueError, match="criterion must be one of"):
        prune.Method("weird")
    with pytest.raises(ValueError, match="granularity must be one of"):
        prune.Method("magnitude", "rows")
    with pytest.raises(ValueError, match="scope must be one of local, global"):
        prune.Method("magnitude", "weight", "everywhere")
    assert prune.Method.of(criterion="lamp") == prune.Method("lamp")
    with pytest.raises(TypeError, match="not both"):
        prune.Method.of(m, criterion="lamp")
    with pytest.raises(TypeError, match="unexpected arguments"):
        prune.Method.of(critrion="lamp")


def test_prune_with_a_method_equals_prune_with_its_fields():
    a, b = models.lenet_300_100(rng=0), models.lenet_300_100(rng=0)
    prune.prune(a, 0.8, "magnitude", "unit", "local", p=2)
    prune.prune(b, 0.8, method=prune.Method("magnitude", "unit", "local", p=2))
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("granularity", ["weight", "unit", "2:4", "block:1x4"])
def test_select_takes_plain_score_arrays(granularity):
    model = models.lenet_300_100(rng=0)
    scored = prune.scores(model, "magnitude", granularity)
    plain = {layer.name: np.abs(layer.weight.data) if granularity in ("2:4", "block:1x4")
             else scored.values[layer.name] for layer in scored.layers}
    ours = prune.select(plain, 0.6, "global", model=model, granularity=granularity)
    reference = prune.select(scored, 0.6, "global")
    for name in reference.keep:
        np.testing.assert_array_equal(ours.keep[name], reference.keep[name])


def test_select_refuses_arrays_that_do_not_fit():
    model = models.lenet_300_100(rng=0)
    with pytest.raises(TypeError, match="together with model="):
        prune.select({"1": np.ones((300, 784))}, 0.5)
    with pytest.raises(ValueError, match="an array for each prunable layer"):
        prune.select({"1": np.ones((300, 784))}, 0.5, model=model)
    shapes = {layer.name: np.ones(3) for layer in prune.prunable_layers(model, "weight")}
    with pytest.raises(ValueError, match=r"scores\['1'\] must have shape \(300, 784\)"):
        prune.select(shapes, 0.5, model=model)
