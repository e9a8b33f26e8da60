"""Residual blocks, grouped and depthwise convolutions, global pooling and the networks built
from them (resnet, mobilenet): what they compute, their refusals, saving them, and the
weight-level pruning that walks through their blocks (the torch comparisons are in
test_nn_torch.py)."""
import numpy as np
import pytest

from minprune import Tensor, io, models, nn, prune
from minprune.autograd.tensor import no_grad
from minprune.nn.walk import forward_visiting, named_leaves
from minprune.prune import oneshot
from minprune.sparse import to_sparse


def images(n=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 1, 28, 28)).astype(np.float32)


def test_a_depthwise_convolution_is_one_small_convolution_per_channel():
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(3, 6, 3, padding=1, groups=3, rng=rng)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    out = conv(Tensor(x)).data
    for c in range(3):                               # output channels 2c, 2c+1 read input c
        alone = nn.Conv2d(1, 2, 3, padding=1, rng=rng)
        alone.weight.data[...] = conv.weight.data[2 * c:2 * c + 2]
        alone.bias.data[...] = conv.bias.data[2 * c:2 * c + 2]
        np.testing.assert_allclose(out[:, 2 * c:2 * c + 2], alone(Tensor(x[:, c:c + 1])).data,
                                   rtol=1e-5, atol=1e-6)


def test_residual_adds_its_shortcut_and_global_pooling_averages():
    body = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, rng=0))
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(nn.Residual(body)(Tensor(x)).data, body(Tensor(x)).data + x)
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(Tensor(x)).data, x.mean(axis=(2, 3)),
                               rtol=1e-6)


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(4, 6, 3, groups=4), "groups=4 must divide in_channels=4 and out_ch"),
    (lambda: nn.Conv2d(4, 4, 3, groups=0), "groups must be a positive integer, got 0"),
    (lambda: nn.Residual(nn.Conv2d(1, 1, 1)), "body must be a Sequential, got Conv2d"),
    (lambda: models.resnet(10), "depth must be 6n + 2 with n >= 1 (8, 14, 20, ...), got 10"),
    (lambda: models.mobilenet(0), "width must be a positive integer, got 0"),
    (lambda: nn.Residual(nn.Sequential(nn.Conv2d(1, 2, 1, rng=0)))(Tensor(images(1))),
     "the body gives (1, 2, 28, 28) but the shortcut (1, 1, 28, 28)"),
    (lambda: nn.GlobalAvgPool2d()(Tensor(np.zeros((2, 3)))), "expects input of shape (N, C, H"),
])
def test_bad_blocks_are_refused_in_one_line(make, message):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert message in str(info.value)


@pytest.mark.parametrize("build", [models.resnet, models.mobilenet,
                                   lambda rng: models.resnet(20, 4, rng=rng)])
def test_networks_take_28x28_images_and_save_with_their_masks(build, tmp_path):
    model = build(rng=0)
    prune.prune(model, 0.6, scope="local")
    model.eval()
    x = images()
    assert model(Tensor(x)).shape == (4, 10)
    io.save(model, tmp_path / "m.npz")
    back = io.load(tmp_path / "m.npz").eval()
    assert repr(back) == repr(model)
    np.testing.assert_array_equal(back(Tensor(x)).data, model(Tensor(x)).data)
    for (name, p), (_, q) in zip(model.named_parameters(), back.named_parameters()):
        assert (p.mask is None) == (q.mask is None), name
        if p.mask is not None:
            np.testing.assert_array_equal(p.mask, q.mask)


def test_the_resnets_have_he_et_al_s_layout():
    for depth in (8, 14, 20):
        model = models.resnet(depth, 16, rng=0)
        convs = [n for n, m in named_leaves(model) if isinstance(m, nn.Conv2d)
                 and "shortcut" not in n]
        assert len(convs) + 1 == depth                     # + the final Linear
        shortcuts = [m for n, m in named_leaves(model) if "shortcut" in n
                     and isinstance(m, nn.Conv2d)]
        assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride)
                for m in shortcuts] == [(16, 32, 1, 2), (32, 64, 1, 2)]
    with no_grad():
        seen = []
        forward_visiting(models.resnet(8, rng=0), Tensor(images(1)),
                         lambda name, m, h: seen.append((name, h.shape[-1])))
    sizes = dict(seen)
    assert sizes["3.body.0"] == 28 and sizes["5.body.3"] == 14 and sizes["7.body.3"] == 7


def test_weight_pruning_reaches_every_layer_inside_the_blocks():
    model = models.resnet(8, rng=0)
    prune.prune(model, 0.7, scope="local")
    weighted = [m for _, m in named_leaves(model) if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(weighted) == 10
    for m in weighted:
        assert abs((~m.weight.mask).mean() - 0.7) < 0.02
    assert abs(prune.weight_sparsity(model) - 0.7) < 1e-3
    sparse = to_sparse(model).eval()
    model.eval()
    np.testing.assert_allclose(sparse(Tensor(images())).data, model(Tensor(images())).data,
                               rtol=1e-4, atol=1e-5)


def test_post_training_pruning_treats_each_group_of_a_grouped_convolution_alone():
    model = models.mobilenet(4, rng=0)
    x = images(32)
    trace = oneshot.prune_posttrain(model, 0.5, "magnitude", x)
    depthwise = [m for _, m in named_leaves(model) if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 3 and len(trace) == len([m for _, m in named_leaves(model)
                                                      if isinstance(m, (nn.Linear, nn.Conv2d))])
    for conv in depthwise:                  # each 3x3 filter keeps its own 5 largest of 9
        w = conv.weight.data.reshape(conv.out_channels, -1)
        assert (np.count_nonzero(w, axis=1) == 5).all()
    # Wanda's norms per group: the registry's scores equal |w| * ||x_j|| over each group's
    # own channels
    model = models.mobilenet(4, rng=0)
    layers = [g for g in prune.prunable_layers(model, "weight")
              if getattr(g.module, "groups", 1) > 1][:1]
    scores = oneshot.wanda(model, layers, (x, np.zeros(len(x), int)))[layers[0].name]
    with no_grad(), nn.eval_mode(model):
        seen = {}
        forward_visiting(model, Tensor(x), lambda name, m, h: seen.setdefault(name, h.data))
    conv, h = layers[0].module, seen[layers[0].name]
    padded = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for c in (0, conv.out_channels - 1):
        patches = np.stack([padded[:, c, i:i + 28, j:j + 28] for i in range(3)
                            for j in range(3)], axis=-1).reshape(-1, 9)
        norms = np.sqrt((patches.astype(np.float64) ** 2).sum(axis=0))
        expected = np.abs(conv.weight.data[c, 0].astype(np.float64)).ravel() * norms
        np.testing.assert_allclose(scores[c, 0].ravel(), expected, rtol=1e-5)
