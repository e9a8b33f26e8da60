"""The criterion registry: one record per criterion, one ``check`` that the library and the
command line share."""
import os
import subprocess
import sys

import numpy as np
import pytest

from minprune import models, prune
from minprune.prune.criteria import REGISTRY


def test_every_criterion_has_one_record():
    assert tuple(REGISTRY) == prune.CRITERIA
    for name, record in REGISTRY.items():
        assert record.name == name and set(record.granularities) <= set(prune.GRANULARITIES)


@pytest.mark.parametrize("criterion", [c for c, r in REGISTRY.items() if r.needs_data])
def test_data_criteria_refuse_to_run_without_data(criterion):
    granularity = REGISTRY[criterion].granularities[-1]
    model = models.resnet(8, 2, rng=0) if granularity == "block" else models.mlp([4, 6, 3],
                                                                                 rng=0)
    if granularity == "filter":
        granularity = "unit"
    with pytest.raises(ValueError, match="data-driven: pass data"):
        prune.scores(model, criterion, granularity)


REFUSED = [
    ("lenet_300_100", "weird", "weight", "global", "criterion must be one of magnitude"),
    ("lenet_300_100", "magnitude", "filter", "global", "granularity 'filter' matches no layer"),
    ("lenet_300_100", "apoz", "weight", "global", "criterion 'apoz' scores unit and filter"),
    ("lenet_300_100", "sensitivity", "weight", "global", "evaluates the loss once per weight"),
    ("lenet_300_100", "magnitude", "weight", "everywhere", "scope must be one of local, global"),
]


@pytest.mark.parametrize("model_name, criterion, granularity, scope, message", REFUSED)
def test_library_and_cli_refuse_with_the_same_message(tmp_path, model_name, criterion,
                                                      granularity, scope, message):
    model = getattr(models, model_name)(rng=0)
    with pytest.raises(ValueError) as library:
        prune.check(model, criterion, granularity, scope)
    assert message in str(library.value)
    done = subprocess.run(
        [sys.executable, "-m", "minprune", "prune", "--model", model_name, "--n-train", "200",
         "--n-test", "50", "--criterion", criterion, "--granularity", granularity, "--scope",
         scope, "--out", "r"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache")))
    assert done.returncode == 2 and str(library.value) in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()


def test_apoz_needs_a_relu_after_the_layer():
    from minprune.nn import Linear, Sequential, Tanh
    model = Sequential(Linear(4, 6, rng=0), Tanh(), Linear(6, 3, rng=0))
    with pytest.raises(ValueError, match="needs a ReLU right after layer 0"):
        prune.check(model, "apoz", "unit")


def test_scores_go_through_the_registry(rng):
    from minprune.nn import BatchNorm1d, Linear, ReLU, Sequential
    model = Sequential(Linear(4, 6, rng=0), BatchNorm1d(6), ReLU(), Linear(6, 3, rng=0))
    X = rng.standard_normal((20, 4)).astype(np.float32)
    y = rng.integers(0, 3, 20)
    from minprune import models
    for name, record in REGISTRY.items():
        granularity = "unit" if "weight" not in record.granularities else "weight"
        if record.granularities == ("block",):      # scores residual blocks only
            blocks = models.resnet(8, 2, rng=0)
            images = rng.standard_normal((6, 1, 28, 28)).astype(np.float32)
            s = prune.scores(blocks, name, "block", (images, y[:6]), rng=0)
            assert s.criterion == name and set(s.values) == {"3", "5", "7"}
            continue
        data = (X, y) if record.needs_data else None
        if record.updates_weights:                   # SparseGPT: it prunes, it does not score
            with pytest.raises(ValueError, match="has no scores to select from"):
                prune.scores(model, name, granularity, data)
            continue
        s = prune.scores(model, name, granularity, data, rng=0)
        assert s.criterion == name and set(s.values) == {layer.name for layer in s.layers}
