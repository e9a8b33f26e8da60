"""infer.compile: a plan of array operations whose outputs equal the model's in evaluation
mode, for every layer type, dense, masked, CSR and compacted, float32 and float64, batch 1,
many and none."""
import numpy as np
import pytest

from minprune import infer, models, nn, prune, sparse, threads


def randomise(model, rng):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean = rng.standard_normal(m.num_features).astype(m.running_mean.dtype)
            m.running_var = rng.uniform(0.5, 2, m.num_features).astype(m.running_var.dtype)
            m.weight.data = rng.standard_normal(m.num_features).astype(m.weight.dtype)
            m.bias.data = rng.standard_normal(m.num_features).astype(m.bias.dtype)
    return model


def every_layer(dtype):
    """One model with every layer type of minprune.nn (sparse ones come from to_sparse)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=0, dtype=dtype), nn.BatchNorm2d(4, dtype=dtype),
        nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=2, rng=0, dtype=dtype),
        nn.Tanh(), nn.AvgPool2d(2, padding=1), nn.Dropout(0.5), nn.Flatten(),
        nn.BatchNorm1d(6 * 4 * 4, dtype=dtype), nn.Linear(96, 20, rng=0, dtype=dtype),
        nn.Sigmoid(), nn.L0Gate(20, rng=0, dtype=dtype), nn.Linear(20, 16, bias=False, rng=0,
                                                                      dtype=dtype),
        nn.ReLU(), nn.Linear(16, 10, rng=0, dtype=dtype))


def variants(model, granularity):
    """The model dense, masked, on CSR kernels and (structured) compacted."""
    out = {"dense": model}
    masked = _copy(model)
    prune.prune(masked, 0.6, "magnitude", granularity, "local")
    out["masked"] = masked
    out["csr"] = sparse.to_sparse(masked, min_sparsity=0.0)
    if granularity in ("unit", "filter"):
        out["compact"] = prune.compact(masked)
    return out


def _copy(model):
    import copy
    return copy.deepcopy(model)


CASES = [("every layer", every_layer, "weight", np.float32),
         ("every layer", every_layer, "weight", np.float64),
         ("lenet_300_100", lambda dtype: models.lenet_300_100(rng=0), "unit", np.float32),
         ("lenet5", lambda dtype: models.lenet5(rng=0), "filter", np.float32),
         ("small_vgg", lambda dtype: models.small_vgg(rng=0), "filter", np.float32),
         ("resnet8", lambda dtype: models.resnet(8, 4, rng=0), "filter", np.float32),
         ("resnet8", lambda dtype: models.resnet(8, 4, rng=0), "weight", np.float32),
         ("mobilenet", lambda dtype: models.mobilenet(2, rng=0), "filter", np.float32),
         ("mobilenet", lambda dtype: models.mobilenet(2, rng=0), "2:4", np.float32)]


@pytest.mark.parametrize("name, build, granularity, dtype", CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3].__name__}" for c in CASES])
def test_plan_equals_the_model_in_eval_mode(rng, name, build, granularity, dtype):
    model = randomise(build(dtype), rng)
    X = rng.random((7, 1, 28, 28)).astype(dtype)
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for label, variant in variants(model, granularity).items():
        variant.eval()
        plan = infer.compile(variant, granularity if ":" in granularity else None)
        for batch in (7, 1, 0):
            expected = variant(X[:batch]).data
            got = plan(X[:batch])
            assert got.shape == expected.shape and got.dtype == expected.dtype, label
            np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance,
                                       err_msg=f"{label}, batch {batch}")
        assert plan(X[:3]) is not plan(X[:3])        # the caller gets its own array


def test_batchnorm_is_folded_and_activations_fused():
    """BatchNorm folded, ReLU fused in the convolutions, and each max pooling run by the
    convolution before it."""
    plan = infer.compile(models.small_vgg(rng=0))
    text = repr(plan)
    assert "Affine" not in text and text.count("ReLU") == 3
    assert "Conv(16 filters 3x3, ReLU; dense; max pooling 2x2)" in text
    assert "MaxPool(2) (run by the convolution before)" in text


def test_unknown_layers_are_refused_naming_them():
    class Odd(nn.Module):
        def forward(self, x):
            return x
    with pytest.raises(TypeError, match="layer 1 \\(Odd\\): no inference step"):
        infer.compile(nn.Sequential(nn.Linear(3, 3, rng=0), Odd()))
    with pytest.raises(TypeError, match="takes a Sequential"):
        infer.compile(nn.Linear(3, 3, rng=0))


def test_the_plan_is_a_snapshot_of_the_model(rng):
    model = models.mlp([4, 8, 3], rng=0).eval()
    X = rng.random((5, 4)).astype(np.float32)
    plan = infer.compile(model)
    before = plan(X)
    prune.prune(model, 0.9, "magnitude", "weight", "global")
    np.testing.assert_array_equal(plan(X), before)     # compile again to see the pruning
    assert not np.allclose(infer.compile(model)(X), before)


@pytest.mark.parametrize("shape", [(0, 5), (4, 0), (0, 0), (3, 5)])
@pytest.mark.parametrize("batch", [0, 1, 8, 9])
def test_kernels_take_empty_batches_and_empty_matrices(shape, batch, rng):
    from minprune.sparse import CSR, kernels, reference
    dense = rng.standard_normal(shape).astype(np.float32) * (rng.random(shape) > 0.5)
    csr = CSR.from_dense(dense)
    xt = rng.standard_normal((shape[1], batch)).astype(np.float32)
    out = np.full((shape[0], batch), np.nan, dtype=np.float32)
    kernels.matmul(csr.indptr, csr.indices, csr.values, xt, out)
    np.testing.assert_allclose(out, dense @ xt, atol=1e-5)
    gt = rng.standard_normal((shape[0], batch)).astype(np.float32)
    grads = kernels.sddmm(csr.indptr, csr.indices, gt, xt, np.full(csr.nnz, np.nan,
                                                                    dtype=np.float32))
    np.testing.assert_allclose(grads, (gt @ xt.T)[dense != 0], atol=1e-5)
    np.testing.assert_allclose(
        reference.csr_matmul_reference(csr.indptr, csr.indices, csr.values, xt), dense @ xt,
        atol=1e-5)


def test_sparse_layers_take_an_empty_batch(rng):
    model = models.lenet5(rng=0)
    prune.prune(model, 0.8)
    X = rng.random((3, 1, 28, 28)).astype(np.float32)
    fast = sparse.to_sparse(model)
    assert fast(X[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="needs at least one sample"):
        models.small_vgg(rng=0).train()(X[:0])          # no NaN in the running statistics


def test_a_batch_split_over_threads_gives_the_same_outputs(rng):
    """With threads.set_threads(2) a convolutional plan that runs feature-major (not a
    plain stack, nor a resnet sample by sample: those run in one compiled call,
    ``test_batch_chain_kernels`` and ``test_sample_call_kernels``) runs halves of a batch on
    two threads, each on its own copy of the steps: the same outputs as one thread, dense
    (grouped convolutions) and CSR (a resnet, feature-major). The copies run each half's
    batch size the ways the first copy timed (alone); the split is timed against one thread
    on the first call, and whichever runs gives the same."""
    masked = models.resnet(8, width=4, rng=0).eval()
    prune.prune(masked, 0.9, "magnitude", "weight", "global")
    X = rng.random((40, 1, 28, 28)).astype(np.float32)
    for variant in (models.mobilenet(4, rng=0).eval(),
                    sparse.to_sparse(masked, min_sparsity=0.0).eval()):
        plan = infer.compile(variant)
        plan._sample_ways = {40: False}                  # (a resnet: feature-major)
        alone = plan(X)
        threads.set_threads(2)
        try:
            split = plan(X)
            assert len(plan._replicas) == 2            # it really split
            first, second = plan._replicas
            assert all(a.ways is b.ways for a, b in zip(first.steps, second.steps)
                       if hasattr(a, "ways"))
            conv = first.steps[0]
            assert 20 in (conv.ways if conv.sparse else conv.bands)   # a half's size, timed
            np.testing.assert_allclose(split, alone, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(plan(X[:7]), alone[:7], rtol=1e-5, atol=1e-5)
            assert (40, 2) in plan.choice.one           # two threads timed against one
            for one in (False, True):                   # and either runs the same
                plan.choice.one[40, 2] = one
                plan.choice.due[40, 2] = (float("inf"), 1.0)    # (kept, not timed again)
                np.testing.assert_allclose(plan(X), alone, rtol=1e-5, atol=1e-5)
        finally:
            threads.set_threads(1)


def test_a_dense_convolution_in_bands_of_rows_is_the_whole_product(rng):
    """Every band size the plan may pick computes the same convolution (the one it picks is
    timed, so each is run here by hand)."""
    from minprune.infer.fmajor import Conv
    model = models.resnet(8, rng=0).eval()
    plan = infer.compile(model)
    plan._sample_ways = {5: False}          # (feature-major, not timed against sample by sample)
    X = rng.random((5, 1, 28, 28)).astype(np.float32)
    expected = plan(X)
    conv = next(s for s in plan.steps if isinstance(s, Conv))
    x = np.ascontiguousarray(np.moveaxis(X, 0, -1))
    whole = conv(x).copy()
    assert conv.bands[5] in (*range(1, whole.shape[1] + 1), "wide", "direct")   # (timed)
    for rows in (1, 2, 5, whole.shape[1]):
        out = np.empty_like(whole)
        conv._banded(x, conv.weight, out, rows)
        np.testing.assert_allclose(out, whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(expected, plan(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 40])
def test_every_way_of_a_dense_convolution_is_the_same_convolution(rng, batch, dtype):
    """Bands of rows, wide columns, the direct convolution (stride 1, 3x3 and 5x5; six
    filters: padded to eight) and register tiles (any stride; batches of part of a register,
    and of two and a half; of pixels at one sample), the shifted copies (one sample, stride
    1) and Winograd's F(2x2, 3x3) (3x3, stride
    1, at 40) give one result, with padding and without (the plan times them and keeps one,
    so each is run here by hand)."""
    from minprune.infer.fmajor import Conv
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, rng=0, dtype=dtype), nn.ReLU(),
                          nn.Conv2d(6, 5, 5, rng=0, dtype=dtype),
                          nn.Conv2d(5, 4, 3, stride=2, padding=1, rng=0, dtype=dtype))
    plan = infer.compile(model.eval())
    x = np.ascontiguousarray(np.moveaxis(rng.random((batch, 3, 13, 11)).astype(dtype), 0, -1))
    convs = [s for s in plan.steps if isinstance(s, Conv)]
    assert len(convs) == 3 and not any(c.sparse for c in convs)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for conv in convs:
        first = conv(x).copy()
        ways = [1, first.shape[1], "tiles"] + (["wide", "direct"] if conv.stride == 1 else [])
        ways += ["pixels"] if batch == 1 else []
        ways += ["shifted"] if batch == 1 and conv.stride == 1 else []
        ways += ["winograd", "winograd4"] if conv.k == 3 and conv.stride == 1 and batch >= 16 \
            else []
        for way in ways:
            # (F(4x4, 3x3) rounds some ten times more, in the sums' scale)
            near = tol if way != "winograd4" else tol / 10 * max(1, np.abs(first).max())
            for _ in range(2):                        # buffers reused
                out = np.full_like(first, np.nan)
                conv._dense_way(way, x, conv.weight, out)
                out = out if conv.relu else conv.finish(out)
                np.testing.assert_allclose(out, first, rtol=tol, atol=near, err_msg=str(way))
        x = first


@pytest.mark.parametrize("way", ["winograd", "winograd4"])
def test_a_residual_blocks_join_in_winograds_outputs_is_the_models(rng, way):
    """Where a block's last convolution runs by Winograd's F(2x2, 3x3), the shortcut is added
    (and ReLU taken) as its outputs are written: resnet8 (four channels a filter, BatchNorm
    randomised; 7x7 images in its last stage: tiles over the edge) with its 3x3 stride-1
    convolutions made to run so gives the result of the plan that runs them otherwise, and
    the model's, each of its three blocks joined in the convolution, by F(2x2, 3x3) and by
    F(4x4, 3x3)."""
    from minprune.autograd import Tensor
    from minprune.infer.fmajor import Block, Conv, every_step
    model = randomise(models.resnet(8, 4, rng=0), rng).eval()
    batch = 20
    x = rng.random((batch, 1, 28, 28)).astype(np.float32)
    plan = infer.compile(model)
    plan._sample_ways = {batch: False}      # (feature-major, not timed against sample by sample)
    expected = plan(x)
    winograd = [s for s in every_step(plan.steps)
                if isinstance(s, Conv) and s.k == 3 and s.stride == 1]
    assert len(winograd) == 5             # the stem's, block 1's two, blocks 2 and 3's second
    for conv in winograd:
        conv.bands[batch] = way
    joins = []
    for block in (s for s in plan.steps if isinstance(s, Block)):
        join = block.body[-1].winograd_join
        block.body[-1].winograd_join = lambda *a, join=join: joins.append(join(*a)) or joins[-1]
    got = plan(x)
    assert len(joins) == 3 and all(j is not None for j in joins)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got, model(Tensor(x)).data, rtol=1e-4, atol=1e-4)


def test_a_batch_in_chunks_is_the_whole_batch(rng):
    """A convolutional plan times its batch whole against chunks of 16 and 32 samples run
    one after another (the last one smaller: 40 = 16 + 16 + 8) and keeps the faster; each
    gives the same outputs, a new array every call."""
    model = randomise(models.resnet(8, 4, rng=0), rng).eval()
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    plan = infer.compile(model)
    first = plan(x)
    assert plan._chunks[40] in (0, 16)                    # (32: not two of them in 40)
    for size in (0, 16):
        plan._chunks[40] = size
        got = plan(x)
        np.testing.assert_allclose(got, first, rtol=1e-4, atol=1e-4)
        kept = got.copy()
        plan(x * 2)
        np.testing.assert_array_equal(got, kept)
    fully_connected = infer.compile(models.lenet_300_100(rng=0).eval())
    fully_connected(x)
    assert not hasattr(fully_connected, "_chunks")        # (one product per layer: whole)


def test_a_plan_without_winograd_keeps_the_direct_sums(rng):
    """``compile(model, winograd=False)``: no convolution runs by Winograd's minimal
    filtering, at a batch where the plan would time it; anything but a bool is refused."""
    from minprune.infer.fm_conv import WINOGRAD
    from minprune.infer.fmajor import Conv, every_step
    model = models.resnet(8, 4, rng=0).eval()
    x = rng.random((20, 1, 28, 28)).astype(np.float32)
    plan = infer.compile(model, winograd=False)
    plan._sample_ways = {20: False}         # (feature-major, not timed against sample by sample)
    np.testing.assert_allclose(plan(x), infer.compile(model)(x), rtol=1e-4, atol=1e-4)
    convs = [s for s in every_step(plan.steps) if isinstance(s, Conv)]
    assert all(c.bands[20] not in WINOGRAD for c in convs) and len(convs) == 9
    one = infer.compile(model, winograd=False)
    one(x[:1])
    assert one._one is False or all(
        c.way == "pixels" for s in one._one.steps for c in [s, *getattr(s, "body", ())]
        if hasattr(c, "way"))
    with pytest.raises(TypeError, match="winograd must be True or False, got 'no'"):
        infer.compile(model, winograd="no")


def test_one_sample_channels_last_is_the_feature_major_run(rng):
    """At one sample a resnet's convolutions up to its global pooling can run channels last
    (``infer.channels_last``; the plan times it against feature-major on the first call):
    with every convolution in each of its ways, Winograd's with the blocks joined in it,
    the model's result - and so for its CSR copy, whose convolutions also run feature-major
    by the sparse kernels; a network with pooling or grouped convolutions is not run so."""
    from minprune.autograd import Tensor
    from minprune.infer import channels_last
    from minprune.infer.channels_last import Block, OneSample
    model = randomise(models.resnet(8, 4, rng=0), rng).eval()
    x = rng.random((1, 1, 28, 28)).astype(np.float32)
    expected = model(Tensor(x)).data
    plan = infer.compile(model)
    np.testing.assert_allclose(plan(x), expected, rtol=1e-4, atol=1e-4)
    assert plan._one is False or isinstance(plan._one, OneSample)     # (timed)
    one = OneSample(plan.ops[:-1])
    convs = [c for s in one.steps for c in ([s] if not isinstance(s, Block)
                                            else s.body + s.shortcut)]
    for way in ("pixels", "winograd", "winograd4"):
        for conv in convs:
            conv.way = conv.dense_way = way if conv.k == 3 and conv.stride == 1 else "pixels"
        one._calls.clear()                 # (the steps, then the one call they make)
        for chosen in (one, one, False):
            plan._one = chosen
            got = plan(x)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=way)
            assert got.shape == (1, 10)
            kept = got.copy()
            plan(x * 2)
            np.testing.assert_array_equal(got, kept)        # a new array, not a buffer
        assert one._calls[x.shape[1:]]
    masked = _copy(model)                        # sparse: densified, or feature-major there
    prune.prune(masked, 0.8, "magnitude", "weight", "global")
    csr = sparse.to_sparse(masked, min_sparsity=0.0).eval()
    plan = infer.compile(csr)
    expected = csr(Tensor(x)).data
    one = OneSample(plan.ops[:-1])
    convs = [c for s in one.steps for c in ([s] if not isinstance(s, Block)
                                            else s.body + s.shortcut)]
    assert all(c.sparse is not None for c in convs)
    for way in ("pixels", "winograd4", "sparse"):
        for conv in convs:
            conv.way = way if way != "winograd4" or (conv.k == 3 and conv.stride == 1) \
                else "pixels"
            conv.dense_way = "pixels" if conv.way == "sparse" else conv.way
        plan._one = one
        one._calls.clear()
        for steps in (True, False):          # (the steps, sparse; the call, densified)
            one._steps_first[x.shape] = steps
            np.testing.assert_allclose(plan(x), expected, rtol=1e-4, atol=1e-4, err_msg=way)
    for other in (models.lenet5(rng=0), models.mobilenet(4, rng=0)):
        ops = infer.compile(other.eval()).ops
        assert not channels_last.fits(ops) and not channels_last.fits(ops[:-1])


def test_a_plans_result_is_a_new_array_at_every_batch_size(rng):
    """The steps reuse their buffers; what a call returns is the caller's (resnet8 at one
    sample runs feature-major to the end, where the last buffer is already contiguous)."""
    for model in (models.resnet(8, 4, rng=0).eval(), models.lenet5(rng=0).eval()):
        plan = infer.compile(model)
        for batch in (1, 3):
            x = rng.random((batch, 1, 28, 28), dtype=np.float32)
            first = plan(x)
            kept = first.copy()
            plan(x * 2)
            np.testing.assert_array_equal(first, kept)


@pytest.mark.parametrize("batch", [1, 3, 40])
def test_every_way_of_a_sparse_convolution_is_the_same_convolution(rng, batch):
    """The product on the densified weight, the CSR kernels on the columns, the direct
    sparse convolution (over wide rows at one sample, row by row at 40: 360 numbers a row)
    and the sparse register tiles (at 40: two and a half registers of samples; at one
    sample, of pixels along the padded rows) and, at one sample, the shifted copies give one
    result, with padding and without, stride 1 and 2 (the plan times them and keeps one, so
    each is run here by hand)."""
    from minprune.infer.fmajor import Conv
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, rng=0), nn.ReLU(),
                          nn.Conv2d(8, 6, 5, rng=0), nn.Conv2d(6, 5, 3, stride=2, padding=1,
                                                                rng=0))
    prune.prune(model, 0.7, "magnitude", "weight", "local")
    plan = infer.compile(sparse.to_sparse(model, min_sparsity=0.0).eval())
    x = np.ascontiguousarray(np.moveaxis(rng.random((batch, 3, 13, 11), dtype=np.float32),
                                         0, -1))
    convs = [s for s in plan.steps if isinstance(s, Conv)]
    assert len(convs) == 3 and all(c.sparse for c in convs)
    for conv in convs:
        first = conv(x).copy()
        ways = Conv.WAYS + (("tiles",) if batch >= 16 else ())
        ways += ("pixels", "shifted") if batch == 1 and conv.stride == 1 else ()
        for way in ways:
            for _ in range(2):                        # buffers reused
                out = np.full_like(first, np.nan)
                getattr(conv, f"_{way}")(x, out)
                out = out if conv.relu else conv.finish(out)
                np.testing.assert_allclose(out, first, rtol=1e-5, atol=1e-5, err_msg=way)
        x = first


@pytest.mark.parametrize("batch", [1, 3, 40])
def test_every_way_of_a_fully_connected_layer_is_the_same_product(rng, batch):
    """BLAS, register tiles (at 40: two and a half registers of samples; 13 outputs, a group
    of eight and part of one) and, for sparse weights, the CSR kernels and sparse register
    tiles (at 40: part of a tile of four registers) give one result, on a
    feature-major input and on the transposed view the first layer gets."""
    from minprune.infer.fmajor import Linear
    model = nn.Sequential(nn.Linear(37, 13, rng=0), nn.ReLU(), nn.Linear(13, 5, rng=0))
    dense = infer.compile(model.eval())
    prune.prune(model, 0.6, "magnitude", "weight", "local")
    sparse_plan = infer.compile(sparse.to_sparse(model, min_sparsity=0.0).eval())
    x = rng.random((batch, 37)).astype(np.float32)
    for plan in (dense, sparse_plan):
        first = next(s for s in plan.steps if isinstance(s, Linear))
        want = first(np.ascontiguousarray(x.T)).copy()
        ways = ("gemm", "tiles") + (("csr", "csr_tiles") if first.sparse else ())
        for way in ways:
            for view in (x.T, np.ascontiguousarray(x.T)):
                out = np.full_like(want, np.nan)
                getattr(first, f"_{way}")(view, out)
                out = out if first.relu else first.finish(out)
                np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5, err_msg=way)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 3, 40])
def test_a_max_pooling_run_by_the_convolution_before_it_is_the_models(rng, batch, dtype):
    """A max pooling after a convolution (with ReLU, and with no activation; images of
    27x21, whose last rows and columns the poolings drop; stride 2 then pooling 3) runs in the
    convolution's step: its output pooled, or from a register of samples on (40) both in
    one pass of register tiles (a sparse weight densified, or its stored weights' tiles) -
    each the model's result."""
    from minprune.autograd import Tensor
    from minprune.infer.fmajor import Conv, PoolStep
    model = nn.Sequential(nn.Conv2d(3, 9, 3, padding=1, rng=0, dtype=dtype), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Conv2d(9, 5, 3, stride=2, rng=0, dtype=dtype),
                          nn.MaxPool2d(3)).eval()
    x = rng.random((batch, 3, 27, 21)).astype(dtype)
    want = model(Tensor(x)).data
    pruned = _copy(model)
    prune.prune(pruned, 0.6, "magnitude", "weight", "local")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for m, expected in ((model, want), (sparse.to_sparse(pruned, min_sparsity=0.0).eval(),
                                        pruned(Tensor(x)).data)):
        plan = infer.compile(m)
        convs = [s for s in plan.steps if isinstance(s, Conv)]
        assert [c.pool for c in convs] == [2, 3]
        assert all(s.fused for s in plan.steps if isinstance(s, PoolStep))
        np.testing.assert_allclose(plan(x), expected, rtol=tol, atol=tol)
        fits = batch >= 16
        ways = ((False, True, "sparse") if m is not model else (False, True)) if fits \
            else (False,)
        assert all(c.fused[batch] in ways for c in convs)
        for fused in ways:
            for c in convs:
                c.fused[batch] = fused
            np.testing.assert_allclose(plan(x), expected, rtol=tol, atol=tol,
                                       err_msg=f"fused={fused}")


def test_an_average_pooling_or_a_padded_one_is_a_step_of_its_own():
    from minprune.infer.fmajor import Conv, PoolStep
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.AvgPool2d(2),
                          nn.Conv2d(2, 2, 3, rng=0), nn.Tanh(), nn.MaxPool2d(2),
                          nn.Conv2d(2, 2, 1, rng=0), nn.MaxPool2d(2, padding=1))
    plan = infer.compile(model.eval())
    assert [s.pool for s in plan.steps if isinstance(s, Conv)] == [0, 0, 0]
    assert not any(s.fused for s in plan.steps if isinstance(s, PoolStep))


def test_a_plain_plan_runs_the_call_on_one_thread_and_split_on_two(rng):
    """LeNet-300-100 and LeNet-5 (dense and CSR) time the call against their steps on one
    thread and split the batch over two: the model's outputs every way; a resnet keeps its
    steps."""
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    pruned = models.lenet_300_100(rng=0)
    prune.prune(pruned, 0.9, "magnitude", "weight", "global")
    pruned5 = models.lenet5(rng=0)
    prune.prune(pruned5, 0.9, "magnitude", "weight", "local")
    for model in (models.lenet_300_100(rng=0).eval(), models.lenet5(rng=0).eval(),
                  sparse.to_sparse(pruned, min_sparsity=0.0).eval(),
                  sparse.to_sparse(pruned5, min_sparsity=0.0).eval()):
        want = model(x).data
        plan = infer.compile(model)
        np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
        assert 40 in plan._one_call_ways                 # the call or the steps: timed
        for one in (False, True):
            plan._one_call_ways[40] = one
            np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
        threads.set_threads(2)
        try:
            np.testing.assert_allclose(plan._threaded(x), want, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
            assert (40, 2) in plan.choice.one           # two threads timed against one
        finally:
            threads.set_threads(1)
    resnet = infer.compile(models.resnet(8, 4, rng=0).eval())
    resnet(x)
    assert not resnet._in_one_call and "_chains" not in vars(resnet)


def test_a_resnets_batch_runs_sample_by_sample_in_one_call_or_feature_major(rng):
    """A resnet's batch (dense, and CSR: its convolutions densified in the call) times the
    compiled call of its samples channels last against the feature-major steps on one
    thread; either way, and the call split over two threads, the model's outputs; a network
    that does not fit (LeNet-5's pooling) never takes it."""
    x = rng.random((6, 1, 12, 12)).astype(np.float32)
    pruned = randomise(models.resnet(8, 4, rng=0), rng)
    prune.prune(pruned, 0.8, "magnitude", "weight", "global")
    for model in (randomise(models.resnet(8, 4, rng=0), rng).eval(),
                  sparse.to_sparse(pruned, min_sparsity=0.0).eval()):
        want = model(x).data
        plan = infer.compile(model)
        np.testing.assert_allclose(plan(x), want, rtol=1e-4, atol=1e-4)
        assert 6 in plan._sample_ways                        # timed
        for by_samples in (False, True):
            plan._sample_ways[6] = by_samples
            got = plan(x)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
            kept = got.copy()
            plan(x * 2)
            np.testing.assert_array_equal(got, kept)        # a new array, not a buffer
        threads.set_threads(2)
        try:
            np.testing.assert_allclose(plan._threaded(x), want, rtol=1e-4, atol=1e-4)
        finally:
            threads.set_threads(1)
    plan = infer.compile(models.lenet5(rng=0).eval())
    plan(rng.random((3, 1, 28, 28)).astype(np.float32))
    assert plan._channels_last() is None and "_sample_ways" not in vars(plan)


def test_a_sparse_resnet_takes_its_feature_major_steps_where_they_are_faster_at_all(
        rng, monkeypatch):
    """The feature-major steps must time at ``SAMPLES_MARGIN`` of the samples' call for a
    dense resnet's batch to take them (in turns with other work they lose a fifth), but
    anything faster for a CSR resnet's (its sparse steps keep their time)."""
    from minprune.infer import plan as P
    x = rng.random((6, 1, 12, 12)).astype(np.float32)
    pruned = randomise(models.resnet(8, 4, rng=0), rng)
    prune.prune(pruned, 0.8, "magnitude", "weight", "global")
    dense = infer.compile(randomise(models.resnet(8, 4, rng=0), rng).eval())
    csr = infer.compile(sparse.to_sparse(pruned, min_sparsity=0.0).eval())
    assert not dense._sparse_steps() and csr._sparse_steps()
    for steps_time, dense_by_samples, csr_by_samples in ((0.9, True, False),
                                                         (0.7, False, False),
                                                         (1.1, True, True)):
        monkeypatch.setattr(P, "best_times", lambda options, run, rounds=3, t=steps_time: {
            False: t, True: 1.0})
        for plan, want in ((dense, dense_by_samples), (csr, csr_by_samples)):
            plan.__dict__.pop("_sample_ways", None)
            assert plan._by_samples(x) is want, (steps_time, plan._sparse_steps())


@pytest.mark.parametrize("build", [lambda: models.lenet5(rng=0),
                                   lambda: models.lenet_300_100(rng=0),
                                   lambda: models.resnet(8, rng=0),
                                   lambda: models.mobilenet(rng=0),
                                   lambda: every_layer(np.float64)])
def test_the_shape_walk_gives_the_models_output_shape(build, rng):
    """``shapes.check`` walks a sample's shape through the ops (convolutions strided, padded
    and depthwise, poolings, residual joins, global pooling) to the model's own output."""
    from minprune.infer import lower, shapes
    model = build().eval()
    dtype = next(iter(model.parameters())).dtype
    x = rng.standard_normal((2, 1, 28, 28)).astype(dtype)
    assert shapes.check(lower.lower(model), x.shape[1:]) == model(x).data.shape[1:]


def test_a_batch_the_model_cannot_take_is_refused_naming_x(rng):
    """Wrong channels, an image too small for a filter or for the first fully connected
    layer, a flat sample for a convolution, a lone sample without its batch axis: a
    ValueError that names x and the op, at batch 1 and many, before any kernel runs."""
    lenet, mlp = infer.compile(models.lenet5(rng=0)), infer.compile(models.lenet_300_100(rng=0))
    resnet = infer.compile(models.resnet(8, rng=0))
    cases = [(lenet, (2, 3, 28, 28), "a convolution takes 1 input channel, it is given 3"),
             (lenet, (1, 3, 28, 28), "a convolution takes 1 input channel, it is given 3"),
             (lenet, (2, 1, 20, 20), "takes 800 features, it is given 200"),
             (lenet, (2, 1, 4, 4), "needs images of at least 5 x 5, it is given 4 x 4"),
             (lenet, (1, 784), "a convolution takes images"),
             (mlp, (64, 783), "takes 784 features, it is given 783"),
             (mlp, (2, 3, 28, 28), "takes 784 features, it is given 2352"),
             (resnet, (2, 3, 32, 32), "a convolution takes 1 input channel, it is given 3"),
             (lenet, (784,), r"a batch of samples, \(N, ...\), got shape \(784,\)")]
    for plan, shape, message in cases:
        with pytest.raises(ValueError, match=message) as caught:
            plan(np.zeros(shape, np.float32))
        assert str(caught.value).startswith("x")
    for plan in (lenet, mlp, resnet):                   # and the right shape still runs
        for n in (1, 3):
            assert plan(rng.random((n, 1, 28, 28), dtype=np.float32)).shape == (n, 10)


def test_one_thread_or_more_is_timed_again_later_each_time_after_twice_as_long(monkeypatch):
    """The choice between one thread and the threads asked is not kept for good: it is timed
    again after ``RETIME[0]`` seconds, then after twice as long each time, up to
    ``RETIME[1]`` - a choice made in another program's burst does not stay."""
    from minprune.infer import thread_choice as P
    clock = {"now": 100.0}
    monkeypatch.setattr(P.time, "monotonic", lambda: clock["now"])
    timed = []
    faster = {"one": True}                       # what the next timing finds

    def best_times(options, run, rounds=3, keep=min):
        assert keep is list and rounds == P.THREADS_ROUNDS      # (every round's times)
        timed.append(clock["now"])
        fast, slow = [1.0] * rounds, [3.0] * rounds
        return {False: slow, True: fast} if faster["one"] else {False: fast, True: slow}
    monkeypatch.setattr(P, "best_times", best_times)
    plan = infer.compile(models.lenet_300_100(rng=0).eval())
    x = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    want = plan(x)
    assert plan.threads_for(40) == 1
    threads.set_threads(2)
    try:
        assert plan.threads_for(40) is None                        # (not timed yet)
        np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
        assert timed == [100.0] and plan.choice.one[40, 2] is True
        assert plan.threads_for(40) == 1 and plan.threads_for(39) is None
        faster["one"] = False                    # (the machine is idle now)
        clock["now"] += 0.5 * P.RETIME[0]
        plan(x)
        assert len(timed) == 1 and plan.choice.one[40, 2] is True       # not yet
        waits = []
        for _ in range(10):
            clock["now"] = plan.choice.due[40, 2][0]
            np.testing.assert_allclose(plan(x), want, rtol=1e-5, atol=1e-5)
            waits.append(plan.choice.due[40, 2][1])
        assert plan.choice.one[40, 2] is False and len(timed) == 11
        assert plan.threads_for(40) == 2
        assert waits == [min(P.RETIME[0] * 2 ** (i + 1), P.RETIME[1]) for i in range(10)]
    finally:
        threads.set_threads(1)


def test_best_times_keeps_the_least_or_what_it_is_told(monkeypatch):
    """Each option's runs timed in turns after a warm-up; the least kept, or the median where
    asked - a run that is usually slow and once lucky is not taken for a fast one."""
    import statistics

    from minprune.infer import fm_step
    clock = {"now": 0.0}
    monkeypatch.setattr(fm_step.time, "perf_counter", lambda: clock["now"])
    took = {"steady": iter([9, 3, 3, 3, 3, 3]), "lucky": iter([9, 1, 5, 5, 5, 5])}

    def run(option):
        clock["now"] += next(took[option])
    assert fm_step.best_times(("steady", "lucky"), run, rounds=5) == {"steady": 3, "lucky": 1}
    took = {"steady": iter([9, 3, 3, 3, 3, 3]), "lucky": iter([9, 1, 5, 5, 5, 5])}
    assert fm_step.best_times(("steady", "lucky"), run, rounds=5,
                              keep=statistics.median) == {"steady": 3, "lucky": 5}


def test_the_threads_run_only_where_they_won_nearly_every_round(monkeypatch):
    """Two threads are taken where they took at most ``THREADS_MARGIN`` of one thread's time
    in ``THREADS_WINS`` of the ``THREADS_ROUNDS`` rounds, each timing both: a few lucky rounds
    on a busy machine do not choose them."""
    from minprune.infer import thread_choice as P
    rounds, wins = P.THREADS_ROUNDS, P.THREADS_WINS
    one = [1.0] * rounds
    x = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    for won in range(rounds + 1):               # rounds the threads took half the time in
        two = [0.5] * won + [P.THREADS_MARGIN * 1.01] * (rounds - won)
        monkeypatch.setattr(P, "best_times", lambda options, run, rounds=3, keep=min,
                            two=two: {False: two, True: one})
        plan = infer.compile(models.lenet_300_100(rng=0).eval())
        threads.set_threads(2)
        try:
            plan(x)
            assert plan.threads_for(40) == (2 if won >= wins else 1)
        finally:
            threads.set_threads(1)
