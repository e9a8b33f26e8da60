"""ONNX export: a model's lowered ops (``infer.lower``) written as an ONNX graph with the
``onnx`` package alone (the ``[onnx]`` extra; no torch).

What the file holds is what ``infer.compile`` runs: masks baked into the weights (pruned
entries are zeros; N:M and block patterns stay zeros in dense tensors), every BatchNorm folded
into the Linear or Conv2d before it (a BatchNorm with nothing to fold into becomes Mul and
Add), activations as their own nodes, Dropout gone (evaluation mode), a residual block as its
two branches and an Add. Compact a structured model first (``prune.compact``, or
``--compact``) and the file is the smaller network.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor, no_grad
from ..nn import layers as L
from ..nn.module import eval_mode
from ..prune import patterns
from ..sparse.layers import SparseConv2d, SparseLinear
from .lower import (Activation, Flatten, GlobalPool, Pool, Residual, Scale, Weighted, lower)

OPSETS = (13, 21)                  # the opsets written and tested (inclusive)
DEFAULT_OPSET = 17


class _Graph:
    """The nodes and initializers being written, with fresh tensor names."""

    def __init__(self, helper, numpy_helper, dtype):
        self.helper, self.numpy_helper, self.dtype = helper, numpy_helper, dtype
        self.nodes, self.initializers, self.count = [], [], 0

    def name(self, stem):
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem, array):
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(
            np.ascontiguousarray(array, dtype=self.dtype), name))
        return name

    def node(self, op, inputs, stem, **attributes):
        out = self.name(stem)
        self.nodes.append(self.helper.make_node(op, inputs, [out], **attributes))
        return out


def _activation(graph, x, name):
    if name is None:
        return x
    return graph.node({"ReLU": "Relu", "Tanh": "Tanh", "Sigmoid": "Sigmoid"}[name], [x],
                      name.lower())


def _weighted(graph, x, op):
    weight = op.dense
    if op.conv is None:
        inputs = [x, graph.constant("weight", weight)]
        if op.bias is not None:
            inputs.append(graph.constant("bias", op.bias))
        y = graph.node("Gemm", inputs, "gemm", transB=1)
    else:
        k, stride, padding = op.conv
        channels = weight.shape[1] // (k * k)
        w4 = patterns.as_weight(weight, (weight.shape[0], channels, k, k))
        inputs = [x, graph.constant("weight", w4)]
        if op.bias is not None:
            inputs.append(graph.constant("bias", op.bias))
        y = graph.node("Conv", inputs, "conv", kernel_shape=[k, k], strides=[stride, stride],
                       pads=[padding] * 4, group=op.groups)
    return _activation(graph, y, op.activation)


def _scale(graph, x, op, ndim):
    shape = (-1,) + (1,) * (ndim - 2)
    y = graph.node("Mul", [x, graph.constant("scale", op.scale.reshape(shape))], "mul")
    y = graph.node("Add", [y, graph.constant("shift", op.shift.reshape(shape))], "add")
    return _activation(graph, y, op.activation)


def _ops(graph, x, ops, ndim):
    """Write ``ops`` after tensor ``x`` (of ``ndim`` dimensions); returns (output, ndim)."""
    for op in ops:
        if isinstance(op, Weighted):
            x = _weighted(graph, x, op)
        elif isinstance(op, Scale):
            x = _scale(graph, x, op, ndim)
        elif isinstance(op, Activation):
            x = _activation(graph, x, op.name)
        elif isinstance(op, Pool):
            kind = "MaxPool" if op.kind == "max" else "AveragePool"
            extra = {} if op.kind == "max" else {"count_include_pad": 1}
            stride = op.stride or op.kernel_size
            x = graph.node(kind, [x], op.kind + "pool", kernel_shape=[op.kernel_size] * 2,
                           strides=[stride] * 2, pads=[op.padding] * 4, **extra)
        elif isinstance(op, GlobalPool):
            x = graph.node("Flatten", [graph.node("GlobalAveragePool", [x], "gap")],
                           "flatten", axis=1)
            ndim = 2
        elif isinstance(op, Flatten):
            x, ndim = graph.node("Flatten", [x], "flatten", axis=1), 2
        elif isinstance(op, Residual):
            body, _ = _ops(graph, x, op.body, ndim)
            skip = x if op.shortcut is None else _ops(graph, x, op.shortcut, ndim)[0]
            x = _activation(graph, graph.node("Add", [body, skip], "add"), op.activation)
        else:                                             # every op of infer.lower is above
            raise TypeError(f"ONNX export: no node for {type(op).__name__}")
    return x, ndim


def input_shape(model):
    """The per-sample input shape a model takes: images of its first convolution's channels
    at 28x28; for a network of Linear layers its first layer's features, as 1x28x28 images
    when a Flatten leads to 784 of them (LeNet-300-100)."""
    flatten = False
    for m in model.modules()[1:]:
        if isinstance(m, (L.Conv2d, SparseConv2d)):
            return (m.in_channels, 28, 28)
        if isinstance(m, L.Flatten):
            flatten = True
        if isinstance(m, (L.Linear, SparseLinear)):
            return (1, 28, 28) if flatten and m.in_features == 784 else (m.in_features,)
    return (1, 28, 28)


def to_model(model, opset=DEFAULT_OPSET, sample_shape=None):
    """The ``onnx.ModelProto`` of ``model`` in evaluation mode (see the module note); its one
    input "x" is (batch, *sample_shape) with a free batch size (``sample_shape`` by default
    from ``input_shape``), its output "y"."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install -e ".[onnx]"') \
            from None
    if isinstance(opset, bool) or not isinstance(opset, int) or \
            not OPSETS[0] <= opset <= OPSETS[1]:
        raise ValueError(f"opset must be an integer from {OPSETS[0]} to {OPSETS[1]}, got "
                         f"{opset!r}")
    ops = lower(model)
    weighted = [op for op in ops if isinstance(op, Weighted)]
    dtype = np.dtype(weighted[0].dtype if weighted else np.float32)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"ONNX export writes float32 or float64 models, got {dtype}")
    elem = TensorProto.FLOAT if dtype == np.float32 else TensorProto.DOUBLE
    shape = tuple(sample_shape or input_shape(model))
    try:                                     # one sample through the model: shapes chain
        with eval_mode(model), no_grad():
            out_shape = model(Tensor(np.zeros((1, *shape), dtype=dtype))).shape[1:]
    except ValueError as exc:
        raise ValueError(f"the model's layers do not chain for inputs of shape {shape}: "
                         f"{str(exc).splitlines()[0]}") from None
    graph = _Graph(helper, numpy_helper, dtype)
    out, _ = _ops(graph, "x", ops, 1 + len(shape))
    graph.nodes.append(helper.make_node("Identity", [out], ["y"]))
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "minprune", [helper.make_tensor_value_info(
            "x", elem, ["batch", *shape])], [helper.make_tensor_value_info(
            "y", elem, ["batch", *out_shape])],
            graph.initializers),
        opset_imports=[helper.make_opsetid("", opset)], producer_name="minprune")
    onnx.checker.check_model(proto, full_check=True)
    return proto
