"""Convolution and pooling on NCHW tensors, stored channels-last: in register tiles where
they apply, else by im2col with a channels-last column layout.

Layout is the whole story for speed here. ``conv2d`` views its input as NHWC, so each im2col
row is (kh, kw, C) with the channels contiguous, and its output is an NCHW *view* of an NHWC
array. Elementwise ops and pooling keep that memory order, so the next convolution's NHWC view
is already contiguous: activations stay channels-last in memory while the API stays NCHW.

The forward of a float convolution with filters larger than 1x1, the input gradient of a
stride-1 convolution that keeps the image's size, and the weight gradient where the input
channels fill whole SIMD registers and the outputs groups of eight, run in register tiles
(``autograd.tiles``: no columns at all); the rest takes the columns and a product. ``TILES =
False`` runs everything the second way (the tests compare the two).
"""
from __future__ import annotations

import numpy as np

from .ops import as_tensor
from .tensor import Tensor


def _out_size(size, kernel, stride, padding, what):
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"{what}: input size {size} with padding {padding} is smaller than "
                         f"the kernel size {kernel}")
    return out


def _im2col(x, kh, kw, stride, pad, oh, ow):
    """The (N·OH·OW, kh·kw·C) matrix whose rows are the receptive fields of the NHWC array x
    padded by ``pad``, columns (kh, kw, C).

    With several channels the rows are copied from the channels-last windows, kw·C numbers at
    a time (``columns.im2col_nhwc``). With one or two channels (a first layer) those runs are
    too short, so the matrix is filled one tap at a time as a column-major array: each tap is
    then one long strided copy.
    """
    n, _, _, c = x.shape
    if c >= 3:
        from .columns import im2col_nhwc  # lazy: Numba loads with the first convolution
        return im2col_nhwc(np.ascontiguousarray(x), kh, kw, stride, pad, oh, ow,
                           np.empty((n * oh * ow, kh * kw * c), dtype=x.dtype))
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x
    cols = np.empty((kh, kw, c, n, oh, ow), dtype=xp.dtype)
    for i, j, rows, cols_ in _taps(kh, kw, stride, oh, ow):
        cols[i, j] = xp[:, rows, cols_, :].transpose(3, 0, 1, 2)
    return cols.reshape(kh * kw * c, n * oh * ow).T          # same matrix, column-major


def _taps(kh, kw, stride, oh, ow):
    """For each kernel tap (i, j): the strided slices of the padded input it touches."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(i, i + stride * (oh - 1) + 1, stride), \
                slice(j, j + stride * (ow - 1) + 1, stride)


def im2col(x, kh, kw, stride, padding, what="conv2d"):
    """Unfold the NCHW array ``x``: returns ``(cols, xp, oh, ow)`` with ``cols`` the
    (N·OH·OW, kh·kw·C) matrix of receptive fields (columns ordered kh, kw, C) and ``xp`` the
    padded NHWC view it was read from."""
    xp, oh, ow = _padded_nhwc(x, kh, kw, stride, padding, what)
    return _im2col(xp, kh, kw, stride, 0, oh, ow), xp, oh, ow


def _nhwc(x, kh, kw, stride, padding, what):
    """The NCHW array ``x`` as an NHWC view, and the output size (OH, OW) of a kh x kw window
    at ``stride`` over it padded by ``padding``."""
    oh = _out_size(x.shape[2], kh, stride, padding, what)
    ow = _out_size(x.shape[3], kw, stride, padding, what)
    return x.transpose(0, 2, 3, 1), oh, ow


def _padded_nhwc(x, kh, kw, stride, padding, what):
    """``_nhwc``, padded (a view when there is no padding)."""
    xp, oh, ow = _nhwc(x, kh, kw, stride, padding, what)
    if padding:
        xp = np.pad(xp, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    return xp, oh, ow


def col2im(tap_grad, xp_shape, kh, kw, stride, oh, ow, padding, dtype):
    """Fold gradients of the columns back onto the input: ``tap_grad(i, j)`` gives the
    (N, OH, OW, C) gradient of tap (i, j)'s columns, which is added onto the pixels that tap
    read. Taking one tap at a time never holds the whole column gradient, kh·kw times larger
    than the input. Returns the NCHW gradient of the unpadded input."""
    dxp = np.zeros(xp_shape, dtype=dtype)
    for i, j, rows, cols in _taps(kh, kw, stride, oh, ow):
        dxp[:, rows, cols, :] += tap_grad(i, j)
    h, w = xp_shape[1] - 2 * padding, xp_shape[2] - 2 * padding
    return _nchw_grad(dxp, padding, (None, None, h, w))


TILES = True              # register tiles where they apply (see the module note)
CHUNK_BYTES = 2 << 20     # columns built and multiplied this many bytes at a time (cache-sized)


def _chunks(n, per_sample):
    """[(start, stop)] sample ranges whose columns take about ``CHUNK_BYTES`` each. Measured on
    resnet8 at batch 64: 29 MB of columns in one product took 8.5 ms, in chunks of 3.6 MB
    5.2 ms (columns rebuilt in the backward included) - they stay in cache between im2col and
    the product. With im2col as a kernel, 2 MB chunks made resnet8's whole step 6% faster
    than 4 MB (73.5 against 78.3 ms, in turns), 1 MB no faster than 2."""
    size = max(1, CHUNK_BYTES // max(per_sample, 1))
    return [(s, min(n, s + size)) for s in range(0, n, size)] or [(0, 0)]


def _tiled(xs, w2, b, k, stride, padding, oh, ow):
    """The forward product without columns: the register tiles of ``autograd.tiles`` (a
    register of output channels at eight pixels, any pixel of any sample) on the padded
    channels-last batch: ((N·OH·OW, OC) with the bias added, the padded batch). Measured on
    resnet8's and LeNet-5's convolutions at batch 64: 1.2-1.6x the speed of im2col and the
    product (a 1x1 convolution's columns are its input: those keep the product)."""
    from .tiles import conv_pixels_nhwc, filters_lanes  # lazy: Numba loads on first use
    n, c = xs.shape[0], xs.shape[3]
    xp = (np.pad(xs, ((0, 0), (padding, padding), (padding, padding), (0, 0))) if padding
          else np.ascontiguousarray(xs))
    out = np.empty((n, oh, ow, len(w2)), dtype=xs.dtype)
    bias = b.data if b is not None else np.zeros(0, xs.dtype)
    conv_pixels_nhwc(xp, filters_lanes(w2, k, c, xs.dtype), bias, stride, out)
    return out.reshape(n * oh * ow, len(w2)), xp


def _lanes(dtype):
    """Numbers of ``dtype`` per SIMD register of the tile kernels."""
    from ..vec import lanes  # lazy: Numba loads with the kernels
    return lanes(dtype)


def _input_grad_tiled(g, w, padding, dx):
    """The input's gradient of a stride-1 convolution, dx (N, H, W, C), as the convolution
    of the output's gradient g (N, OH, OW, OC), padded by k - 1 - padding, by the filters
    turned round (input and output channels swapped, taps reversed) - in the same register
    tiles as the forward, with no columns to fold back. Taken where the convolution keeps
    the image's size (padding (k - 1) / 2): without padding the gradient's padded image is
    larger than the output (LeNet-5's second convolution: 16 x 16 against 8 x 8), and the
    product with columns does fewer multiply-adds (9.6 against 13.6 ms a step there)."""
    from .tiles import conv_pixels_nhwc, filters_lanes  # lazy: Numba loads on first use
    oc, c, k, _ = w.shape
    turned = w[:, :, ::-1, ::-1].transpose(1, 2, 3, 0).reshape(c, k * k * oc)   # (kh, kw, OC)
    edge = k - 1 - padding
    gp = np.pad(g, ((0, 0), (edge, edge), (edge, edge), (0, 0))) if edge else \
        np.ascontiguousarray(g)
    conv_pixels_nhwc(gp, filters_lanes(turned, k, oc, g.dtype), np.zeros(0, g.dtype), 1, dx)
    return dx


def conv2d(x, w, b=None, stride=1, padding=0):
    """2-D cross-correlation, PyTorch semantics.

    x : Tensor of shape (N, C, H, W); w : Tensor of shape (OC, C, kh, kw); b : (OC,) or None.
    Returns a Tensor of shape (N, OC, OH, OW), OH = (H + 2·padding - kh) // stride + 1.
    """
    w = as_tensor(w)
    x = as_tensor(x, w)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d takes x of shape (N, C, H, W) and w of shape (OC, C, kh, kw), "
                         f"got {x.shape} and {w.shape}")
    n, c = x.shape[:2]
    oc, wc, kh, kw = w.shape
    if wc != c:
        raise ValueError(f"conv2d: input has {c} channels but the weight expects {wc} "
                         f"(x {x.shape}, w {w.shape})")
    xs, oh, ow = _nhwc(x.data, kh, kw, stride, padding, "conv2d")   # (padded by _im2col)
    w2 = w.data.transpose(0, 2, 3, 1).reshape(oc, kh * kw * c)
    p = oh * ow                                              # output pixels per sample
    chunks = _chunks(n, p * w2.shape[1] * xs.dtype.itemsize)
    b = None if b is None else as_tensor(b, x)
    out_tiled = (TILES and kh == kw > 1 and xs.dtype == w2.dtype
                 and xs.dtype in (np.float32, np.float64))
    if out_tiled:
        (out, xp), kept = _tiled(xs, w2, b, kh, stride, padding, oh, ow), None
    else:
        out = np.empty((n * p, oc), dtype=np.result_type(xs.dtype, w2.dtype))
        for s, e in chunks:              # each chunk's columns built and used while in cache
            cols = _im2col(xs[s:e], kh, kw, stride, padding, oh, ow)
            np.matmul(cols, w2.T, out=out[s * p:e * p])
        kept = cols if len(chunks) == 1 else None   # else rebuilt in the backward by chunks
        if b is not None:
            out += b.data

    def backward(grad):
        from .columns import col2im_nhwc  # lazy: Numba loads with the first convolution
        g2 = grad.transpose(0, 2, 3, 1).reshape(n * p, oc)
        dw = np.zeros((oc, w2.shape[1]), dtype=grad.dtype)
        g4 = np.ascontiguousarray(g2).reshape(n, oh, ow, oc)
        tiled_dx = (x.requires_grad and out_tiled and grad.dtype in (np.float32, np.float64)
                    and stride == 1 and 2 * padding == kh - 1)
        dx = (None if not x.requires_grad else       # (the tiles write every number of it)
              (np.empty if tiled_dx else np.zeros)((n, *x.shape[2:], c), dtype=grad.dtype))
        if tiled_dx:
            dx = _input_grad_tiled(g4, w.data, padding, dx)
        tiled_dw = (out_tiled and grad.dtype == xs.dtype and c % _lanes(xs.dtype) == 0
                    and oc % 8 == 0)
        if tiled_dw:
            from .tiles import weight_grad_nhwc  # lazy: Numba loads on first use
            weight_grad_nhwc(xp, g4, kh, stride, dw)
        columns = not tiled_dw or (dx is not None and not tiled_dx)
        for s, e in chunks if columns else ():        # (what the tiles did not do)
            gc = g2[s * p:e * p]
            # the product in the orientation of the columns' storage (column-major for a
            # first layer): measured twice as fast; the input's gradient needs no columns
            if not tiled_dw:
                cols = kept if kept is not None else _im2col(xs[s:e], kh, kw, stride, padding,
                                                             oh, ow)
                dw += (cols.T @ gc).T if cols.flags.f_contiguous else gc.T @ cols
            if dx is not None and not tiled_dx:   # dcols = G·W2, folded back in one pass
                col2im_nhwc(gc @ w2, kh, kw, stride, padding, oh, ow, dx[s:e])
        dw = dw.reshape(oc, kh, kw, c).transpose(0, 3, 1, 2)
        db = np.ones(len(g2), dtype=g2.dtype) @ g2 if b is not None else None   # (a product:
        dx = None if dx is None else dx.transpose(0, 3, 1, 2)   # twice a sum's speed)
        return (dx, np.ascontiguousarray(dw)) + ((db,) if b is not None else ())

    parents = (x, w) if b is None else (x, w, b)
    return Tensor(out.reshape(n, oh, ow, oc).transpose(0, 3, 1, 2), parents=parents,
                  backward_fn=backward)


def max_pool_nhwc(xp, taps):
    """The maxima of the padded NHWC array ``xp`` over the windows ``taps`` (N, OH, OW, C)."""
    out = np.array(xp[:, taps[0][2], taps[0][3], :])
    for _, _, rows, cols in taps[1:]:
        np.maximum(out, xp[:, rows, cols, :], out=out)
    return out


def avg_pool_nhwc(xp, taps):
    """The means of the padded NHWC array ``xp`` over the windows ``taps`` (N, OH, OW, C)."""
    _, _, rows, cols = taps[0]
    out = np.array(xp[:, rows, cols, :])
    for _, _, rows, cols in taps[1:]:
        out += xp[:, rows, cols, :]
    out *= 1.0 / len(taps)
    return out


def pool(x, kernel_size, stride=None, padding=0, kind="max"):
    """Max or average pooling of the NCHW array ``x`` without a graph (inference)."""
    fill = -np.inf if kind == "max" else 0.0
    _, xp, stride, oh, ow = _pool_setup(x, kernel_size, stride, padding, fill, f"{kind}_pool2d")
    taps = list(_taps(kernel_size, kernel_size, stride, oh, ow))
    out = (max_pool_nhwc if kind == "max" else avg_pool_nhwc)(xp, taps)
    return out.transpose(0, 3, 1, 2)


def _pool_setup(x, kernel_size, stride, padding, fill, what):
    """Validate, then return the padded NHWC view that the taps of a pooling window slice."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"{what} takes x of shape (N, C, H, W), got {x.shape}")
    stride = kernel_size if stride is None else stride
    if padding > kernel_size // 2:
        raise ValueError(f"{what}: padding {padding} must be at most half the kernel size "
                         f"{kernel_size}")
    n, c, h, wd = x.shape
    oh = _out_size(h, kernel_size, stride, padding, what)
    ow = _out_size(wd, kernel_size, stride, padding, what)
    xp = x.data.transpose(0, 2, 3, 1)                        # NHWC: channels innermost
    if padding:
        xp = np.pad(xp, ((0, 0), (padding, padding), (padding, padding), (0, 0)),
                    constant_values=fill)
    return x, xp, stride, oh, ow


def _nchw_grad(dxp, padding, shape):
    """The NCHW view of a padded NHWC gradient, cropped to the unpadded input."""
    h, w = shape[2], shape[3]
    return dxp[:, padding:padding + h, padding:padding + w, :].transpose(0, 3, 1, 2)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling over (kernel_size x kernel_size) windows; stride defaults to kernel_size.

    The gradient goes to the first maximum of each window in row-major order, as in PyTorch.
    The forward keeps only the maxima (one in-place ``maximum`` per tap); the backward
    (``kernels.max_pool_grad``) finds the winners again by comparing each window's taps with
    its maximum, in one pass.
    """
    x, xp, stride, oh, ow = _pool_setup(x, kernel_size, stride, padding, -np.inf, "max_pool2d")
    taps = list(_taps(kernel_size, kernel_size, stride, oh, ow))
    out = max_pool_nhwc(xp, taps)

    def backward(grad):
        from . import kernels  # lazy: Numba loads with the first max pooling's backward
        dxp = np.zeros_like(xp, dtype=grad.dtype)           # stored as the input is
        arrays = (xp, out, grad.transpose(0, 2, 3, 1), dxp)
        if xp.strides[0] < xp.strides[3]:     # samples innermost (a sparse conv's output):
            arrays = tuple(a.transpose(3, 1, 2, 0) for a in arrays)   # loop over them inside
        xs, maxima, g, dx = arrays
        # the gradient may arrive laid out unlike the input (from a sparse convolution, or a
        # Linear through Flatten): one copy into the input's layout keeps the loops contiguous
        kernels.max_pool_grad(xs, maxima, np.ascontiguousarray(g), kernel_size, stride, dx)
        return (_nchw_grad(dxp, padding, x.shape),)

    return Tensor(out.transpose(0, 3, 1, 2), parents=(x,), backward_fn=backward)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling; padded zeros count in the average (PyTorch's count_include_pad=True)."""
    x, xp, stride, oh, ow = _pool_setup(x, kernel_size, stride, padding, 0.0, "avg_pool2d")
    taps = list(_taps(kernel_size, kernel_size, stride, oh, ow))
    out = avg_pool_nhwc(xp, taps)

    def backward(grad):
        share = grad.transpose(0, 2, 3, 1) * (1.0 / (kernel_size * kernel_size))
        dxp = np.zeros(xp.shape, dtype=grad.dtype)             # each input gets 1/k² of each
        for _, _, rows, cols in taps:                          # window it belongs to
            dxp[:, rows, cols, :] += share
        return (_nchw_grad(dxp, padding, x.shape),)

    return Tensor(out.transpose(0, 3, 1, 2), parents=(x,), backward_fn=backward)


