"""ONNX export (``io.to_onnx``, ``minprune export``): the checker passes and ONNX Runtime
computes what minprune computes, for every model of ``models`` and the zoo's, masked, CSR,
compacted and with blocks; the refusals; atomic writes."""
import os

import numpy as np
import pytest
from helpers import require

from minprune import io, models, nn, prune, sparse
from minprune.cli import main


def randomise(model, seed=1):
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean[:] = rng.standard_normal(m.num_features)
            m.running_var[:] = rng.uniform(0.5, 2, m.num_features)
            m.weight.data = rng.uniform(0.5, 1.5, m.num_features).astype(np.float32)
            m.bias.data = rng.standard_normal(m.num_features).astype(np.float32)
    return model


def runtime(path):
    ort = require("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


BUILDS = {"lenet_300_100": lambda: models.lenet_300_100(rng=0),
          "lenet5": lambda: models.lenet5(rng=0),
          "small_vgg": lambda: models.small_vgg(rng=0),
          "resnet8": lambda: models.resnet(8, 4, rng=0),
          "mobilenet": lambda: models.mobilenet(4, rng=0),
          "mlp tanh": lambda: models.mlp([20, 16, 5], "tanh", rng=0)}


@pytest.mark.parametrize("name", list(BUILDS))
@pytest.mark.parametrize("variant", ["dense", "masked", "csr", "compacted", "2:4"])
def test_onnx_runtime_computes_what_minprune_computes(tmp_path, name, variant):
    require("onnx")
    model = randomise(BUILDS[name]())
    shape = (5, 20) if name == "mlp tanh" else (5, 1, 28, 28)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    granularity = ("unit" if name in ("lenet_300_100", "mlp tanh") else "filter") \
        if variant == "compacted" else ("2:4" if variant == "2:4" else "weight")
    if variant != "dense":
        prune.prune(model, 0.5, "magnitude", granularity, "local")
    if variant == "csr":
        model = sparse.to_sparse(model, min_sparsity=0.0)
    model.eval()
    info = io.to_onnx(model, tmp_path / "m.onnx", compact=variant == "compacted")
    np.testing.assert_allclose(runtime(tmp_path / "m.onnx")(x), model(x).data, rtol=1e-5,
                               atol=1e-5)
    weights = sum(p.size for p in model.parameters())
    if variant == "compacted":
        assert info["parameters"] < weights
    if variant in ("masked", "2:4"):
        assert info["nonzeros"] < 0.6 * info["parameters"]
    assert oct(os.stat(tmp_path / "m.onnx").st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_zoo_models_export(tmp_path):
    require("onnx")
    from minprune import zoo
    (_, _), _, (X, _) = zoo.dataset(quick=True)
    model = zoo.trained("lenet5", quick=True).eval()
    io.to_onnx(model, tmp_path / "z.onnx")
    np.testing.assert_allclose(runtime(tmp_path / "z.onnx")(X[:8]), model(X[:8]).data,
                               rtol=1e-5, atol=1e-5)


def test_the_command_writes_and_refuses(tmp_path, capsys):
    require("onnx")
    saved = tmp_path / "m.npz"
    model = models.resnet(8, 4, rng=0)
    prune.prune(model, 0.5, "magnitude", "block", "global")
    io.save(model, saved)
    target = tmp_path / "m.onnx"
    assert main(["export", str(saved), "--onnx", str(target), "--compact"]) == 0
    assert "nonzero (compacted first)" in capsys.readouterr().out
    before = target.read_bytes()
    assert main(["export", str(saved), "--onnx", str(target)]) == 2
    assert "exists; pass force=True (--force)" in capsys.readouterr().err
    assert main(["export", str(saved), "--onnx", str(target), "--opset", "9", "--force"]) == 2
    assert "opset must be an integer from 13 to 21, got 9" in capsys.readouterr().err
    assert target.read_bytes() == before                     # nothing written on refusal
    assert main(["export", str(tmp_path / "none.npz"), "--onnx", str(target)]) == 2
    assert "cannot read model" in capsys.readouterr().err
