"""Every figure draws and writes a PNG."""
import numpy as np

from minprune import models, prune, viz


def test_pruning_figures(tmp_path):
    model = models.lenet_300_100(rng=0)
    before = {"1": model[1].weight.data.copy()}
    prune.prune(model, 0.8)
    viz.sparsity_accuracy({"global": ([0.5, 0.9], [0.9, 0.8])}, tmp_path / "a.png", baseline=0.95)
    viz.layer_sparsity(model, tmp_path / "b.png")
    viz.weight_histograms(before, {"1": model[1].weight.data}, tmp_path / "c.png")
    viz.mask_image(model[1].weight, tmp_path / "d.png")
    viz.learning_curves({"loss": [1, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1, 0.6],
                         "val_accuracy": [0.4, 0.7]}, tmp_path / "e.png")
    for name in "abcde":
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isclose(prune.weight_sparsity(model), 0.8, atol=1e-3)
