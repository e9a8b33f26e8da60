"""One sample of a resnet in one compiled call (``infer.sample_call``): the call against the
steps it replays, the model and its NumPy twin, every convolution in each of its ways (the
plan that runs it: ``test_infer``); CI runs this file a second time with
NUMBA_DISABLE_JIT=1."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from minprune import nn
from minprune.autograd import Tensor
from minprune.infer import sample_call as SC
from minprune.infer.channels_last import OneSample
from minprune.infer.lower import GlobalPool, lower

TOL = {np.float32: 1e-4, np.float64: 1e-9}


def _resnet(rng, channels, blocks, stride, bias, dtype, tail=False):
    """conv-BN-ReLU, then ``blocks`` residual blocks (the first at ``stride``, a 1x1 shortcut
    where the shape changes), ReLU after each, global pooling (then, with ``tail``, two
    fully connected layers): random BatchNorm statistics."""
    def conv_bn(c_in, c_out, k, s):
        conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=bias, rng=rng, dtype=dtype)
        bn = nn.BatchNorm2d(c_out, dtype=dtype)
        bn.running_mean = rng.standard_normal(c_out).astype(dtype)
        bn.running_var = rng.uniform(0.5, 2, c_out).astype(dtype)
        bn.bias.data = rng.standard_normal(c_out).astype(dtype)
        return [conv, bn]
    layers, c = [*conv_bn(channels[0], channels[1], 3, 1), nn.ReLU()], channels[1]
    for b in range(blocks):
        c_out, s = channels[2] if b == 0 else c, stride if b == 0 else 1
        body = nn.Sequential(*conv_bn(c, c_out, 3, s), nn.ReLU(), *conv_bn(c_out, c_out, 3, 1))
        shortcut = nn.Sequential(*conv_bn(c, c_out, 1, s)) if s != 1 or c != c_out else None
        layers += [nn.Residual(body, shortcut), nn.ReLU()]
        c = c_out
    layers.append(nn.GlobalAvgPool2d())
    if tail:
        layers += [nn.Linear(c, 7, rng=rng, dtype=dtype), nn.ReLU(),
                   nn.Linear(7, 3, rng=rng, dtype=dtype)]
    return nn.Sequential(*layers).eval()


def _one(model):
    """``OneSample`` of the lowered model: its ops up to the pooling, the rest its tail."""
    ops = lower(model, None)
    pool = next(i for i, op in enumerate(ops) if isinstance(op, GlobalPool))
    return OneSample(ops[:pool + 1], tail=ops[pool + 1:])


@settings(max_examples=25, deadline=None)
@given(channels=st.tuples(st.integers(1, 3), st.integers(1, 18), st.integers(1, 18)),
       blocks=st.integers(1, 2), stride=st.sampled_from([1, 2]), h=st.integers(3, 11),
       w=st.integers(3, 11), bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       ways=st.lists(st.sampled_from(["pixels", "winograd", "winograd4"]), min_size=8,
                     max_size=8),
       tail=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_the_call_is_the_steps_and_the_model(channels, blocks, stride, h, w, bias, dtype, ways,
                                             tail, seed):
    """Odd sizes and channel counts, stride 1 or 2, with and without biases, each 3x3
    stride-1 convolution in a way drawn for it, fully connected layers after the pooling or
    not: the call returns what the steps and the model
    return, and its twin the same; a batch of three through the same call, whole or split
    over threads (batch 0 too)."""
    rng = np.random.default_rng(seed)
    model = _resnet(rng, channels, blocks, stride, bias, dtype, tail)
    one = _one(model)
    for conv, way in zip(one._convs(), ways * 2):
        conv.way = conv.dense_way = way if conv.k == 3 and conv.stride == 1 else "pixels"
    for batch in (1, 3):
        x = rng.standard_normal((batch, channels[0], h, w)).astype(dtype)
        expected = model(Tensor(x)).data.T                       # (C, N)
        assert (x.shape[1:] in one._calls) == (batch == 3)
        got = one.run(x).copy()         # (the first: a sample by the steps, then the call)
        np.testing.assert_allclose(got, expected, rtol=TOL[dtype], atol=TOL[dtype])
        call = one._calls[x.shape[1:]]
        np.testing.assert_allclose(call(x[:1]), one._steps_run(x[:1]), rtol=TOL[dtype],
                                   atol=TOL[dtype])
        for parts in (1, 2, 4):                                 # (4: a part of no sample)
            np.testing.assert_allclose(call(x, parts), expected, rtol=TOL[dtype],
                                       atol=TOL[dtype])
        assert call(x[:0]).shape == (len(expected), 0)
        twin = SC.run_numpy(call.program, call.buffers, call.filters, call.biases,
                            call.arena.copy(), call.weights, x)
        np.testing.assert_allclose(twin, expected, rtol=TOL[dtype], atol=TOL[dtype])


def test_the_program_pads_each_buffer_once_and_joins_in_winograds_way():
    """resnet-like blocks: one padded copy per (buffer, padding) - the block's input read by
    its body and its 1x1 shortcut unpadded, the sample loaded into the first convolution's
    padding - buffers of one shape sharing a place one after another, and the join in the
    last convolution where it runs by Winograd's, a row of its own where it runs in pixel
    tiles."""
    rng = np.random.default_rng(0)
    model = _resnet(rng, (1, 4, 8), 2, 2, True, np.float32)
    for way, joins in (("winograd4", 0), ("pixels", 2)):
        one = _one(model)
        for conv in one._convs():
            conv.way = conv.dense_way = way if conv.k == 3 and conv.stride == 1 else "pixels"
        x = rng.standard_normal((1, 1, 9, 9)).astype(np.float32)
        one.run(x)
        program = one._calls[x.shape[1:]].program
        pads = [(src, p) for what, src, _, _, _, _, _, p, _ in program if what == SC.PAD]
        assert len(pads) == len(set(pads)) == 4      # (the sample: loaded into its padding)
        assert program[0, 7] == 1
        assert sum(program[:, 0] == SC.JOIN) == joins
        assert sum(program[:, 3] >= 0) == 2 - joins
        assert program[0, 0] == SC.LOAD and program[-1, 0] == SC.MEAN
        call = one._calls[x.shape[1:]]                 # buffers sharing a place: one at a time
        rows = {}
        for r, row in enumerate(program):
            for b in row[1:4][row[1:4] >= 0]:
                rows.setdefault(b, []).append(r)
        places = {}
        for b, (at, *shape) in enumerate(call.buffers):
            places.setdefault(at, []).append((min(rows[b]), max(rows[b]), tuple(shape)))
        assert len(places) < len(call.buffers)
        for spans in places.values():
            spans.sort()
            assert len({shape for *_, shape in spans}) == 1
            assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
