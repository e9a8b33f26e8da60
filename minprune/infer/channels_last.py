"""A convolutional network's samples run channels last, (H, W, C), one at a time: where the
batch fills no register, a pixel's channels do. Dense convolutions run in register tiles of
output channels at eight pixels (``autograd.tiles.conv_pixels_nhwc``) or, 3x3 at stride 1,
by Winograd's F(2x2, 3x3) or F(4x4, 3x3) with a register of channels in every step
(``winograd_pixels``, ``winograd4_pixels``: the input's tiles transformed a register of
channels at a time, which the channel-major layout cannot do), whichever is fastest, timed
on the first call; residual blocks join in the last convolution's outputs where it runs by
Winograd's. After that first call, one sample or a batch runs in one compiled call of what
the steps did (``sample_call``).

It runs the ops a plan's fully connected tail follows when they are convolutions (ReLU or
no activation, no groups), residual blocks of them and a global average pooling at the end
(``fits``): the pooled vector is the same in either layout - and the fully connected layers
after the pooling too (``tail_fits``). A sparse convolution also times the feature-major
sparse ways, its sample transposed there and back (one sample: the compiled call densifies
it). Everything else stays feature-major (``fmajor``)."""
from __future__ import annotations

import numpy as np

from ..autograd.tiles import conv_pixels_nhwc, filters_lanes
from . import fm_kernels as K
from . import layout as L
from . import winograd4_pixels as WP4
from . import winograd_pixels as WP
from .fm_conv import Conv as FeatureMajorConv
from .fm_step import Step, best_times, bias_of, quickest
from .lower import GlobalPool, Residual, Weighted
from .sample_call import SampleCall


def fits(ops):
    """Whether ``OneSample`` runs ``ops``: convolutions (dense or sparse, no groups) and
    residual blocks of them, ending in a global average pooling."""
    return bool(ops) and isinstance(ops[-1], GlobalPool) and all(_fits(op) for op in ops[:-1])


def _fits(op):
    if isinstance(op, Residual):
        return op.activation in (None, "ReLU") and all(
            _fits(o) for o in [*op.body, *(op.shortcut or ())])
    return (isinstance(op, Weighted) and op.conv is not None and op.groups == 1
            and op.activation in (None, "ReLU"))


class Conv(Step):
    """A convolution of one sample (H, W, C) -> (OH, OW, OC), one of three dense ways - a
    sparse weight densified - or, with a sparse weight, a fourth: the feature-major step's
    sparse ways (``fm_conv.Conv``) on the sample transposed to (C, H, W, 1) and back."""
    winograd = True                 # whether Winograd's way is timed

    def __init__(self, op):
        self.k, self.stride, self.pad = op.conv
        self.bias, self.dtype = bias_of(op), op.dtype
        self.relu, self.out_channels = op.activation == "ReLU", op.weight.shape[0]
        self.sparse = None if isinstance(op.weight, np.ndarray) else FeatureMajorConv(op)
        self.weight = op.weight       # (densified on first use where sparse: ``_dense``)
        self.way = None      # "pixels", "winograd", "winograd4" or "sparse", once timed
        self.dense_way = None          # the fastest of the first three (the compiled call's)
        self._lanes, self._u = None, {}            # the filters as each way reads them

    def __call__(self, x, skip=None, relu=None):
        """The convolution of x, plus ``skip`` (then ReLU if ``relu``) where given."""
        h, w, c_in = x.shape
        xp = self._padded(x)
        oh = (h + 2 * self.pad - self.k) // self.stride + 1
        ow = (w + 2 * self.pad - self.k) // self.stride + 1
        out = self.buffer((oh, ow, self.out_channels), self.dtype)
        if self.way is None:
            ways = ("pixels", *WINOGRAD) if self.winograd and self.k == 3 and self.stride == 1 \
                else ("pixels",)
            ways += ("sparse",) if self.sparse is not None else ()
            best = best_times(ways, lambda way: self._run(way, x, xp, out))
            self.way = min(ways, key=best.__getitem__)
            self.dense_way = min(ways[:-1] if self.sparse is not None else ways,
                                 key=best.__getitem__)
        if self.way in WINOGRAD and skip is not None and not self.relu:
            return self._winograd(self.way, xp, out, skip, relu)
        self._run(self.way, x, xp, out)
        if skip is not None:
            return K.add_act(out, skip, relu, out)
        return out

    def _run(self, way, x, xp, out):
        if way == "sparse":                # (C, H, W, 1) there and back, in register blocks
            h, w, c_in = x.shape
            xt = self.buffer((c_in, h, w, 1), self.dtype, "channels first")
            L.transpose(np.ascontiguousarray(x).reshape(h * w, c_in), xt.reshape(c_in, h * w))
            y = self.sparse(xt)
            oh, ow, c_out = out.shape
            L.transpose(y.reshape(c_out, oh * ow), out.reshape(oh * ow, c_out))
            return
        if way != "pixels":
            self._winograd(way, xp, out, None, self.relu)
            return
        conv_pixels_nhwc(xp[None], self.lanes(xp.shape[-1]), self.bias, self.stride, out[None],
                         self.relu)

    def _winograd(self, way, xp, out, skip, relu):
        """By Winograd's F(2x2, 3x3) or F(4x4, 3x3) (``way``), ``skip`` added before
        ``relu`` where given."""
        module, kernel = WINOGRAD[way]
        u = self.transformed(way, xp.shape[-1])
        oh, ow, n_out = out.shape
        work = self.buffer((module.work_size(oh, ow, xp.shape[-1], n_out, u.shape[-1]),),
                           self.dtype, way)
        return kernel(xp, u, self.bias, relu,
                      _NO_SKIP[self.dtype.type] if skip is None else skip, work, out)

    def lanes(self, c_in):
        """The filters as the pixel tiles read them (``tiles.filters_lanes``)."""
        if self._lanes is None:                  # (a step's dense weight never changes)
            self._lanes = filters_lanes(self._dense(c_in), self.k, c_in, self.dtype)
        return self._lanes

    def transformed(self, way, c_in):
        """The filters as Winograd's ``way`` reads them (its ``filters_lanes``)."""
        if way not in self._u:
            self._u[way] = WINOGRAD[way][0].filters_lanes(self._dense(c_in), c_in, self.dtype)
        return self._u[way]

    def _dense(self, c_in):
        """The weight as a dense (OC, k·k·C) matrix."""
        if self.sparse is not None:
            return self.sparse.forms(c_in)[0]
        return self.weight

    def _padded(self, x):
        if not self.pad:
            return x
        h, w, c = x.shape
        p = self.pad
        xp = self.zeroed((h + 2 * p, w + 2 * p, c), x.dtype)
        xp[p:p + h, p:p + w] = x
        return xp


class Block(Step):
    """A residual block: body, shortcut (or the input), joined in the body's last
    convolution (``Conv.__call__``'s skip)."""

    def __init__(self, op):
        self.body = [_step(o) for o in op.body]
        self.shortcut = [_step(o) for o in op.shortcut or ()]
        self.relu = op.activation == "ReLU"

    def __call__(self, x):
        y = x
        for s in self.body[:-1]:
            y = s(y)
        skip = x
        for s in self.shortcut:
            skip = s(skip)
        return self.body[-1](y, skip, self.relu)


def _step(op):
    return Block(op) if isinstance(op, Residual) else Conv(op)


def tail_fits(ops):
    """Whether ops (those after the global pooling) are fully connected layers ``OneSample``
    runs as its ``tail``: ReLU or no activation."""
    return all(isinstance(op, Weighted) and op.conv is None and op.activation in (None, "ReLU")
               for op in ops)


class OneSample:
    """The ops (``fits``) for a batch, sample by sample: ``run(x)`` of the (N, C, H, W)
    input returns the pooled (C, N) vectors, as the feature-major run of the same ops does -
    or, with ``tail`` (fully connected ops after the pooling, ``tail_fits``), their outputs."""

    def __init__(self, ops, winograd=True, tail=()):
        self.steps = [_step(op) for op in ops[:-1]]
        for conv in self._convs():
            conv.winograd = winograd
        self.tail = list(tail)
        self._pooled = Step()
        self._calls = {}                            # sample shape -> its SampleCall
        self._steps_first = {}      # one sample's shape -> whether the steps run it

    def run(self, x):
        """The pooled (C, N) vectors of the batch x (N, C, H, W) (the tail's outputs, where
        there is one): one compiled call (``sample_call``) or, for one sample where a
        convolution runs fastest sparse and the first call timed the steps faster than the
        call, the steps."""
        call = self.call(x)
        if len(x) == 1 and self._steps_first.get(x.shape) is None:
            sparse = any(c.way == "sparse" for c in self._convs())
            self._steps_first[x.shape] = sparse and quickest(
                (False, True), lambda steps: self._steps_run(x) if steps else call(x))
        if len(x) == 1 and self._steps_first[x.shape]:
            return self._steps_run(x)
        return call(x)

    def call(self, x):
        """The ``SampleCall`` of x's sample shape, built once the steps ran a sample (every
        convolution's way chosen), each convolution in its fastest dense way."""
        shape = x.shape[1:]
        if shape not in self._calls:
            self._steps_run(x[:1])
            self._calls[shape] = SampleCall(self.steps, shape, x.dtype, self.tail)
        return self._calls[shape]

    def _convs(self):
        for s in self.steps:
            yield from [s] if isinstance(s, Conv) else [*s.body, *s.shortcut]

    def _steps_run(self, x):
        """The steps one by one, on one sample."""
        y = np.ascontiguousarray(x[0].transpose(1, 2, 0))
        for s in self.steps:
            y = s(y)
        h, w, c = y.shape                 # (the pixels' mean, the channels as a batch of C)
        pooled = self._pooled.buffer((1, c), y.dtype)
        y = K.global_mean(y.reshape(1, h, w, c), pooled).reshape(c, 1)
        for op in self.tail:
            y = op.dense @ y + (0 if op.bias is None else op.bias[:, None])
            y = np.maximum(y, 0) if op.activation == "ReLU" else y
        return y


_NO_SKIP = {t: np.zeros((0, 0, 0), t) for t in (np.float32, np.float64)}
WINOGRAD = {"winograd": (WP, WP.conv_winograd_pixels),
            "winograd4": (WP4, WP4.conv_winograd4_pixels)}
