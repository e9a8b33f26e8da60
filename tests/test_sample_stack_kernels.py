"""One sample's convolutions in one compiled call (``infer.sample_stack``): every way a
layer can run (shifted copies, tiles of pixels, stored weights along the rows), whatever
way its step chose, against the model's own forward and the NumPy twin; the plan that
times it against its steps - ``test_infer``. CI runs this file a second time with
NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from helpers import conv_side

from minprune import infer, models, nn, prune, sparse
from minprune.infer import sample_stack as SS
from minprune.infer.fmajor import FeatureMajor
from minprune.infer.lower import Flatten, lower

TOL = {np.float32: 1e-4, np.float64: 1e-10}
# the ways a step can have chosen at one sample (dense: ``bands``; sparse: ``ways``, "gemm"
# then the densified weight's band), and what the call runs for each
DENSE_WAYS = {"shifted": SS.SHIFTED, "pixels": SS.PIXELS, "direct": SS.PIXELS,
              "wide": SS.PIXELS, 1: SS.PIXELS}
SPARSE_WAYS = {"shifted": SS.SHIFTED, "pixels": SS.SPARSE_PIXELS, "csr": SS.PIXELS,
               "direct": SS.PIXELS, "gemm": SS.PIXELS}


def _stack(rng, channels, k, stride, pad, pool, dtype):
    """Convolutions (ReLU, max pooling or not; no ReLU after the last one), Flatten, one
    fully connected layer."""
    layers = []
    for i, (c_in, c_out) in enumerate(zip(channels, channels[1:])):
        layers.append(nn.Conv2d(c_in, c_out, k, stride, pad, rng=rng))
        layers += [nn.ReLU()] if i < len(channels) - 2 else []
        layers += [nn.MaxPool2d(pool)] if pool > 1 else []
    model = nn.Sequential(*layers, nn.Flatten()).eval()
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model


@settings(max_examples=40, deadline=None)
@given(channels=st.lists(st.integers(1, 20), min_size=2, max_size=3),
       size=st.integers(5, 14), k=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]),
       pad=st.integers(0, 2), pool=st.sampled_from([1, 2, 3]),
       dtype=st.sampled_from([np.float32, np.float64]),
       sparsity=st.sampled_from([0.0, 0.5, 0.9, 0.99]), way=st.integers(0, 4),
       seed=st.integers(0, 2 ** 16))
@example(channels=[1, 20, 50], size=28, k=5, stride=1, pad=0, pool=2, dtype=np.float32,
         sparsity=0.0, way=0, seed=0)                                  # LeNet-5's
@example(channels=[1, 20, 50], size=28, k=5, stride=1, pad=0, pool=2, dtype=np.float32,
         sparsity=0.9, way=1, seed=0)
@example(channels=[3, 17, 5], size=11, k=3, stride=1, pad=2, pool=3, dtype=np.float64,
         sparsity=0.5, way=0, seed=1)          # windows that do not tile the image
def test_every_way_is_the_models_forward(channels, size, k, stride, pad, pool, dtype,
                                         sparsity, way, seed):
    """Whatever way each step is taken to have chosen (``way`` picks one per layer), the
    call's features are the model's up to its Flatten, the twin's the same."""
    rng = np.random.default_rng(seed)
    if conv_side(size, len(channels) - 1, k, stride, pad, pool) < 1:
        return
    model = _stack(rng, channels, k, stride, pad, pool, dtype)
    if sparsity:
        prune.prune(model, sparsity, "magnitude", "weight", "local")
        model = sparse.to_sparse(model, min_sparsity=0.0).eval()
    steps = FeatureMajor(lower(model)).steps[:-1]          # (the Flatten is the chain's)
    assert SS.SampleStack.fits(steps)
    expected = []
    for i, step in enumerate(steps):
        if isinstance(step, SS.Conv):
            ways = SPARSE_WAYS if step.sparse else DENSE_WAYS
            chosen = list(ways)[(way + i) % len(ways)]
            if chosen in ("shifted", "pixels") and stride != 1:
                chosen = "direct"                 # (offered at stride 1 only)
            (step.ways if step.sparse else step.bands)[1] = chosen
            if chosen == "gemm":
                step.bands[1] = "shifted" if stride == 1 and seed % 2 else "pixels"
            expected.append(SS._kind(step))
    x = rng.standard_normal((1, channels[0], size, size)).astype(dtype)
    call = SS.SampleStack(steps, x.shape[1:], dtype)
    assert call.kinds == expected
    y = call(x)
    want = model(x).data.reshape(-1)
    assert y.shape == want.shape and y.dtype == dtype
    np.testing.assert_allclose(y, want, rtol=TOL[dtype], atol=TOL[dtype])
    twin = SS.run_numpy(call.table, call.ints, call.weights, call.arena, x.reshape(-1),
                        np.zeros(call.features, dtype))
    np.testing.assert_allclose(twin, want, rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_array_equal(call(x), y)       # (a second call: the buffers reused)


def test_what_does_not_fit():
    """An average pooling, a pooling the convolution does not run, a Tanh: no call."""
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(1, 2, 3, rng=rng)
    for layers in ([conv, nn.AvgPool2d(2)], [conv, nn.Tanh()],
                   [conv, nn.MaxPool2d(2, stride=1)]):
        ops = lower(nn.Sequential(*layers, nn.Flatten()).eval())
        steps = FeatureMajor(ops).steps
        assert isinstance(ops[-1], Flatten)
        assert not SS.SampleStack.fits(steps[:-1])


@pytest.mark.parametrize("sparsity", [0.0, 0.9])
def test_the_plan_runs_lenet5s_sample_in_the_call_or_its_steps(sparsity):
    """LeNet-5's sample: the plan's output is the model's on every call, through whichever
    the first call kept; its text names the call when kept."""
    model = models.lenet5(rng=0).eval()
    if sparsity:
        prune.prune(model, sparsity, "magnitude", "weight", "global")
        model = sparse.to_sparse(model, min_sparsity=0.0).eval()
    plan = infer.compile(model)
    x = np.random.default_rng(1).random((1, 1, 28, 28), dtype=np.float32)
    for _ in range(3):
        np.testing.assert_allclose(plan(x), model(x).data, rtol=1e-4, atol=1e-5)
    kept = plan._stacks[x.shape]
    assert ("SampleStack(" in repr(plan)) == bool(kept)
