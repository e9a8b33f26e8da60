"""Module bookkeeping: names, state dicts, modes, shape errors."""
import numpy as np
import pytest

from minprune import Tensor, models, nn


def test_parameter_names_follow_pytorch(rng):
    model = models.small_vgg(rng=rng)
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert "1.running_mean" in model.state_dict()
    assert "1.num_batches_tracked" in model.state_dict()


def test_parameter_counts():
    assert sum(p.size for p in models.lenet_300_100(rng=0).parameters()) == 266_610
    assert sum(p.size for p in models.lenet5(rng=0).parameters()) == 431_080


@pytest.mark.parametrize("build", [models.lenet_300_100, models.lenet5, models.small_vgg])
def test_models_take_images(build, rng):
    out = build(rng=rng)(Tensor(rng.random((2, 1, 28, 28))))
    assert out.shape == (2, 10)


def test_mlp_takes_flat_input(rng):
    assert models.lenet_300_100(rng=rng)(rng.random((3, 784))).shape == (3, 10)


def test_state_dict_round_trip(rng):
    a, b = models.small_vgg(rng=0), models.small_vgg(rng=1)
    a.train()
    a(Tensor(rng.random((4, 1, 28, 28))))           # move the running statistics
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    x = rng.random((2, 1, 28, 28))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_state_dict_missing_and_misshapen_keys_are_named():
    model = models.lenet_300_100(rng=0)
    state = model.state_dict()
    del state["1.bias"]
    with pytest.raises(KeyError, match="1.bias"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["3.weight"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match=r"'3.weight' has shape \(2, 2\)"):
        model.load_state_dict(state)


def test_layer_shape_errors_give_both_shapes(rng):
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(3, 4\)"):
        nn.Linear(4, 3, rng=rng)(np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(1, 2, 8, 8\)"):
        nn.Conv2d(3, 4, 3, rng=rng)(np.zeros((1, 2, 8, 8)))


def test_train_eval_modes_reach_every_module(rng):
    model = models.small_vgg(rng=rng).eval()
    assert not any(m.training for m in model.modules())
    assert all(m.training for m in model.train().modules())


def test_dropout_is_reproducible_and_off_in_eval():
    x = np.ones((4, 10))
    a, b = nn.Dropout(0.5, rng=3), nn.Dropout(0.5, rng=3)
    np.testing.assert_array_equal(a(Tensor(x)).data, b(Tensor(x)).data)
    assert set(np.unique(a(Tensor(x)).data)) <= {0.0, 2.0}
    np.testing.assert_array_equal(a.eval()(Tensor(x)).data, x)


def test_sequential_indexing(rng):
    model = models.lenet5(rng=rng)
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[-1], nn.Linear)
    assert len(model[:3]) == 3


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(3, 0)
    with pytest.raises(ValueError, match="sizes"):
        models.mlp([10])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("build", ["resnet", "small_vgg"])
def test_fused_layers_give_the_unfused_results(build, dtype, monkeypatch):
    """In training Sequential runs BatchNorm and the ReLU after it as one op, and a residual
    block and the ReLU after it (resnet): the loss, the running statistics and every
    gradient are those of the layers run one by one (the same float operations, the ReLU's
    mask recomputed from the input in the backward)."""
    from minprune import functional as F
    from minprune.nn import module
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, 6)
    results = []
    for fuse in (True, False):
        monkeypatch.setattr(module, "FUSE", fuse)
        model = getattr(models, build)(rng=0)
        for p in model.parameters():
            p.data = p.data.astype(dtype)
        for m in model.modules():
            for name in ("running_mean", "running_var"):
                if hasattr(m, name):
                    setattr(m, name, getattr(m, name).astype(dtype))
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        results.append([loss.data] + [p.grad for p in model.parameters()]
                       + [m.running_var for m in model.modules() if hasattr(m, "running_var")])
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    for fused, unfused in zip(*results):
        np.testing.assert_array_equal(fused, unfused)
