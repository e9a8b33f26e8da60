"""ONNX export (``io.to_onnx``, ``minprune export``): the checker passes and ONNX Runtime
computes what minprune computes, for every model of ``models`` and the zoo's, masked, CSR,
compacted and with blocks; the refusals; atomic writes."""
import os

import numpy as np
import pytest
from helpers import architectures, require
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize("name", ["lenet_300_100", "lenet5", "lenet_300_100_l0", "small_vgg",
                                  "small_vgg_slim", "resnet8", "resnet20", "mobilenet"])
def test_zoo_models_export(tmp_path, name):
    """The shelf's trained models (the L0-gated one's gates become a per-unit scale)."""
    require("onnx")
    from minprune import zoo
    (_, _), _, (X, _) = zoo.dataset(quick=True)
    model = zoo.trained(name, quick=True).eval()
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


# --- import -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BUILDS))
def test_minprune_onnx_minprune_round_trip(tmp_path, name):
    require("onnx")
    model = randomise(BUILDS[name]()).eval()
    shape = (4, 20) if name == "mlp tanh" else (4, 1, 28, 28)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    io.to_onnx(model, tmp_path / "m.onnx")
    back = io.from_onnx(tmp_path / "m.onnx")
    np.testing.assert_allclose(back(x).data, model(x).data, rtol=1e-5, atol=1e-5)
    io.to_onnx(back, tmp_path / "again.onnx")             # and out again: the same file
    assert (tmp_path / "again.onnx").read_bytes() == (tmp_path / "m.onnx").read_bytes()


@pytest.mark.parametrize("name", ["lenet5", "small_vgg", "resnet8", "mobilenet"])
def test_a_file_torch_exported_imports(tmp_path, name):
    """The file PyTorch's exporter writes for the torch twin (BatchNorm kept as its node)."""
    torch = require("torch")
    require("onnx")
    import warnings

    from minprune.nn.interop import to_torch
    model = randomise(BUILDS[name]()).eval()
    twin = to_torch(model).eval()
    example = torch.zeros(1, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(twin, example, str(tmp_path / "t.onnx"), input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    back = io.from_onnx(tmp_path / "t.onnx")
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(back(x).data, model(x).data, rtol=1e-4, atol=1e-5)


def test_torch_minprune_torch_round_trip():
    torch = require("torch")
    from minprune.nn.interop import from_torch, to_torch
    tnn = torch.nn
    torch.manual_seed(0)
    twin = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1), tnn.BatchNorm2d(4), tnn.ReLU(),
                          tnn.Conv2d(4, 4, 3, padding=1, groups=4), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(4 * 14 * 14, 10)).eval()
    ours = from_torch(twin)
    x = torch.randn(3, 1, 28, 28)
    np.testing.assert_allclose(ours(x.numpy()).data, twin(x).detach().numpy(), rtol=1e-5,
                               atol=1e-6)
    again = to_torch(ours).eval()
    np.testing.assert_array_equal(again(x).detach().numpy(), twin(x).detach().numpy())
    with pytest.raises(TypeError, match=r"module 1 \(GELU\) has no minprune layer"):
        from_torch(tnn.Sequential(tnn.Linear(3, 3), tnn.GELU()))


def test_bad_files_are_refused_in_one_line(tmp_path):
    onnx = require("onnx")
    from onnx import TensorProto, helper
    model = models.lenet5(rng=0).eval()
    io.to_onnx(model, tmp_path / "good.onnx")
    data = (tmp_path / "good.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[:len(data) // 2])
    (tmp_path / "junk.onnx").write_bytes(b"not an onnx file at all")
    for bad in ("cut.onnx", "junk.onnx"):
        with pytest.raises(ValueError, match="is not a (readable|valid) ONNX model"):
            io.from_onnx(tmp_path / bad)
    w1 = onnx.numpy_helper.from_array(np.ones((4, 3), np.float32), "w1")
    w2 = onnx.numpy_helper.from_array(np.ones((2, 5), np.float32), "w2")
    inputs = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])
    outputs = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])
    unchained = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1"], ["h"], transB=1, name="first"),
         helper.make_node("Gemm", ["h", "w2"], ["y"], transB=1, name="second")], "g",
        [inputs], [outputs], [w1, w2]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(unchained, tmp_path / "unchained_in.onnx")
    with pytest.raises(ValueError, match="is not a valid ONNX model: .*node name: second"):
        io.from_onnx(tmp_path / "unchained_in.onnx")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    softmax = helper.make_model(helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], name="probabilities")], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(softmax, tmp_path / "softmax.onnx")
    with pytest.raises(ValueError, match=r"node 'probabilities' \(Softmax\): minprune has no "
                                         r"layer for this operator"):
        io.from_onnx(tmp_path / "softmax.onnx")
    old = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 7)])
    onnx.save(old, tmp_path / "old.onnx")
    with pytest.raises(ValueError, match="opset 7 is outside the supported 9-21"):
        io.from_onnx(tmp_path / "old.onnx")
    with pytest.raises(FileNotFoundError):
        io.from_onnx(tmp_path / "missing.onnx")
    unchained = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(5, 2, rng=0))
    with pytest.raises(ValueError, match=r"layers do not chain for inputs of shape \(3,\)"):
        io.to_onnx(unchained, tmp_path / "unchained.onnx")
    assert not (tmp_path / "unchained.onnx").exists()


def test_prune_loads_onnx_and_exports_each_pruned_model(tmp_path):
    require("onnx")
    model = models.lenet_300_100(rng=0).eval()
    io.to_onnx(model, tmp_path / "in.onnx")
    out = tmp_path / "run"
    assert main(["prune", "--load", str(tmp_path / "in.onnx"), "--dataset", "glyph-digits",
                 "--granularity", "unit", "--scope", "local", "--sparsity", "0.5,0.8",
                 "--finetune-epochs", "0", "--n-train", "600", "--n-test", "100",
                 "--export-onnx", "--out", str(out)]) == 0
    assert "## ONNX" in (out / "report.md").read_text()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    for s in ("0.5", "0.8"):
        back = io.from_onnx(out / f"pruned_{s}.onnx")
        hidden = [m.out_features for m in back if isinstance(m, nn.Linear)][:2]
        assert hidden == [round(300 * (1 - float(s))), round(100 * (1 - float(s)))]
        np.testing.assert_allclose(runtime(out / f"pruned_{s}.onnx")(x), back(x).data,
                                   rtol=1e-5, atol=1e-5)


# --- trees -------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, kind", [("iris", "int"), ("wine", "str"),
                                        ("breast_cancer", "int"), ("diabetes", "reg")])
def test_trees_export_as_onnx_ml_with_the_same_predictions(tmp_path, data, kind):
    require("onnx")
    ort = require("onnxruntime")
    datasets = require("sklearn.datasets")
    from minprune import tree
    X, y = getattr(datasets, f"load_{data}")(return_X_y=True)
    if kind == "str":
        y = np.array(["class " + str(v) for v in y])
    est = (tree.DecisionTreeRegressor if kind == "reg" else tree.DecisionTreeClassifier)(
        random_state=0).fit(X[::2], y[::2])
    if kind != "reg":
        est = tree.prune_ccp(est, 0.01)
    # the edges: every threshold's own float32 neighbours, for every internal node
    t = est.tree_
    edges = []
    for node in np.flatnonzero(t.children_left != -1):
        for v in (np.float32(t.threshold[node]), np.nextafter(np.float32(t.threshold[node]),
                                                              np.float32(np.inf))):
            row = X[0].astype(np.float32).copy()
            row[t.feature[node]] = v
            edges.append(row)
    probe = np.vstack([X.astype(np.float32)] + edges)
    info = io.to_onnx(est, tmp_path / "t.onnx")
    assert info["nonzeros"] is None and info["parameters"] == len(t.children_left)
    session = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"x": probe})
    if kind == "reg":
        np.testing.assert_allclose(out[0][:, 0], est.predict(probe), rtol=1e-6)
    else:
        np.testing.assert_array_equal(out[0], est.predict(probe))
        np.testing.assert_allclose(out[1], est.predict_proba(probe), rtol=1e-6, atol=1e-7)


def test_the_command_exports_a_saved_tree(tmp_path, capsys):
    require("onnx")
    from minprune import data, tree
    X, y = data.make_classification(300, 5, n_informative=3)
    io.save(tree.DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y),
            tmp_path / "tree.npz")
    assert main(["export", str(tmp_path / "tree.npz"), "--onnx", str(tmp_path / "t.onnx")]) == 0
    assert "a tree of" in capsys.readouterr().out


@settings(max_examples=15, deadline=None)
@given(model=architectures(), pruned=st.booleans())
def test_random_residual_networks_round_trip_through_onnx(tmp_path_factory, model, pruned):
    require("onnx")
    randomise(model, seed=3)
    if pruned:
        prune.prune(model, 0.5, "magnitude", "filter", "global")
    model.eval()
    path = tmp_path_factory.mktemp("onnx") / "r.onnx"
    io.to_onnx(model, path, compact=pruned)
    x = np.random.default_rng(4).standard_normal((2, 1, 28, 28)).astype(np.float32)
    expected = model(x).data
    scale = 1e-6 * max(1.0, np.abs(expected).max())   # float32 rounding of the largest output
    np.testing.assert_allclose(runtime(path)(x), expected, rtol=1e-4, atol=max(1e-5, scale))
    np.testing.assert_allclose(io.from_onnx(path)(x).data, expected, rtol=1e-4,
                               atol=max(1e-5, scale))
