"""The public surface: lazy subpackages after ``import minprune``, a light import, and
calibration data that never comes from the test set."""

import numpy as np
import pytest
from helpers import run_python


def test_lazy_subpackages_load_on_first_use():
    code = ("import sys, minprune\n"
            "heavy = ('numba', 'minprune.tree', 'minprune.sparse', 'minprune.viz')\n"
            "loaded = [m for m in heavy if m in sys.modules]\n"
            "assert not loaded, loaded\n"
            "assert minprune.tree.DecisionTreeClassifier and minprune.sparse.CSR\n"
            "assert minprune.viz.save_png and minprune.optim.SGD and minprune.experiments\n"
            "assert 'tree' in dir(minprune)\n")
    run_python(code)


def test_unknown_attribute_is_an_attribute_error():
    import minprune
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        minprune.nope  # noqa: B018


def test_calibration_split_holds_training_samples_out():
    from minprune.data import calibration_split
    X = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    (X_fit, y_fit), (X_cal, y_cal) = calibration_split(X, y, 10, rng=3)
    assert len(y_cal) == 10 and len(y_fit) == 40
    assert not set(y_cal) & set(y_fit) and set(y_cal) | set(y_fit) == set(y)
    with pytest.raises(ValueError, match="n_calibration must be between 1 and 49"):
        calibration_split(X, y, 50)


def test_the_study_never_calibrates_on_the_test_set(monkeypatch):
    from minprune import prune
    from minprune.experiments import NetworkConfig, network_study
    seen = []
    original = prune.criteria.REGISTRY["taylor"].score

    def spy(model, layers, data, **options):
        seen.append(np.asarray(data[0]))
        return original(model, layers, data, **options)
    record = prune.criteria.REGISTRY["taylor"]
    monkeypatch.setitem(prune.criteria.REGISTRY, "taylor",
                        type(record)(**{**record.__dict__, "score": spy}))
    config = NetworkConfig(model="mlp", hidden=(16,), dataset="spirals", n_train=300,
                           n_test=100, epochs=1, criterion="taylor", granularity="unit",
                           sparsities=(0.5,), finetune_epochs=0)
    study = network_study(config, log=lambda *a: None)
    (X_fit, _), (X_cal, _), (X_test, _) = study.data
    assert seen and all(len(x) == len(X_cal) for x in seen)
    rows = lambda a: {r.tobytes() for r in a}
    for x in seen:
        assert rows(x) == rows(X_cal)
        assert not rows(x) & rows(X_test) and not rows(x) & rows(X_fit)
