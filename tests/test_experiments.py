"""The studies as functions of a config: same config, same numbers; the dense control is the
dense model fine-tuned exactly like the pruned ones."""
import numpy as np
import pytest

from minprune.experiments import NetworkConfig, TreeConfig, network_study, tree_study

QUIET = dict(log=lambda *a: None)


def small(**changes):
    base = dict(model="mlp", hidden=(16,), dataset="spirals", n_train=400, n_test=200,
                epochs=2, sparsities=(0.0, 0.5), finetune_epochs=1, latency_repeats=0)
    return NetworkConfig(**{**base, **changes})


@pytest.mark.parametrize("steps", [1, 2])
def test_pruning_nothing_then_fine_tuning_is_the_control(steps):
    study = network_study(small(steps=steps, sparsities=(0.0,)), **QUIET)
    assert study.rows[0]["gap_to_control"] == 0.0
    assert study.rows[0]["accuracy_finetuned"] == study.control_accuracy


def test_same_config_same_numbers():
    a = network_study(small(criterion="taylor", granularity="unit"), **QUIET)
    b = network_study(small(criterion="taylor", granularity="unit"), **QUIET)
    assert a.rows == b.rows and a.control_accuracy == b.control_accuracy
    c = network_study(small(criterion="taylor", granularity="unit", seed=1), **QUIET)
    assert c.rows != a.rows


def test_the_speed_panel_times_every_variant():
    study = network_study(small(granularity="unit", latency_repeats=3), **QUIET)
    for row in study.rows:
        for variant in ("masked", "csr", "compact"):
            for batch in (1, 64):
                assert row[f"{variant}_b{batch}_ms"] > 0
                assert row[f"{variant}_b{batch}_speedup"] > 0
        assert row["theoretical_speedup"] == row["dense_flops"] / row["effective_flops"]


def test_no_fine_tuning_no_control():
    study = network_study(small(finetune_epochs=0), **QUIET)
    assert study.control_accuracy is None
    assert all(r["accuracy_finetuned"] is None and "gap_to_control" not in r
               for r in study.rows)


def test_the_study_leaves_the_model_dense_and_trained():
    study = network_study(small(), **QUIET)
    assert all(p.mask is None for p in study.model.parameters())
    from minprune.nn import evaluate
    assert evaluate(study.model, *study.data[2])["accuracy"] == study.dense_accuracy


def test_tree_study_refuses_what_does_not_fit_the_target():
    from minprune.data import make_table
    X, y = make_table("regression", 300, rng=0)
    with pytest.raises(ValueError, match="counts misclassifications"):
        tree_study(TreeConfig(post=("pep",)), X, y, **QUIET)
    with pytest.raises(ValueError, match="does not fit a continuous target"):
        tree_study(TreeConfig(criterion="gini"), X, y, **QUIET)
    study = tree_study(TreeConfig(post=("ccp", "rep")), X, y, **QUIET)
    assert [r["method"] for r in study.rows][0] == "full tree" and study.alpha is not None
    assert np.isfinite([r["test"] for r in study.rows]).all()
