"""The sliced storage, its SIMD kernel and the batch-1 chain against their NumPy twins and
dense products, in both dtypes, degenerate sizes included.

CI runs this file a second time with NUMBA_DISABLE_JIT=1: the same kernels as plain Python.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune.infer import chain as chain_module
from minprune.infer.chain import Chain, chain_numpy
from minprune.prune import patterns
from minprune.sparse import CSR, simd
from minprune.sparse.sliced import Sliced, sliced_matvec, sliced_matvec_numpy

TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def random_matrix(rng, rows, cols, density, dtype):
    keep = rng.random((rows, cols)) < density
    return np.where(keep, rng.standard_normal((rows, cols)), 0).astype(dtype)


@st.composite
def problems(draw):
    rows = draw(st.one_of(st.integers(0, 20), st.sampled_from([31, 32, 33, 47])))
    cols = draw(st.one_of(st.integers(0, 40), st.sampled_from([63, 64, 65, 129])))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    return rng, random_matrix(rng, rows, cols, density, dtype), draw(st.booleans())


@settings(max_examples=80, deadline=None)
@given(problem=problems(), relu=st.booleans())
def test_sliced_product_equals_the_dense_product_and_the_twin(problem, relu):
    rng, w, sort_rows = problem
    rows, cols = w.shape
    tol = TOL[w.dtype]
    sliced = Sliced.from_dense(w, sort_rows=sort_rows)
    np.testing.assert_array_equal(sliced.to_dense(), w)
    assert sliced.offsets.max(initial=0) < 2 * simd.lanes(w.dtype)
    x = rng.standard_normal(cols).astype(w.dtype)
    bias = rng.standard_normal(rows).astype(w.dtype)
    expected = w @ x + bias
    expected = np.maximum(expected, 0) if relu else expected
    out = np.full(rows, np.nan, w.dtype)
    np.testing.assert_allclose(sliced.product(x, out, bias, relu), expected, atol=tol, rtol=tol)
    np.testing.assert_allclose(sliced_matvec_numpy(sliced, x, bias, relu), expected, atol=tol,
                               rtol=tol)


def test_the_kernel_writes_in_slice_order_from_padded_inputs(rng):
    w = random_matrix(rng, 37, 70, 0.3, np.float32)
    sliced = Sliced.from_dense(w)
    assert not np.array_equal(sliced.order, np.arange(37))      # the rows were reordered
    x = rng.standard_normal(70).astype(np.float32)
    padded = np.zeros(simd.padded_length(70, np.float32), np.float32)
    padded[:70] = x
    assert len(padded) == 96
    bias = rng.standard_normal(37).astype(np.float32)
    out = np.full(37, np.nan, np.float32)
    sliced_matvec(sliced.slice_ptr, sliced.windows, sliced.step_ptr, sliced.values,
                  sliced.offsets, padded, bias[sliced.order], False, out)
    np.testing.assert_allclose(out, (w @ x + bias)[sliced.order], atol=1e-5)


@pytest.mark.parametrize("inner", ["slice_sums", "slice_fma_numba"])   # intrinsic, plain loop
def test_slice_fma_equals_its_python_twin(inner, rng):
    if inner == "slice_sums" and not simd.simd_works():
        pytest.skip("the intrinsics do not build on this target")
    for dtype in (np.float32, np.float64):
        w = random_matrix(rng, 16, 200, 0.2, dtype)
        sliced = Sliced.from_dense(w, sort_rows=False)
        x = np.zeros(simd.padded_length(200, dtype), dtype)
        x[:200] = rng.standard_normal(200)
        lanes = simd.lanes(dtype)
        compiled, twin = np.full(lanes, np.nan, dtype), np.full(lanes, np.nan, dtype)
        args = (sliced.values, sliced.offsets, x, sliced.windows, sliced.step_ptr,
                sliced.slice_ptr[0], sliced.slice_ptr[1])                # the first slice
        getattr(simd, inner)(*args, compiled)
        simd.slice_fma_python(*args, twin)
        np.testing.assert_allclose(compiled, twin, atol=TOL[np.dtype(dtype)])
        np.testing.assert_allclose(compiled, (w @ x[:200])[:lanes], atol=TOL[np.dtype(dtype)])


def test_padding_counts_slots_per_weight(rng):
    """Exactly one slot per weight for 2:4 weights on whole slices; more for unstructured."""
    w = rng.standard_normal((32, 64)).astype(np.float32)
    keep = ~patterns.nm_forced(np.abs(w), np.zeros(w.shape, bool), patterns.parse("2:4"))
    assert Sliced.from_dense(w * keep).padding == 1.0
    sparse = Sliced.from_dense(random_matrix(rng, 32, 64, 0.1, np.float32))
    assert sparse.padding > 1.2
    assert Sliced.from_dense(np.zeros((3, 5), np.float32)).padding == 1.0


def test_unsorted_csr_columns_are_accepted(rng):
    w = random_matrix(rng, 5, 40, 0.5, np.float64)
    csr = CSR.from_dense(w)
    shuffled = csr.indices.copy()
    for r in range(5):                                  # reverse every row's columns
        a, b = csr.indptr[r], csr.indptr[r + 1]
        shuffled[a:b] = shuffled[a:b][::-1]
    values = csr.values.copy()
    for r in range(5):
        a, b = csr.indptr[r], csr.indptr[r + 1]
        values[a:b] = values[a:b][::-1]
    sliced = Sliced.from_csr(csr.indptr, shuffled, values, csr.shape)
    np.testing.assert_array_equal(sliced.to_dense(), w)


def layers_of(rng, dtype, kinds):
    """A chain's layers from 50 inputs: 'd' dense, 's' CSR at 10%, 'h' CSR at 90%."""
    layers, n_in = [], 50
    for i, kind in enumerate(kinds):
        n_out = [37, 20, 64, 9, 3][i % 5]
        w = random_matrix(rng, n_out, n_in, {"d": 1.0, "s": 0.1, "h": 0.9}[kind], dtype)
        bias = None if i == 1 else rng.standard_normal(n_out).astype(dtype)
        layers.append((w if kind == "d" else CSR.from_dense(w), bias, i < len(kinds) - 1))
        n_in = n_out
    return layers


@pytest.mark.parametrize("kinds", ["d", "s", "ss", "sds", "ssss", "dssd", "shsh", "hhh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_equals_its_twin(kinds, dtype, rng):
    layers = layers_of(rng, dtype, kinds)
    chain = Chain(layers, dtype)
    forms = [type(w).__name__ for w, _, _ in chain.forms]
    for (w, _, _), form in zip(layers, forms):
        assert form == ("ndarray" if isinstance(w, np.ndarray) or w.density > 0.6
                        else "Sliced")
    x = rng.standard_normal((1, 50)).astype(dtype)
    got = chain(x)
    assert got.shape == (1, layers[-1][0].shape[0]) and got.dtype == dtype
    np.testing.assert_allclose(got, chain_numpy(layers, x), atol=TOL[np.dtype(dtype)],
                               rtol=TOL[np.dtype(dtype)])
    np.testing.assert_array_equal(chain(x), got)             # the scratch leaves no trace


def test_chain_picks_dense_above_the_fill_limit(rng, monkeypatch):
    layers = layers_of(rng, np.float32, "ss")
    x = rng.standard_normal((1, 50)).astype(np.float32)
    expected = chain_numpy(layers, x)
    for limit, form in ((0.0, "ndarray"), (10.0, "Sliced")):
        monkeypatch.setattr(chain_module, "SLICED_MAX_FILL", limit)
        chain = Chain(layers, np.float32)
        assert {type(w).__name__ for w, _, _ in chain.forms} == {form}
        np.testing.assert_allclose(chain(x), expected, atol=1e-5)


def test_chain_refuses_a_sample_of_the_wrong_size(rng):
    chain = Chain(layers_of(rng, np.float32, "sd"), np.float32)
    with pytest.raises(ValueError, match="50 values"):
        chain(np.zeros((1, 49), np.float32))


def test_zero_width_layers(rng):
    for rows, cols in ((0, 7), (5, 0), (0, 0)):
        w = np.zeros((rows, cols), np.float32)
        sliced = Sliced.from_dense(w)
        out = sliced.product(np.zeros(cols, np.float32), np.full(rows, np.nan, np.float32))
        np.testing.assert_array_equal(out, np.zeros(rows))
    chain = Chain([(CSR.from_dense(np.zeros((4, 0), np.float32)), None, True),
                   (np.ones((2, 4), np.float32), np.ones(2, np.float32), False)], np.float32)
    np.testing.assert_array_equal(chain(np.zeros((1, 0), np.float32)), [[1.0, 1.0]])


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="the fallback is a code generation path")
def test_a_target_without_avx512_runs_the_plain_kernels(tmp_path):
    """On a target without AVX-512 the plain Numba loops run instead of the intrinsics:
    same results, and no warning (nothing failed: they are the fastest that works there)."""
    script = """
import json, warnings, numpy as np
from minprune.sparse import simd
from minprune.sparse.sliced import Sliced
rng = np.random.default_rng(0)
out = {"avx512": simd.has_avx512(), "errors": []}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out["resolved"] = simd.resolve("auto")
    for dtype in (np.float32, np.float64):
        w = np.where(rng.random((37, 70)) < 0.3, rng.standard_normal((37, 70)), 0).astype(dtype)
        x = rng.standard_normal(70).astype(dtype)
        y = Sliced.from_dense(w).product(x, np.empty(37, dtype))
        out["errors"].append(float(np.abs(y - w @ x).max()))
out["warnings"] = len(caught)
print(json.dumps(out))
"""
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="",
               NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["avx512"] is False
    assert result["resolved"] == "numba" and result["warnings"] == 0
    assert result["errors"][0] < 1e-5 and result["errors"][1] < 1e-12


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="the fallback is a code generation path")
def test_a_failing_intrinsic_falls_back_and_says_so_once(tmp_path):
    """If the intrinsics' code generation fails (simulated: the IR emitter raises), a plan
    still runs - on the plain kernels, with the same results - and one warning says why."""
    script = """
import json, warnings, numpy as np
from minprune.sparse import simd, simd_ir

def broken(self, *args, **kwargs):
    raise RuntimeError("simulated code generation failure")
simd_ir.Emitter.__init__ = broken
from minprune import infer, models, prune, sparse
model = models.lenet_300_100(rng=0).eval()
prune.prune(model, 0.9)
x = np.random.default_rng(0).random((1, 784), dtype=np.float32)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    plans = [infer.compile(sparse.to_sparse(model)) for _ in range(2)]
    ys = [plan(x) for plan in plans]
print(json.dumps({"kernels": [p.kernels for p in plans],
                  "error": float(np.abs(ys[0] - model(x).data).max()),
                  "warnings": [str(w.message) for w in caught]}))
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kernels"] == ["numba", "numba"]
    assert result["error"] < 1e-5
    if simd.has_avx512():                      # where the intrinsics were expected to work
        assert len(result["warnings"]) == 1
        assert "simulated code generation failure" in result["warnings"][0]
    with pytest.raises(ValueError, match="kernels must be one of auto, simd, numba"):
        simd.resolve("fast")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_kernel_choices_give_the_same_plan_outputs(dtype, rng):
    from minprune import infer, models, prune, sparse
    model = models.lenet_300_100(rng=0)
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    prune.prune(model, 0.9)
    x = rng.random((1, 784)).astype(dtype)
    expected = model.eval()(x).data
    choices = ["numba"] + (["simd"] if simd.simd_works() else [])
    for kernels in choices:
        for net, pattern in ((sparse.to_sparse(model), None), (model, None)):
            plan = infer.compile(net, pattern=pattern, kernels=kernels)
            assert plan.kernels == kernels
            np.testing.assert_allclose(plan(x), expected, atol=TOL[np.dtype(dtype)] * 10)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="a question about the compiler, which is off")
def test_the_private_numba_api_the_tile_kernels_rely_on_is_there():
    """The CSR tile kernels are compiled with LLVM's SLP vectorizer on (sparse.kernels'
    module note: 2-3x), and Numba has no public per-function switch for it: ``_with_slp``
    wraps the dispatcher's ``_compile_for_args`` and sets ``config.SLP_VECTORIZE``. If either
    moves in a Numba release, this fails - loudly, before the kernels silently slow down."""
    from numba import njit
    from numba.core import config

    from minprune.sparse import kernels
    assert hasattr(config, "SLP_VECTORIZE")
    seen = []

    def probe(a):
        return a + 1
    dispatcher = njit(probe)
    original = dispatcher._compile_for_args

    def spy(*args, **kwargs):
        seen.append(config.SLP_VECTORIZE)
        return original(*args, **kwargs)
    dispatcher._compile_for_args = spy
    kernels._with_slp(dispatcher)
    saved = config.SLP_VECTORIZE
    assert dispatcher(1) == 2
    assert seen == [1] and config.SLP_VECTORIZE == saved


def two_of_four(rng, rows, cols, dtype):
    from minprune.sparse.patterns import NM
    w = rng.standard_normal((rows, cols)).astype(dtype)
    keep = ~patterns.nm_forced(np.abs(w), np.zeros(w.shape, bool), patterns.parse("2:4"))
    keep &= rng.random(w.shape) < 0.9          # some groups keep fewer than two
    return w * keep, NM.from_matrix(w, keep, patterns.parse("2:4"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, cols", [(37, 70), (16, 32), (5, 7), (1, 4), (0, 8), (4, 0),
                                        (300, 784)])
def test_pairs_equal_the_dense_product_and_the_twin(dtype, rows, cols, rng):
    from minprune.sparse.sliced import Pairs, pairs_matvec_numpy
    dense, nm = two_of_four(rng, rows, cols, dtype)
    pairs = Pairs.from_nm(nm)
    np.testing.assert_array_equal(pairs.to_dense(), dense)
    n = simd.lanes(dtype)
    assert pairs.values.shape[0] == -(-rows // n) * pairs.n_windows * n   # n steps per window
    x = rng.standard_normal(cols).astype(dtype)
    bias = rng.standard_normal(rows).astype(dtype)
    expected = np.maximum(dense @ x + bias, 0)
    tol = TOL[np.dtype(dtype)]
    out = np.full(rows, np.nan, dtype)
    np.testing.assert_allclose(pairs.product(x, out, bias, True), expected, atol=tol, rtol=tol)
    np.testing.assert_allclose(pairs_matvec_numpy(pairs, x, bias, True), expected, atol=tol,
                               rtol=tol)


@pytest.mark.parametrize("inner", ["pairs_sums", "pairs_fma_numba"])   # intrinsic, plain loop
def test_pairs_fma_equals_its_python_twin(inner, rng):
    from minprune.sparse.sliced import Pairs
    if inner == "pairs_sums" and not simd.simd_works():
        pytest.skip("the intrinsics do not build on this target")
    for dtype in (np.float32, np.float64):
        _, nm = two_of_four(rng, 40, 100, dtype)
        pairs = Pairs.from_nm(nm)
        x = np.zeros(pairs.n_windows * 2 * simd.lanes(dtype), dtype)
        x[:100] = rng.standard_normal(100)
        compiled = np.full(simd.lanes(dtype), np.nan, dtype)
        twin = compiled.copy()
        args = (pairs.values, pairs.codes, x, pairs.n_windows, pairs.n_windows)   # slice 1
        getattr(simd, inner)(*args, compiled)
        simd.pairs_fma_python(*args, twin)
        np.testing.assert_allclose(compiled, twin, atol=TOL[np.dtype(dtype)])


def test_pairs_refuse_other_patterns(rng):
    from minprune.sparse.patterns import NM
    from minprune.sparse.sliced import Pairs
    w = rng.standard_normal((4, 8))
    keep = ~patterns.nm_forced(np.abs(w), np.zeros(w.shape, bool), patterns.parse("1:4"))
    with pytest.raises(ValueError, match="2:4 weights, got 1:4"):
        Pairs.from_nm(NM.from_matrix(w, keep, patterns.parse("1:4")))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chain_runs_2_4_layers_as_pairs_between_sliced_ones(dtype, rng):
    """A sliced layer before a 2:4 one writes in its rows' own order (the pairs read groups of
    four neighbouring columns); after it, columns follow the sliced order again."""
    w1 = random_matrix(rng, 48, 50, 0.1, dtype)
    _, nm = two_of_four(rng, 40, 48, dtype)
    w3 = random_matrix(rng, 24, 40, 0.1, dtype)
    _, nm4 = two_of_four(rng, 7, 24, dtype)
    layers = [(CSR.from_dense(w1), None, True), (nm, rng.standard_normal(40), True),
              (CSR.from_dense(w3), rng.standard_normal(24), True), (nm4, None, False)]
    chain = Chain(layers, dtype)
    assert repr(chain) == "Chain(sliced -> 2:4 pairs -> sliced -> 2:4 pairs)"
    assert np.array_equal(chain.forms[0][0].order, np.arange(48))
    x = rng.standard_normal((1, 50)).astype(dtype)
    np.testing.assert_allclose(chain(x), chain_numpy(layers, x), atol=TOL[np.dtype(dtype)],
                               rtol=TOL[np.dtype(dtype)])


def test_grouping_rows_by_their_windows_saves_slots(rng):
    """Slices filled greedily hold fewer padding slots than slices of rows in length order."""
    from minprune.sparse import sliced as sliced_module
    w = random_matrix(rng, 300, 784, 0.06, np.float32)
    grouped = Sliced.from_dense(w)
    by_length = np.argsort(-np.count_nonzero(w, axis=1), kind="stable")
    plain = Sliced.from_dense(w[by_length], sort_rows=False)
    assert grouped.padding < 0.95 * plain.padding
    assert sorted(grouped.order) == list(range(300))
    np.testing.assert_array_equal(grouped.to_dense(), w)
    assert len(sliced_module._grouped(np.zeros((0, 3), np.int64), 16)) == 0
