"""Pruning one layer without retraining: SparseGPT against a twin written straight from the
paper's Algorithm 1 and against the authors' update on a torch layer, N:M kept, the per-block
selection rules, the least-squares refit, Wanda's scores, the Hessian built batch by batch."""
import numpy as np
import pytest

from helpers import require
from minprune.bench.posttrain import authors_update
from minprune.prune import posttrain


def layer(rng, rows=12, columns=40, n=200, dead=()):
    W = rng.standard_normal((rows, columns))
    X = rng.standard_normal((n, columns)) * rng.uniform(0.2, 2.0, columns)
    X[:, list(dead)] = 0.0
    return W, X, 2 * X.T @ X / n


def algorithm1(W, H, sparsity, blocksize, percdamp, pattern=None):
    """The paper's Algorithm 1, column by column, every update applied at once to all later
    columns (no lazy batches), the mask of each block chosen from the weights at its start."""
    H, W = posttrain._damped(H, W, percdamp)
    Hinv = np.linalg.inv(H)
    U = np.linalg.cholesky(Hinv).T
    M = np.zeros_like(W, dtype=bool)
    for j in range(W.shape[1]):
        if pattern is None and j % blocksize == 0:
            block = slice(j, min(j + blocksize, W.shape[1]))
            score = (W[:, block] / np.diag(U)[block]) ** 2
            threshold = np.sort(score.ravel())[int(score.size * sparsity)]
            M[:, block] = score <= threshold
        if pattern is not None and j % pattern[1] == 0:
            group = slice(j, j + pattern[1])
            score = (W[:, group] / np.diag(U)[group]) ** 2
            for r, order in enumerate(np.argsort(score, axis=1, kind="stable")):
                M[r, j + order[:pattern[0]]] = True
        q = np.where(M[:, j], 0.0, W[:, j])
        err = (W[:, j] - q) / U[j, j]
        W[:, j:] -= np.outer(err, U[j, j:])
        W[:, j] = q
    return W


@pytest.mark.parametrize("blocksize", [7, 16, 128])
@pytest.mark.parametrize("pattern", [None, (2, 4)])
def test_sparsegpt_is_algorithm_1(rng, blocksize, pattern):
    W, X, H = layer(rng, dead=(3,))
    if pattern is not None and blocksize % pattern[1]:
        with pytest.raises(ValueError, match="blocksize must be a multiple of M = 4"):
            posttrain.sparsegpt(W, H, 0.6, pattern=pattern, blocksize=blocksize)
        return
    got, _ = posttrain.sparsegpt(W, H, 0.6, pattern=pattern, blocksize=blocksize)
    want = algorithm1(W, H, 0.6, blocksize, 0.01, pattern)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("sparsity, pattern", [(0.5, None), (0.8, None), (0.5, (2, 4))])
def test_sparsegpt_equals_the_authors_update(rng, sparsity, pattern):
    torch = require("torch")
    W, X, H = layer(rng, rows=30, columns=64, n=300, dead=(5, 17))
    got, _ = posttrain.sparsegpt(W, H, sparsity, pattern=pattern, blocksize=16)
    n, m = pattern or (0, 0)
    want = authors_update(torch, torch.from_numpy(W), torch.from_numpy(H), sparsity, n, m, 16,
                          0.01)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_n_m_is_held_and_the_selection_rules_count_as_they_say(rng):
    W, X, H = layer(rng, columns=48)
    pruned, _ = posttrain.sparsegpt(W, H, 0.5, pattern=(2, 4))
    assert ((pruned.reshape(12, 12, 4) == 0).sum(axis=2) >= 2).all()
    exact, _ = posttrain.sparsegpt(W, H, 0.5, blocksize=16, selection="exact")
    reference, _ = posttrain.sparsegpt(W, H, 0.5, blocksize=16)
    for b in range(3):
        block = slice(16 * b, 16 * b + 16)
        assert (exact[:, block] == 0).sum() == round(0.5 * 12 * 16)
        assert (reference[:, block] == 0).sum() == int(0.5 * 12 * 16) + 1   # one over
    with pytest.raises(ValueError, match="selection must be 'reference' or 'exact'"):
        posttrain.sparsegpt(W, H, 0.5, selection="nearest")


def test_sparsegpt_beats_the_mask_alone_and_the_refit_never_loses(rng):
    W, X, H = layer(rng)
    pruned, _ = posttrain.sparsegpt(W, H, 0.5)
    mask = pruned == 0
    masked = np.where(mask, 0.0, W)
    assert posttrain.layer_error(W, pruned, H) < posttrain.layer_error(W, masked, H)
    magnitude = np.abs(W) <= np.quantile(np.abs(W), 0.5)
    refit = posttrain.reconstruct(W, magnitude, H)
    assert (refit[magnitude] == 0).all()
    before = posttrain.layer_error(W, np.where(magnitude, 0.0, W), H)
    assert posttrain.layer_error(W, refit, H) <= before
    again = posttrain.reconstruct(W, mask, H)                   # SparseGPT's mask, refitted
    assert posttrain.layer_error(W, again, H) <= posttrain.layer_error(W, pruned, H) + 1e-12


def test_wanda_scores_and_the_hessian_built_batch_by_batch(rng):
    W, X, H = layer(rng)
    h = posttrain.Hessian(X.shape[1])
    for start in range(0, len(X), 37):
        h.add(X[start:start + 37])
    np.testing.assert_allclose(h.value(), H, rtol=1e-12)
    norms = np.sqrt((X ** 2).sum(axis=0))
    np.testing.assert_allclose(h.input_norms(), norms, rtol=1e-12)
    np.testing.assert_allclose(posttrain.wanda_scores(W, norms),
                               np.abs(W) * norms[None, :], rtol=0)
    with pytest.raises(ValueError, match="seen no calibration inputs"):
        posttrain.Hessian(3).value()


# --- a whole model, layer by layer -------------------------------------------------------------

def small_mlp(rng):
    from minprune import models
    return models.mlp([16, 24, 12, 4], rng=0), rng.standard_normal((150, 16)).astype(np.float32)


def test_each_layer_is_pruned_from_the_pruned_model_s_inputs(rng):
    from minprune import Tensor, no_grad
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    dense = [m.weight.data.astype(np.float64).copy() for m in model if hasattr(m, "weight")]
    trace = oneshot.prune_posttrain(model, 0.5, "sparsegpt", X, blocksize=8)
    assert [r["samples"] for r in trace] == [150] * 3
    # the second Linear's weights: SparseGPT on the inputs the *pruned* first layer gives
    first = [i for i, m in enumerate(model) if hasattr(m, "weight")][1]
    with no_grad():
        h = Tensor(X)
        for module in list(model)[:first]:
            h = module(h)
    H = posttrain.Hessian(h.shape[1]).add(h.data).value()
    want, _ = posttrain.sparsegpt(dense[1], H, 0.5, blocksize=8)
    np.testing.assert_allclose(model[first].weight.data, want, atol=1e-5)
    for r in trace:
        assert r["error_after"] <= r["error_masked"] and r["sparsity"] >= 0.5


@pytest.mark.parametrize("method", ["magnitude", "wanda", "magnitude+reconstruct", "sparsegpt"])
def test_every_method_holds_2_4_and_its_masks(rng, method):
    from minprune import prune
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    oneshot.prune_posttrain(model, 0.5, method, X, granularity="2:4", blocksize=8)
    for name, p in model.named_parameters():
        if name.endswith("weight"):
            assert p.mask is not None and (p.data[~p.mask] == 0).all()
            groups = (p.data.reshape(p.shape[0], -1, 4) == 0).sum(axis=2)
            assert (groups >= 2).all(), name
    assert prune.weight_sparsity(model) >= 0.5


def test_bad_input_is_refused_before_any_weight_changes_and_a_failure_restores(rng,
                                                                               monkeypatch):
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    for kwargs, message in [({"sparsity": 1.0}, "sparsity must be a number in \\[0, 1\\)"),
                            ({"method": "obs"}, "method must be one of"),
                            ({"data": None}, "needs calibration inputs"),
                            ({"granularity": "3:5"}, "blocksize must be a multiple of M = 5"),
                            ({"granularity": "block:1x4"}, "granularity must be 'weight' or")]:
        args = {"sparsity": 0.5, "method": "sparsegpt", "data": X, **kwargs}
        with pytest.raises(ValueError, match=message):
            oneshot.prune_posttrain(model, **args)
    calls = []

    def failing(*args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("midway")
        return real(*args)
    real = oneshot._prune_matrix
    monkeypatch.setattr(oneshot, "_prune_matrix", failing)
    with pytest.raises(RuntimeError, match="midway"):
        oneshot.prune_posttrain(model, 0.5, "sparsegpt", X)
    for n, p in model.named_parameters():
        assert np.array_equal(p.data, before[n]) and p.mask is None, n


def test_a_singular_hessian_is_carried_by_the_dampening(rng):
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    trace = oneshot.prune_posttrain(model, 0.5, "sparsegpt", X[:5])     # 5 samples, 16 inputs
    assert all(np.isfinite(p.data).all() for _, p in model.named_parameters())
    assert trace[0]["samples"] == 5


def test_the_wanda_criterion_is_weight_times_input_norm_on_linear_and_conv(rng):
    from minprune import Tensor, models, no_grad, prune
    from minprune.autograd.conv import im2col
    from minprune.prune import patterns
    for model, X in ((small_mlp(rng)[0], rng.standard_normal((40, 16)).astype(np.float32)),
                     (models.lenet5(rng=0),
                      rng.standard_normal((20, 1, 28, 28)).astype(np.float32))):
        y = np.zeros(len(X), dtype=np.int64)
        got = prune.scores(model, "wanda", "weight", (X, y), batch_size=7).values
        with no_grad():
            h = X
            for i, module in enumerate(model):
                if str(i) in got:
                    w = module.weight.data.astype(np.float64)
                    if w.ndim == 4:
                        k = module.kernel_size
                        cols = im2col(h, k, k, module.stride, module.padding)[0]
                    else:
                        cols = h.reshape(len(h), -1)
                    norms = np.sqrt((cols.astype(np.float64) ** 2).sum(axis=0))
                    want = patterns.as_weight(np.abs(patterns.as_matrix(w)) * norms, w.shape)
                    np.testing.assert_allclose(got[str(i)], want, rtol=1e-5)
                h = module(Tensor(h)).data
    model, X = small_mlp(rng)
    y = np.zeros(len(X), dtype=np.int64)
    prune.prune(model, 0.5, "wanda", "2:4", "global", data=(X, y))
    assert prune.weight_sparsity(model) >= 0.5


def test_prune_runs_sparsegpt_layer_by_layer_and_traces_it(rng):
    from minprune import prune
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    twin = small_mlp(rng)[0]
    y = np.zeros(len(X), dtype=np.int64)
    result = prune.prune(model, 0.5, "sparsegpt", "2:4", data=(X, y))
    oneshot.prune_posttrain(twin, 0.5, "sparsegpt", X, granularity="2:4")
    for (name, p), (_, q) in zip(model.named_parameters(), twin.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    assert result.selection is None and result.sparsity >= 0.5
    assert [r["layer"] for r in result.trace] == ["1", "3", "5"]
    assert all(r["error_after"] <= r["error_masked"] for r in result.trace)
    assert "sparsegpt" in str(result.trace)
    with pytest.raises(ValueError, match="data-driven: pass data"):
        prune.prune(small_mlp(rng)[0], 0.5, "sparsegpt")


def test_the_prune_command_runs_sparsegpt_without_fine_tuning(tmp_path):
    import os
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "minprune", "prune", "--model", "mlp", "--hidden", "16",
         "--n-train", "800", "--n-test", "200", "--epochs", "1", "--criterion",
         "sparsegpt", "--granularity", "2:4", "--sparsity", "0.5", "--calibration", "64",
         "--finetune-epochs", "0", "--out", "r"], cwd=tmp_path, capture_output=True,
        text=True, timeout=300, env=dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache")))
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "r" / "report.md").read_text()
    assert "calibrated on 64 training samples held out from training" in report
    assert "it keeps" in report and "at 50% sparsity and" not in report     # one level, once


def test_a_pattern_sparsegpt_cannot_hold_is_refused_before_any_work(tmp_path):
    import os
    import subprocess
    import sys
    done = subprocess.run(
        [sys.executable, "-m", "minprune", "prune", "--model", "mlp", "--hidden", "6",
         "--dataset", "spirals", "--criterion", "sparsegpt", "--granularity", "block:2x2",
         "--out", "r"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, MINPRUNE_CACHE=str(tmp_path / "cache")))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "criterion 'sparsegpt' prunes weights or N:M patterns, not 'block:2x2'" in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("pattern, columns", [((2, 4), 25), ((3, 4), 42), ((4, 8), 13)])
def test_a_short_last_group_counts_its_missing_columns_as_pruned(rng, pattern, columns):
    """As if the row were padded with dead inputs whose (zero) weights go first."""
    W, _, H = layer(rng, rows=6, columns=columns, n=300)
    pad = -columns % pattern[1]
    Wp = np.hstack([W, np.zeros((len(W), pad))])
    Hp = np.zeros((columns + pad,) * 2)
    Hp[:columns, :columns] = H
    got, _ = posttrain.sparsegpt(W, H, 0.5, pattern, blocksize=8, percdamp=0.0)
    want, _ = posttrain.sparsegpt(Wp, Hp, 0.5, pattern, blocksize=8, percdamp=0.0)
    np.testing.assert_allclose(got, want[:, :columns], rtol=0, atol=1e-12)
    assert ((got == 0).sum(1) == (want == 0).sum(1) - pad).all()


def test_2_4_on_lenet5_prunes_as_the_library_s_pattern_does(rng):
    """conv1 has 25 inputs per row: six groups of four and one of one (kept)."""
    from minprune import models, prune
    from minprune.prune import oneshot
    a, b = models.lenet5(rng=0), models.lenet5(rng=0)
    X = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    oneshot.prune_posttrain(a, 0.5, "magnitude", X, granularity="2:4")
    prune.prune(b, 0.5, "magnitude", granularity="2:4", scope="row")
    for x, y in zip(a.parameters(), b.parameters()):
        if y.mask is not None:
            np.testing.assert_array_equal(x.mask, y.mask)
    trace = oneshot.prune_posttrain(models.lenet5(rng=0), 0.5, "sparsegpt", X,
                                    granularity="2:4")
    assert trace[0]["sparsity"] == 12 / 25


# --- the doors: row scope, sequential Wanda, reconstruction after any criterion ---------------

def test_row_scope_prunes_the_same_count_in_every_output_row():
    from minprune import models, prune
    model = models.lenet5(rng=0)
    prune.prune(model, 0.7, "magnitude", scope="row")
    for m in model:
        if hasattr(m, "weight") and m.weight.ndim > 1:
            rows = (~m.weight.mask).reshape(m.weight.shape[0], -1)
            assert set(rows.sum(1)) == {round(0.7 * rows.shape[1])}
    model = models.lenet_300_100(rng=0)
    prune.prune(model, 0.6, "magnitude", granularity="2:4", scope="row")
    w = model[1].weight
    assert set((~w.mask).sum(1)) == {round(0.6 * 784)}
    assert ((~w.mask).reshape(300, -1, 4).sum(2) >= 2).all()           # 2:4 still held
    with pytest.raises(ValueError, match="scope 'row' prunes weights or N:M patterns"):
        prune.prune(models.lenet_300_100(rng=0), 0.5, granularity="unit", scope="row")


def test_wanda_in_row_scope_is_the_paper_s_scheme_layer_by_layer(rng):
    """Each layer's input norms come from the model with the layers before it pruned."""
    from minprune import Tensor, no_grad, prune
    from minprune.prune import oneshot
    model, X = small_mlp(rng)
    twin, _ = small_mlp(rng)
    prune.prune(model, 0.5, "wanda", scope="row", data=(X, np.zeros(len(X), int)))
    oneshot.prune_posttrain(twin, 0.5, "wanda", X)                     # the direct route
    for a, b in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(a.data, b.data)
    # and by hand for the last layer: |W| * ||x_j|| of the inputs the pruned model gives
    layers = [i for i, m in enumerate(model) if hasattr(m, "weight")]
    with no_grad():
        h = Tensor(X)
        for module in list(model)[:layers[-1]]:
            h = module(h)
    dense, _ = small_mlp(rng)
    W = dense[layers[-1]].weight.data.astype(np.float64)
    score = np.abs(W) * np.linalg.norm(h.data.astype(np.float64), axis=0)
    k = round(0.5 * W.shape[1])
    want = np.ones_like(W, dtype=bool)
    np.put_along_axis(want, np.argsort(score, axis=1, kind="stable")[:, :k], False, axis=1)
    np.testing.assert_array_equal(model[layers[-1]].weight.mask, want)


def test_reconstruction_after_any_criterion_never_loses_and_keeps_the_mask(rng):
    from minprune import prune
    model, X = small_mlp(rng)
    data = (X, np.zeros(len(X), int))
    masked, _ = small_mlp(rng)
    prune.prune(masked, 0.6, "lamp", scope="global")
    result = prune.prune(model, 0.6, method=prune.Method("lamp", "weight", "global",
                                                         reconstruct=True), data=data)
    for a, b in zip(model.parameters(), masked.parameters()):
        if b.mask is not None:
            np.testing.assert_array_equal(a.mask, b.mask)       # the same mask, refitted
            assert not np.any(a.data[~a.mask])
    rows = [r for r in result.trace if "error_after" in r]
    assert len(rows) == 3 and all(r["error_after"] <= r["error_masked"] + 1e-9 for r in rows)
    assert any(r["error_after"] < 0.9 * r["error_masked"] for r in rows)
    with pytest.raises(ValueError, match="needs calibration inputs"):
        prune.prune(small_mlp(rng)[0], 0.5, method=prune.Method(reconstruct=True))
    with pytest.raises(ValueError, match="reconstruct must be True or False, got 1"):
        prune.Method(reconstruct=1)


def test_calibration_sets_of_different_sizes_are_nested_and_train_on_the_same_samples(rng):
    from minprune.data import calibration_split
    X, y = rng.standard_normal((400, 3)), np.arange(400)
    (fit_a, _), (_, cal_a) = calibration_split(X, y, 32, 5, held_out=128)
    (fit_b, _), (_, cal_b) = calibration_split(X, y, 128, 5, held_out=128)
    np.testing.assert_array_equal(fit_a, fit_b)
    assert set(cal_a) < set(cal_b) and len(cal_b) == 128
    with pytest.raises(ValueError, match="held_out must be between n_calibration=32 and 399"):
        calibration_split(X, y, 32, held_out=16)
