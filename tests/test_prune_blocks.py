"""Layer (block) pruning: granularity "block" removes whole residual blocks, leaving their
shortcuts; its three criteria against direct computations; stages; compaction and the
inference plan; the command line end to end."""
import json

import numpy as np
import pytest

from minprune import Tensor, infer, models, nn, prune
from minprune.cli import main
from minprune.nn.train import loss_for
from minprune.nn.walk import depth
from minprune.prune.blocks import stages


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def loss(model, X, y):
    with nn.eval_mode(model):
        return float(loss_for(model(Tensor(X)), y).data)


def test_stages_start_where_the_shape_changes():
    assert [[n for n, _ in s.blocks] for s in stages(models.resnet(20, 2, rng=0))] == \
        [["3", "5", "7"], ["9", "11", "13"], ["15", "17", "19"]]
    assert [s.n_groups for s in stages(models.resnet(8, 2, rng=0))] == [1, 1, 1]
    assert [s.n_groups for s in stages(models.mobilenet(2, rng=0))] == [1]
    with pytest.raises(ValueError, match="needs residual blocks"):
        stages(models.lenet5(rng=0))


def test_the_three_block_criteria_are_what_they_say():
    X, y = data()
    model = models.resnet(20, 2, rng=0)
    stage = stages(model)[1]
    norms = prune.scores(model, "magnitude", "block", p=2).values["9"]
    for k, (_, block) in enumerate(stage.blocks):
        weights = [m.weight.data.ravel() for m in block.body.modules()
                   if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert np.isclose(norms[k], np.linalg.norm(np.concatenate(weights).astype(np.float64)))
    ablation = prune.scores(model, "sensitivity", "block", (X, y)).values["9"]
    base = loss(model, X, y)
    for k, (_, block) in enumerate(stage.blocks):
        without = nn.Sequential(*[m if m is not block else
                                  (block.shortcut if not block.identity else nn.Sequential())
                                  for m in model])
        assert np.isclose(ablation[k], loss(without, X, y) - base, rtol=1e-4, atol=1e-6)
    influence = prune.scores(model, "block_influence", "block", (X, y)).values
    with nn.eval_mode(model):
        h = Tensor(X)
        for i, m in enumerate(model):
            out = m(h)
            if isinstance(m, nn.Residual):
                a = m.branch(h).data.reshape(len(X), -1).astype(np.float64)
                b = out.data.reshape(len(X), -1).astype(np.float64)
                cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
                stage_name = next(s.name for s in stages(model)
                                  if str(i) in [n for n, _ in s.blocks])
                k = [n for n, _ in next(s for s in stages(model)
                                        if s.name == stage_name).blocks].index(str(i))
                assert np.isclose(influence[stage_name][k], np.mean(1 - cos), rtol=1e-6)
            h = out


@pytest.mark.parametrize("criterion", ["magnitude", "sensitivity", "block_influence", "random"])
@pytest.mark.parametrize("scope", ["local", "global"])
def test_a_pruned_block_computes_its_shortcut_and_compaction_takes_it_out(criterion, scope):
    X, y = data()
    model = models.resnet(20, 2, rng=1)
    result = prune.prune(model, 0.5, criterion, "block", scope, data=(X, y), rng=0)
    removed = [s.pruned_groups() for s in stages(model)]
    if scope == "local":                 # round(0.5 * 3) = 2 of every stage
        assert [int(r.sum()) for r in removed] == [2, 2, 2]
    else:                                # round(0.5 * 9) = 4 in all, a stage may lose all
        assert int(sum(r.sum() for r in removed)) == 4
    assert result.trace[0]["members"] == ["3", "5", "7"]
    small = prune.compact(model).eval()
    model.eval()
    np.testing.assert_allclose(small(Tensor(X)).data, model(Tensor(X)).data, rtol=1e-5,
                               atol=1e-6)
    blocks_left = sum(isinstance(m, nn.Residual) for m in small)
    assert blocks_left == 9 - int(sum(r.sum() for r in removed))
    assert depth(small) < depth(model) == 20
    np.testing.assert_allclose(infer.compile(small)(X), small(Tensor(X)).data, rtol=1e-5,
                               atol=1e-6)


def test_block_pruning_then_fine_tuning_keeps_the_blocks_out():
    X, y = data(16)
    model = models.resnet(8, 2, rng=0)
    prune.prune(model, 0.34, "magnitude", "block", "global")
    gone = [s.pruned_groups() for s in stages(model)]
    assert sum(int(g.sum()) for g in gone) == 1
    nn.fit(model, X, y, epochs=1, batch_size=8, progress=False, rng=0,
           optimizer=nn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    assert [s.pruned_groups().tolist() for s in stages(model)] == [g.tolist() for g in gone]


def test_the_command_line_prunes_blocks_and_reports_depth(tmp_path):
    out = tmp_path / "run"
    code = main(["prune", "--model", "resnet8", "--granularity", "block", "--criterion",
                 "block_influence", "--scope", "global", "--sparsity", "0.34", "--epochs", "1",
                 "--finetune-epochs", "0", "--n-train", "600", "--n-test", "100",
                 "--calibration", "32", "--out", str(out)])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "depth after compact" in report and "layers deep (of 8)" in report
    results = json.loads((out / "results.json").read_text())
    row = results["network"]["rows"][0]
    assert row["depth"] < row["dense_depth"] == 8
