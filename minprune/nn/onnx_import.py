"""A network from an ONNX file: the operators minprune can represent, rebuilt as its layers.

Supported: Gemm, MatMul (+ Add of a bias), Conv (grouped too), Relu, Tanh, Sigmoid, MaxPool,
AveragePool, GlobalAveragePool (+ Flatten), BatchNormalization, Flatten, Reshape to two
dimensions, Mul and Add of per-channel constants (a folded normalisation: imported as a
BatchNorm), Identity and Dropout (dropped), and an Add of two branches that start from the
same tensor (a residual block: ``nn.Residual``). Anything else is refused in one line naming
the node and its operator. The walk follows the tensors from the graph's input: a tensor read
by two nodes opens a residual block, whose branches run until the Add that joins them.
"""
from __future__ import annotations

import os

import numpy as np

from . import layers as L
from .blocks import Residual
from .module import Sequential

OPSETS = (9, 21)


class _Reader:
    def __init__(self, graph, numpy_helper, path):
        self.path = path
        # copies: the arrays become trainable weights (to_array may hand back read-only views)
        self.constants = {t.name: np.array(numpy_helper.to_array(t)) for t in graph.initializer}
        for node in graph.node:                          # Constant nodes are constants too
            if node.op_type == "Constant":
                self.constants[node.output[0]] = np.array(
                    numpy_helper.to_array(node.attribute[0].t))
        self.nodes = [n for n in graph.node if n.op_type != "Constant"]
        self.output = graph.output[0].name
        self.consumers = {}
        for node in self.nodes:
            for name in node.input:
                if name and name not in self.constants:
                    self.consumers.setdefault(name, []).append(node)

    def refuse(self, node, why):
        raise ValueError(f"{self.path}: node {node.name or node.output[0]!r} ({node.op_type}): "
                         f"{why}")

    def attributes(self, node):
        from onnx import helper  # lazy: the onnx package is an extra
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def is_join(self, node):
        return node.op_type == "Add" and all(i not in self.constants for i in node.input)

    def chain(self, tensor, rank):
        """Layers from ``tensor`` until the graph's output or an Add joining two branches:
        (layers, the last tensor, its rank, the joining Add or None)."""
        layers = []
        while tensor != self.output:
            users = self.consumers.get(tensor, [])
            if len(users) == 1 and self.is_join(users[0]):
                return layers, tensor, rank, users[0]
            if len(users) == 2:
                block, tensor = self.residual(tensor, users, rank)
                layers.append(block)
                continue
            if len(users) != 1:
                raise ValueError(f"{self.path}: tensor {tensor!r} is read by {len(users)} nodes;"
                                 f" minprune represents a chain with residual blocks (a tensor "
                                 f"read by at most two nodes)")
            node = users[0]
            made, rank, tensor = self.layer(node, layers, rank)
            layers.extend(made)
        return layers, tensor, rank, None

    def residual(self, tensor, users, rank):
        joins = [u for u in users if self.is_join(u)]
        branches = []
        for user in users:
            if self.is_join(user):
                continue
            made, rank_out, out = self.layer(user, [], rank)
            rest, end, rank_out, join = self.chain(out, rank_out)
            if join is None:
                raise ValueError(f"{self.path}: the branches from {tensor!r} never join in an "
                                 f"Add; minprune represents residual blocks only")
            branches.append((made + rest, end, join))
        if joins:                                          # the identity shortcut
            (body, end, join), = branches
            if join is not joins[0] or set(join.input) != {tensor, end}:
                raise ValueError(f"{self.path}: the Add after {tensor!r} does not join its "
                                 f"branches")
            return Residual(Sequential(*body)), join.output[0]
        (a, end_a, join_a), (b, end_b, join_b) = branches
        if join_a is not join_b:
            raise ValueError(f"{self.path}: the branches from {tensor!r} end in different Adds")
        body, shortcut = (a, b) if len(a) >= len(b) else (b, a)
        return Residual(Sequential(*body), Sequential(*shortcut)), join_a.output[0]

    def layer(self, node, before, rank):
        """The layers ``node`` becomes (given the ``before`` layers of its chain, which a bias
        Add or a Flatten after a global pool completes), the rank of its output, the output."""
        op, out = node.op_type, node.output[0]
        a = self.attributes(node)
        const = [self.constants.get(i) for i in node.input]
        if op in ("Identity", "Dropout"):
            return [], rank, out
        if op in ("Relu", "Tanh", "Sigmoid"):
            return [{"Relu": L.ReLU, "Tanh": L.Tanh, "Sigmoid": L.Sigmoid}[op]()], rank, out
        if op == "Gemm":
            if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                self.refuse(node, "only Gemm with transA=0, alpha=1, beta=1 is a Linear layer")
            w = const[1] if a.get("transB", 0) else const[1].T
            return [self._linear(w, const[2] if len(const) > 2 else None)], 2, out
        if op == "MatMul":
            if const[1] is None:
                self.refuse(node, "a product of two computed tensors is not a layer")
            return [self._linear(const[1].T, None)], 2, out
        if op == "Add" and before and isinstance(before[-1], L.Linear) \
                and before[-1].bias is None and const[1] is not None and const[1].ndim == 1:
            linear = before.pop()
            before.append(self._linear(linear.weight.data, const[1]))
            return [], rank, out
        if op == "Conv":
            return [self._conv(node, a, const)], 4, out
        if op in ("MaxPool", "AveragePool"):
            k, stride, pad = self._square(node, a, a.get("kernel_shape"))
            if a.get("ceil_mode", 0):
                self.refuse(node, "ceil_mode=1 is not supported")
            if op == "AveragePool" and pad and not a.get("count_include_pad", 0):
                self.refuse(node, "padded average pooling must count the padding "
                                  "(count_include_pad=1), as minprune's does")
            cls = L.MaxPool2d if op == "MaxPool" else L.AvgPool2d
            return [cls(k, stride, pad)], 4, out
        if op == "GlobalAveragePool":
            users = self.consumers.get(out, [])
            if len(users) == 1 and users[0].op_type in ("Flatten", "Reshape"):
                return [L.GlobalAvgPool2d()], 2, users[0].output[0]
            self.refuse(node, "a global pool must be followed by Flatten")
        if op == "Flatten":
            if a.get("axis", 1) != 1:
                self.refuse(node, "only Flatten(axis=1) is supported")
            return [L.Flatten()], 2, out
        if op == "Reshape":
            shape = const[1]
            if shape is None or len(shape) != 2 or shape[1] != -1 or shape[0] not in (0, -1) \
                    and shape[0] < 1:
                self.refuse(node, "only a Reshape to (batch, -1) is supported")
            return [L.Flatten()], 2, out
        if op == "BatchNormalization":
            scale, bias, mean, var = const[1:5]
            bn = (L.BatchNorm2d if rank == 4 else L.BatchNorm1d)(
                len(scale), eps=float(a.get("epsilon", 1e-5)), dtype=scale.dtype)
            bn.weight.data, bn.bias.data = scale.copy(), bias.copy()
            bn.running_mean, bn.running_var = mean.copy(), var.copy()
            return [bn], rank, out
        if op == "Mul" and const[1] is not None:
            return self._affine(node, const[1], rank)
        if op == "Add" and const[1] is not None and before and getattr(before[-1], "_scaled",
                                                                       False):
            bn = before[-1]
            bn.bias.data = np.asarray(const[1]).reshape(-1).astype(bn.bias.dtype)
            bn._scaled = False
            return [], rank, out
        self.refuse(node, "minprune has no layer for this operator (supported: Gemm, MatMul, "
                          "Conv, Relu, Tanh, Sigmoid, MaxPool, AveragePool, GlobalAveragePool, "
                          "BatchNormalization, Flatten, Reshape, per-channel Mul/Add, and the "
                          "Add of a residual block)")

    def _linear(self, w, b):
        w = np.asarray(w)
        layer = L.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
        layer.weight.data = np.ascontiguousarray(w)
        if b is not None:
            layer.bias.data = np.asarray(b, dtype=w.dtype).copy()
        return layer

    def _square(self, node, a, kernel):
        stride = list(a.get("strides", [1, 1]))
        pads = list(a.get("pads", [0, 0, 0, 0]))
        if kernel is None or len(set(kernel)) != 1 or len(set(stride)) != 1 \
                or len(set(pads)) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])) \
                or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            self.refuse(node, "only square kernels with equal strides, equal explicit padding "
                              "and no dilation are supported")
        return int(kernel[0]), int(stride[0]), int(pads[0])

    def _conv(self, node, a, const):
        w = const[1]
        if w is None:
            self.refuse(node, "the weight must be a constant")
        k, stride, pad = self._square(node, a, a.get("kernel_shape", w.shape[2:]))
        groups = int(a.get("group", 1))
        conv = L.Conv2d(w.shape[1] * groups, w.shape[0], k, stride, pad,
                        bias=len(const) > 2 and const[2] is not None, groups=groups,
                        dtype=w.dtype)
        conv.weight.data = np.ascontiguousarray(w)
        if conv.bias is not None:
            conv.bias.data = const[2].copy()
        return conv

    def _affine(self, node, scale, rank):
        scale = np.asarray(scale)
        if np.squeeze(scale).ndim > 1 or (rank == 4 and scale.ndim == 1 and scale.size > 1):
            self.refuse(node, "only a per-channel scale is supported")
        scale = scale.reshape(-1)
        eps = 1e-5
        bn = (L.BatchNorm2d if rank == 4 else L.BatchNorm1d)(len(scale), eps=eps,
                                                             dtype=scale.dtype)
        bn.weight.data = scale.copy()
        bn.running_var = np.full(len(scale), 1 - eps, dtype=scale.dtype)   # (x - 0) / 1
        bn._scaled = True
        return [bn], rank, node.output[0]


def from_onnx(path):
    """The minprune ``Sequential`` an ONNX file describes (see the module note), in
    evaluation mode. Raises ValueError, naming the file and the node, for anything it cannot
    represent or read."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ImportError('ONNX import needs the onnx package: pip install -e ".[onnx]"') \
            from None
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        proto = onnx.load(path)
    except Exception as exc:             # onnx raises its own kinds for a damaged file
        raise ValueError(f"{path} is not a readable ONNX model (corrupt or truncated?): "
                         f"{_first_line(exc)}") from None
    try:
        onnx.checker.check_model(proto, full_check=True)      # shapes chain too
    except Exception as exc:
        raise ValueError(f"{path} is not a valid ONNX model: {_first_line(exc)}") from None
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or not OPSETS[0] <= opset <= OPSETS[1]:
        raise ValueError(f"{path}: opset {opset} is outside the supported {OPSETS[0]}-"
                         f"{OPSETS[1]}")
    reader = _Reader(proto.graph, numpy_helper, path)
    inputs = [i for i in proto.graph.input if i.name not in reader.constants]
    if len(inputs) != 1:
        raise ValueError(f"{path}: the graph has {len(inputs)} inputs; minprune networks "
                         f"take one")
    dims = inputs[0].type.tensor_type.shape.dim
    layers, _, _, join = reader.chain(inputs[0].name, len(dims))
    if join is not None:
        raise ValueError(f"{path}: an Add joins a branch that does not start in the graph")
    model = Sequential(*layers)
    for m in model.modules():
        vars(m).pop("_scaled", None)
    return model.eval()


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
