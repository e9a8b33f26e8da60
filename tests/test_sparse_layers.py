"""to_sparse models compute what the masked dense models compute, and train the same way."""
import numpy as np
import pytest

from minprune import Tensor, models, nn, prune, sparse
from minprune import functional as F
from minprune.nn import optim


def pruned(build, sparsity, rng, granularity="weight"):
    model = build(rng=rng)
    prune.prune(model, sparsity, "magnitude", granularity, "global")
    return model


@pytest.mark.parametrize("build", [models.lenet_300_100, models.lenet5,
                                   lambda rng: models.mlp([784, 64, 64, 10], rng=rng)])
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("batch", [5, 17])    # (a convolution's register tiles from 16 on)
def test_outputs_equal_the_masked_dense_model(build, sparsity, batch, rng):
    model = pruned(build, sparsity, rng)
    fast = sparse.to_sparse(model, min_sparsity=0.4)
    assert any(isinstance(m, (sparse.SparseLinear, sparse.SparseConv2d)) for m in fast)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    dense_out = model(Tensor(x)).data
    np.testing.assert_allclose(fast(Tensor(x)).data, dense_out, rtol=1e-5,
                               atol=1e-5 * np.abs(dense_out).max())


def test_min_sparsity_decides_which_layers_convert(rng):
    model = models.lenet_300_100(rng=rng)
    prune.prune(model, 0.9, "magnitude", "weight", "local")
    model[5].weight.mask[:] = True                    # the output layer back to dense
    fast = sparse.to_sparse(model, min_sparsity=0.5)
    kinds = [type(m).__name__ for m in fast if hasattr(m, "forward")]
    assert kinds.count("SparseLinear") == 2 and isinstance(fast[5], nn.Linear)
    assert model[1].weight.mask is not None          # the input model is unchanged


def dense_values(layer, sparse_layer):
    """The masked dense weights in CSR order (row-major; conv columns are (kh, kw, c))."""
    w, mask = layer.weight.data, layer.weight.mask
    if w.ndim == 4:
        w, mask = (a.transpose(0, 2, 3, 1).reshape(a.shape[0], -1) for a in (w, mask))
    return w[mask]


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.05, momentum=0.9,
                                                          weight_decay=1e-3),
                                      lambda p: optim.Adam(p, lr=1e-3)])
@pytest.mark.parametrize("build", [models.lenet_300_100, models.lenet5])
def test_sparse_training_follows_the_masked_dense_trajectory(build, make_opt, rng):
    model = nn.Sequential(*[_to64(m) for m in pruned(build, 0.8, rng)])   # float64 compare
    fast = sparse.to_sparse(model, min_sparsity=0.5)
    opt_dense, opt_sparse = make_opt(model.parameters()), make_opt(fast.parameters())
    for _ in range(4):
        x = rng.random((8, 1, 28, 28))
        y = rng.integers(0, 10, 8)
        for net, opt in ((model, opt_dense), (fast, opt_sparse)):
            opt.zero_grad()
            F.cross_entropy(net(Tensor(x)), y).backward()
            opt.step()
    for dense_layer, sparse_layer in zip(model, fast):
        if isinstance(sparse_layer, (sparse.SparseLinear, sparse.SparseConv2d)):
            np.testing.assert_allclose(sparse_layer.values.data,
                                       dense_values(dense_layer, sparse_layer), rtol=1e-9,
                                       atol=1e-12)
            np.testing.assert_allclose(sparse_layer.bias.data, dense_layer.bias.data,
                                       rtol=1e-9, atol=1e-12)
            assert sparse_layer.nnz == dense_layer.weight.mask.sum()   # the pattern is fixed


def _to64(m):
    for p in m.parameters():
        p.data = p.data.astype(np.float64)
    return m


def test_gradients_through_a_sparse_conv(rng):
    from minprune.autograd.gradcheck import check_grad
    w = np.where(rng.random((3, 2, 3, 3)) < 0.5, rng.standard_normal((3, 2, 3, 3)), 0)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    conv.weight.data = w
    layer = sparse.SparseConv2d.from_conv(conv)
    for batch in (2, 9):              # (float64's register tiles run the forward from 8 on)
        check_grad(lambda x: layer(x), rng.standard_normal((batch, 2, 6, 5)))
    lin = sparse.SparseLinear(sparse.CSR.from_dense(np.where(rng.random((4, 5)) < .5, 1.0, 0)))
    check_grad(lambda x: lin(x), rng.standard_normal((3, 5)))
