"""Layers, whole models and optimizers against PyTorch (the oracle), forward and backward."""
import copy

import numpy as np
import pytest
from helpers import require
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minprune import Tensor, models, nn
from minprune import functional as F
from minprune.nn import module, optim
from minprune.nn.interop import to_torch

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.fixture
def torch():
    t = require("torch")
    t.set_num_threads(1)
    return t


def cast(model, dtype):
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    for m in model.modules():
        for name in vars(m).get("_buffers", ()):
            b = getattr(m, name)
            if b.dtype.kind == "f":
                setattr(m, name, b.astype(dtype))
    return model


def compare(torch, model, x, dtype, training=True):
    """Forward, input gradient and every parameter gradient against torch."""
    cast(model, dtype)
    tmodel = to_torch(model, {np.float64: torch.float64, np.float32: torch.float32}[dtype])
    model.train(training)
    tmodel.train(training)
    xt = torch.tensor(x.astype(dtype), requires_grad=True)
    ours_x = Tensor(x.astype(dtype), requires_grad=True)
    out, tout = model(ours_x), tmodel(xt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **TOL[dtype])
    weights = np.random.default_rng(5).standard_normal(out.shape).astype(dtype)
    (out * weights).sum().backward()
    (tout * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(ours_x.grad, xt.grad.numpy(), **TOL[dtype])
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), **TOL[dtype],
                                   err_msg=name)
    tbuffers = dict(tmodel.named_buffers())
    for name, b in model.named_buffers():
        np.testing.assert_allclose(b, tbuffers[name].numpy(), **TOL[dtype], err_msg=name)


LAYERS = {
    "linear": (lambda r: nn.Sequential(nn.Linear(7, 5, rng=r)), (4, 7)),
    "conv s1 p0": (lambda r: nn.Sequential(nn.Conv2d(3, 4, 3, rng=r)), (2, 3, 8, 8)),
    "conv s2 p2": (lambda r: nn.Sequential(nn.Conv2d(3, 4, 5, stride=2, padding=2, rng=r)),
                   (2, 3, 9, 9)),
    "conv s1 p2": (lambda r: nn.Sequential(nn.Conv2d(2, 3, 3, padding=2, rng=r)), (2, 2, 6, 7)),
    "conv s2 p0": (lambda r: nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, rng=r)), (2, 2, 7, 7)),
    "conv groups 2": (lambda r: nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, groups=2, rng=r)),
                      (2, 4, 6, 5)),
    "depthwise s2 p1": (lambda r: nn.Sequential(nn.Conv2d(3, 3, 3, 2, 1, groups=3, rng=r)),
                        (2, 3, 7, 7)),
    "depthwise x2 no bias": (lambda r: nn.Sequential(nn.Conv2d(3, 6, 5, groups=3, bias=False,
                                                               rng=r)), (1, 3, 6, 6)),
    "global avgpool": (lambda r: nn.Sequential(nn.GlobalAvgPool2d(), nn.Linear(3, 2, rng=r)),
                       (2, 3, 5, 4)),
    "residual identity": (lambda r: nn.Sequential(nn.Residual(nn.Sequential(
        nn.Conv2d(3, 3, 3, padding=1, rng=r), nn.BatchNorm2d(3), nn.ReLU()))), (2, 3, 5, 5)),
    "residual 1x1": (lambda r: nn.Sequential(nn.Residual(
        nn.Sequential(nn.Conv2d(2, 4, 3, 2, 1, rng=r)),
        nn.Sequential(nn.Conv2d(2, 4, 1, 2, rng=r), nn.BatchNorm2d(4)))), (2, 2, 6, 6)),
    "maxpool": (lambda r: nn.Sequential(nn.MaxPool2d(2)), (2, 3, 6, 6)),
    "maxpool overlap": (lambda r: nn.Sequential(nn.MaxPool2d(3, 2, 1)), (2, 3, 7, 7)),
    "avgpool": (lambda r: nn.Sequential(nn.AvgPool2d(2)), (2, 3, 6, 6)),
    "avgpool pad": (lambda r: nn.Sequential(nn.AvgPool2d(3, 2, 1)), (2, 3, 7, 7)),
    "batchnorm1d": (lambda r: nn.Sequential(nn.BatchNorm1d(5)), (8, 5)),
    "batchnorm2d": (lambda r: nn.Sequential(nn.BatchNorm2d(3)), (4, 3, 5, 5)),
    "dropout p=0": (lambda r: nn.Sequential(nn.Dropout(0.0), nn.Linear(4, 2, rng=r)), (3, 4)),
    "activations": (lambda r: nn.Sequential(nn.Linear(4, 6, rng=r), nn.Tanh(),
                                            nn.Linear(6, 6, rng=r), nn.Sigmoid(),
                                            nn.Linear(6, 3, rng=r), nn.ReLU()), (5, 4)),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_matches_torch(torch, name, training, dtype):
    build, shape = LAYERS[name]
    rng = np.random.default_rng(1)
    model = build(rng)
    for m in model.modules():                       # non-trivial BatchNorm state and affine
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.weight.data = rng.uniform(0.5, 1.5, m.num_features).astype(m.weight.dtype)
            m.bias.data = rng.standard_normal(m.num_features).astype(m.bias.dtype)
            m.running_mean[:] = rng.standard_normal(m.num_features)
            m.running_var[:] = rng.uniform(0.5, 2, m.num_features)
    compare(torch, model, rng.standard_normal(shape), dtype, training)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("build", [models.lenet5, models.small_vgg, models.lenet_300_100,
                                   models.resnet, models.mobilenet,
                                   lambda rng: models.resnet(20, 4, rng=rng)],
                         ids=["lenet5", "small_vgg", "lenet_300_100", "resnet8", "mobilenet",
                              "resnet20"])
def test_whole_model_matches_torch(torch, build, dtype):
    rng = np.random.default_rng(2)
    model = build(rng=rng)
    for _ in range(20):
        x = rng.standard_normal((3, 1, 28, 28))
        if dtype == np.float64 or kink_margin(model, x) > 2e-6:
            break
    else:
        pytest.fail("no input kept every ReLU input away from 0 in 20 draws")
    compare(torch, model, x, dtype)


def kink_margin(model, x):
    """The smallest |input| of any ReLU for the input x, in float64: where it is about float32's
    rounding, two float32 implementations may put that input on different sides of the kink and
    their gradients differ by a whole term (not a rounding), so the comparison is made where
    every ReLU is differentiable by a margin."""
    seen, forward = [], nn.ReLU.forward

    def recording(self, t):
        seen.append(np.abs(t.data).min() if t.data.size else np.inf)
        return forward(self, t)
    model = copy.deepcopy(cast(copy.deepcopy(model), np.float64))
    nn.ReLU.forward, fuse = recording, module.FUSE
    module.FUSE = False                      # (every ReLU its own layer call, recorded)
    try:
        model(Tensor(x))
    finally:
        nn.ReLU.forward, module.FUSE = forward, fuse
    return min(seen, default=np.inf)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss"])
def test_losses_match_torch(torch, loss, dtype):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((6, 4)).astype(dtype) * 3
    target = (rng.integers(0, 4, 6) if loss == "cross_entropy"
              else rng.standard_normal((6, 4)).astype(dtype))
    ours = Tensor(logits, requires_grad=True)
    theirs = torch.tensor(logits, requires_grad=True)
    value = getattr(F, loss)(ours, target)
    tvalue = getattr(torch.nn.functional, loss)(theirs, torch.from_numpy(target))
    value.backward()
    tvalue.backward()
    np.testing.assert_allclose(value.item(), tvalue.item(), **TOL[dtype])
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), **TOL[dtype])


OPTIMIZERS = {                                      # the same keywords for both libraries
    "sgd": dict(lr=0.1),
    "sgd momentum wd": dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "adam": dict(lr=0.01),
    "adam wd betas": dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, eps=1e-6),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_five_optimizer_steps_match_torch(torch, name, dtype):
    kwargs = OPTIMIZERS[name]
    rng = np.random.default_rng(4)
    model = cast(models.mlp([6, 8, 3], rng=rng), dtype)
    tmodel = to_torch(model)
    cls = optim.Adam if name.startswith("adam") else optim.SGD
    tcls = torch.optim.Adam if name.startswith("adam") else torch.optim.SGD
    opt, topt = cls(model.parameters(), **kwargs), tcls(tmodel.parameters(), **kwargs)
    for _ in range(5):
        x = rng.standard_normal((10, 6)).astype(dtype)
        y = rng.integers(0, 3, 10)
        opt.zero_grad()
        topt.zero_grad()
        F.cross_entropy(model(Tensor(x)), y).backward()
        torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)),
                                          torch.from_numpy(y)).backward()
        opt.step()
        topt.step()
    tparams = dict(tmodel.named_parameters())
    for pname, p in model.named_parameters():
        np.testing.assert_allclose(p.data, tparams[pname].detach().numpy(), **TOL[dtype],
                                   err_msg=pname)


@settings(max_examples=40, deadline=None)
@given(groups=st.integers(1, 4), per_in=st.integers(1, 3), per_out=st.integers(1, 3),
       k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2),
       batch=st.sampled_from([0, 1, 3]), size=st.integers(4, 9), bias=st.booleans(),
       double=st.booleans())
def test_grouped_convolution_matches_torch(groups, per_in, per_out, k, stride, padding, batch,
                                           size, bias, double):
    torch = require("torch")
    assume(size + 2 * padding >= k)
    dtype = np.float64 if double else np.float32
    rng = np.random.default_rng(groups * 100 + k * 10 + size)
    c, oc = groups * per_in, groups * per_out
    x = rng.standard_normal((batch, c, size, size + 1)).astype(dtype)
    w = rng.standard_normal((oc, per_in, k, k)).astype(dtype)
    b = rng.standard_normal(oc).astype(dtype) if bias else None
    ours = [Tensor(v, requires_grad=True) if v is not None else None for v in (x, w, b)]
    theirs = [torch.tensor(v, requires_grad=True) if v is not None else None for v in (x, w, b)]
    out = F.conv2d_grouped(*ours, stride, padding, groups)
    tout = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding, groups=groups)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), **TOL[dtype])
    g = rng.standard_normal(out.shape).astype(dtype)
    (out * g).sum().backward()
    (tout * torch.from_numpy(g)).sum().backward()
    for mine, theirs_ in zip(ours, theirs):
        if mine is not None:
            np.testing.assert_allclose(mine.grad, theirs_.grad.numpy(), **TOL[dtype])
