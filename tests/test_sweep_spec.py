"""A sweep spec is checked whole before any work: every section, key and value - its type, its
range, no duplicates - refused in one line that names the key, what it got and what is
allowed."""
import copy
import tomllib

import pytest

from minprune.experiments import spec as specs
from sweep_support import TINY

with open(TINY, "rb") as f:
    RAW = tomllib.load(f)


def changed(path, value):
    """The tiny spec with ``path`` ("section.key", or "section" alone) set (None: removed)."""
    raw = copy.deepcopy(RAW)
    section, _, key = path.partition(".")
    where, name = (raw, section) if not key else (raw.setdefault(section, {}), key)
    if value is None:
        where.pop(name, None)
    else:
        where[name] = value
    return raw


BAD = [
    # sections
    ("model", None, "the spec has no [model] section"),
    ("grid", None, "the spec has no [grid] section"),
    ("data", None, "the spec has no [data] section"),
    ("train", None, "the spec has no [train] section"),
    ("extra", {"a": 1}, "unknown section [extra]"),
    ("grid", [1, 2], "[grid] must be a table of keys"),
    ("grid.colour", "red", "unknown key grid.colour"),
    # the model
    ("model.name", "resnet", "model.name = 'resnet' is not allowed; choose from"),
    ("model.name", 3, "model.name = 3 is not allowed"),
    ("model.hidden", [32, 0], "model.hidden = 0 is not allowed; give an integer >= 1"),
    ("model.hidden", "32", "model.hidden must be a non-empty list"),
    ("model.hidden", [], "model.hidden must be a non-empty list"),
    ("model", {"load": ""}, "model.load = '' is not allowed"),
    ("model.load", "m.npz", "give model.name or model.load, not both"),
    # data and training
    ("data.dataset", "imagenet", "data.dataset = 'imagenet' is not allowed"),
    ("data.dataset", 7, "data.dataset = 7 is not allowed"),
    ("data.n_train", 1, "data.n_train = 1 is not allowed; give an integer >= 2"),
    ("data.n_test", 20.5, "data.n_test = 20.5 is not allowed"),
    ("train.epochs", 0, "train.epochs = 0 is not allowed; give an integer >= 1"),
    ("train.epochs", True, "train.epochs = True is not allowed"),
    ("train.batch_size", "64", "train.batch_size = '64' is not allowed"),
    ("train.lr", 0, "train.lr = 0 is not allowed; give a positive number"),
    ("train.lr", "fast", "train.lr = 'fast' is not allowed"),
    # the grid
    ("grid.sparsities", [0.5, 0.5], "grid.sparsities lists 0.5 twice"),
    ("grid.sparsities", [0.5, 1.0], "grid.sparsities = 1.0 is not allowed"),
    ("grid.sparsities", [0.5, True], "grid.sparsities = True is not allowed"),
    ("grid.sparsities", 0.5, "grid.sparsities must be a non-empty list"),
    ("grid.seeds", [0, 0], "grid.seeds lists 0 twice"),
    ("grid.seeds", [-1], "grid.seeds = -1 is not allowed"),
    ("grid.finetune_epochs", [1, 1], "grid.finetune_epochs lists 1 twice"),
    ("grid.finetune_epochs", [-1], "grid.finetune_epochs = -1 is not allowed"),
    ("grid.schedules", ["iterative:0"], "grid.schedules = 'iterative:0' is not allowed"),
    ("grid.schedules", ["one-shot", "one-shot"], "grid.schedules lists 'one-shot' twice"),
    ("grid.criteria", ["magnitude", "magnitude"], "grid.criteria lists 'magnitude' twice"),
    ("grid.granularities", ["3:2"], "grid.granularities = '3:2' is not allowed"),
    ("grid.scopes", ["everywhere"], "grid.scopes = 'everywhere' is not allowed"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "weight"}] * 2,
     "grid.methods lists {'criterion': 'magnitude', 'granularity': 'weight'} twice"),
    ("grid.methods", [{"criterion": "magnitude"}], "a method needs a granularity"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "weight", "colour": 1}],
     "unknown key 'colour'"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "2:5:1"}],
     "grid.methods.granularity = '2:5:1' is not allowed; choose from weight, unit, filter, "
     "block, N:M"),
    ("grid.methods", ["magnitude"], "grid.methods = 'magnitude' is not allowed; each method"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "weight", "reconstruct": 1}],
     "grid.methods.reconstruct = 1 is not allowed; give true or false"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "2:4", "sparsities": [0.5, 1]}],
     "grid.methods.sparsities = 1 is not allowed; give numbers in (0, 1)"),
    ("grid.methods", [{"criterion": "magnitude", "granularity": "2:4", "sparsities": 0.5}],
     "grid.methods.sparsities must be a non-empty list"),
    ("grid.calibrations", [128, 128], "grid.calibrations lists 128 twice"),
    ("grid.calibrations", [0], "grid.calibrations = 0 is not allowed"),
    ("grid.scopes", ["rows"], "grid.scopes = 'rows' is not allowed; choose from local, global, "
                              "row"),
    # latency
    ("latency.repeats", 0, "latency.repeats = 0 is not allowed"),
    ("latency.batches", [1, 1], "latency.batches lists 1 twice"),
    ("latency.batches", [0], "latency.batches = 0 is not allowed"),
]


@pytest.mark.parametrize("path, value, message", BAD, ids=[f"{p}={v!r}" for p, v, _ in BAD])
def test_a_bad_spec_is_refused_in_one_line(path, value, message):
    with pytest.raises(specs.SpecError) as caught:
        specs.validate(changed(path, value))
    assert message in str(caught.value) and "\n" not in str(caught.value)


GOOD = [
    ("grid.methods", [{"criterion": "magnitude", "granularity": "2:4"},
                      {"criterion": "magnitude", "granularity": "block:1x4",
                       "scope": "local"}]),
    ("latency", None),                                   # its defaults
    ("model.hidden", [16, 16]),                          # two layers of the same width
    ("grid.sparsities", [0.5, 0.995, 0.999]),
]


@pytest.mark.parametrize("path, value", GOOD, ids=[p for p, _ in GOOD])
def test_a_good_spec_passes(path, value):
    spec = specs.validate(changed(path, value))
    assert specs.expand(spec)


def test_pattern_granularities_in_methods_expand_to_their_runs():
    spec = specs.validate(changed("grid.methods", [{"criterion": "magnitude",
                                                    "granularity": "2:4"}]))
    grans = {r["config"]["granularity"] for r in specs.expand(spec)
             if r["config"]["kind"] == "prune"}
    assert grans == {"2:4"}


def test_calibration_sizes_expand_for_the_methods_that_use_calibration_only():
    spec = specs.validate(changed("grid", {
        "methods": [{"criterion": "magnitude", "granularity": "weight"},
                    {"criterion": "magnitude", "granularity": "weight", "scope": "row",
                     "reconstruct": True},
                    {"criterion": "wanda", "granularity": "weight", "scope": "row"}],
        "sparsities": [0.5], "calibrations": [128, 512]}))
    runs = [r["config"] for r in specs.expand(spec) if r["config"]["kind"] == "prune"]
    seen = sorted((c["criterion"], c["reconstruct"], c["n_calibration"]) for c in runs)
    assert seen == [("magnitude", False, 128), ("magnitude", True, 128),
                    ("magnitude", True, 512), ("random", False, 128), ("random", False, 128),
                    ("wanda", False, 128), ("wanda", False, 512)]
    # every run starts from the same dense model: the largest size is held out of training
    assert {c["held_out"] for c in runs} == {512}
    assert len({specs.run_id({k: c[k] for k in specs.DENSE_KEYS}) for c in runs}) == 1


def test_a_method_may_give_its_own_sparsities():
    spec = specs.validate(changed("grid", {
        "methods": [{"criterion": "magnitude", "granularity": "weight"},
                    {"criterion": "magnitude", "granularity": "2:4", "sparsities": [0.5]}],
        "sparsities": [0.5, 0.9]}))
    runs = [r["config"] for r in specs.expand(spec) if r["config"]["kind"] == "prune"]
    seen = sorted((c["criterion"], c["granularity"], c["sparsity"]) for c in runs)
    assert seen == [("magnitude", "2:4", 0.5), ("magnitude", "weight", 0.5),
                    ("magnitude", "weight", 0.9), ("random", "2:4", 0.5),
                    ("random", "weight", 0.5), ("random", "weight", 0.9)]


def test_a_criterion_that_refits_itself_refuses_reconstruct():
    spec = specs.validate(changed("grid.methods", [
        {"criterion": "sparsegpt", "granularity": "weight", "reconstruct": True}]))
    with pytest.raises(specs.SpecError, match="sparsegpt refits the kept weights itself"):
        specs.check_runs(spec, specs.expand(spec))
