"""Every figure draws what it says it draws, and writes a PNG."""
import numpy as np

from minprune import models, prune, viz


def test_pruning_figures(tmp_path):
    model = models.lenet_300_100(rng=0)
    before = {"1": model[1].weight.data.copy()}
    prune.prune(model, 0.8)
    curves = viz.sparsity_accuracy({"global": ([0.5, 0.9], [0.9, 0.8])}, tmp_path / "a.png",
                                   baseline=0.95)
    bars = viz.layer_sparsity(model, tmp_path / "b.png")
    hists = viz.weight_histograms(before, {"1": model[1].weight.data}, tmp_path / "c.png")
    image = viz.mask_image(model[1].weight, tmp_path / "d.png")
    learning = viz.learning_curves({"loss": [1, 0.5], "accuracy": [0.5, 0.8],
                                    "val_loss": [1, 0.6], "val_accuracy": [0.4, 0.7]},
                                   tmp_path / "e.png")
    for name in "abcde":
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isclose(prune.weight_sparsity(model), 0.8, atol=1e-3)

    # what each figure shows
    ax = curves.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "global")
    np.testing.assert_allclose(line.get_xdata(), [0.5, 0.1])        # fraction kept
    np.testing.assert_allclose(line.get_ydata(), [0.9, 0.8])
    assert any(ln.get_label() == "dense" and ln.get_ydata()[0] == 0.95 for ln in ax.get_lines())
    heights = [p.get_height() for p in bars.axes[0].patches]
    expected = [100 * r["sparsity"] for r in prune.summary(model)[:-1]]
    np.testing.assert_allclose(heights, expected)
    kept_counts = sum(p.get_height() for p in hists.axes[0].containers[1])
    assert kept_counts == np.count_nonzero(model[1].weight.data)
    shown = image.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(np.asarray(shown, dtype=bool), model[1].weight.mask)
    loss_ax, acc_ax = learning.axes
    np.testing.assert_allclose(loss_ax.get_lines()[1].get_ydata(), [1, 0.6])
    np.testing.assert_allclose(acc_ax.get_lines()[0].get_ydata(), [0.5, 0.8])


def test_many_sweep_lines_become_small_multiples_that_each_fit_one_axes(tmp_path):
    from minprune.experiments import sweep_report
    methods = {}
    for criterion in ("magnitude", "wanda", "sparsegpt", "random"):
        for granularity in ("weight", "2:4"):
            for ft in (0, 1):
                for cal in (128, 512, 2048):
                    c = {"criterion": criterion, "granularity": granularity, "scope": "row",
                         "schedule": "one-shot", "steps": 1, "finetune_epochs": ft,
                         "n_calibration": cal, "reconstruct": False}
                    m = {"compression": (2.0, None, 1), "accuracy": (0.5 + cal / 1e4, 0.01, 3),
                         "config": c}
                    methods[sweep_report.method_name(c)] = {0.5: m}
    panels, split = sweep_report.panels_of(methods, sweep_report.GROUPS)
    assert split == ["finetune_epochs", "granularity"]
    assert len(panels) == 4 and all(len(v) <= sweep_report.MAX_LINES for v in panels.values())
    assert sorted(sum(panels.values(), [])) == sorted(methods)    # every line, once
    sweep_report.figures(tmp_path, methods, {}, [])
    fig = viz.accuracy_panels({"a": {"x": ([2.0], [0.9], [0.0])}, "b": {}}, None,
                              path=tmp_path / "p.png")
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == ["a", "b"]
    assert (tmp_path / "accuracy_vs_compression.png").read_bytes()[:4] == b"\x89PNG"
