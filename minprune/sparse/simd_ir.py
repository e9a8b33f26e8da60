"""The LLVM IR the SIMD intrinsics of ``simd`` are written with: vector types, the window of
inputs, the pick of a register's lanes (AVX-512's two-register permute), phi nodes.

Only llvmlite's public IR builder is used; where the target lacks AVX-512 the intrinsics are
not built at all (``simd.resolve`` runs the plain Numba loops instead)."""
from __future__ import annotations

from llvmlite import ir


class Emitter:
    """What an intrinsic's code generation needs, for the dtype of its first argument (an
    array of float32 or float64): ``lanes`` sums in one ``register``-byte vector ``vec``,
    indices ``ivec`` of the width the permute takes, byte vectors ``bytes``."""

    ir = ir

    def __init__(self, context, builder, signature, args, register):
        self.context, self.builder, self.signature, self.args = context, builder, signature, args
        self.scalar = context.get_value_type(signature.args[0].dtype)
        double = isinstance(self.scalar, ir.DoubleType)
        n = self.lanes = register // (8 if double else 4)
        self.vec = ir.VectorType(self.scalar, n)
        self.ivec = ir.VectorType(ir.IntType(64 if double else 32), n)
        self.bytes = ir.VectorType(ir.IntType(8), n)
        self.zero = ir.Constant(self.vec, [0.0] * n)
        suffix = f"v{n}{'f64' if double else 'f32'}"
        self._fma = self.declare(f"llvm.fma.{suffix}", self.vec, [self.vec] * 3)
        self._permute = self.declare(
            f"llvm.x86.avx512.vpermi2var.{'pd' if double else 'ps'}.{8 * register}",
            self.vec, [self.vec, self.ivec, self.vec])

    def arrays(self, *positions):
        """The array structures of the arguments at ``positions`` (``.data``, ``.shape``)."""
        return [self.context.make_array(self.signature.args[i])(self.context, self.builder,
                                                                self.args[i])
                for i in positions]

    def declare(self, name, ret, arg_types):
        module = self.builder.module
        found = module.globals.get(name)
        return found or ir.Function(module, ir.FunctionType(ret, arg_types), name=name)

    def const(self, v):
        return ir.Constant(ir.IntType(64), v)

    def splat(self, typ, v):
        return ir.Constant(typ, [v] * typ.count)

    def load_vector(self, pointer, offset, typ):
        """The ``typ`` vector at element ``offset`` of ``pointer``, unaligned."""
        b = self.builder
        return b.load(b.bitcast(b.gep(pointer, [offset]), typ.as_pointer()), align=1)

    def load_window(self, x, base):
        """The two registers of x from element ``base``."""
        return [self.load_vector(x.data, self.builder.add(base, self.const(h * self.lanes)),
                                 self.vec) for h in range(2)]

    def pick(self, window, index):
        """Lane l of the result: element index[l] of the window."""
        return self.builder.call(self._permute, [window[0], index, window[1]])

    def fma(self, a, b, c):
        return self.builder.call(self._fma, [a, b, c])

    def blocks(self, *names):
        return {name: self.builder.append_basic_block(name) for name in names}

    def phis(self, incoming, block):
        """One phi node per value, each with that value coming from ``block``."""
        nodes = [self.builder.phi(value.type) for value in incoming]
        for node, value in zip(nodes, incoming):
            node.add_incoming(value, block)
        return nodes

    def store_sum(self, sums, acc):
        """Store the sum of the vectors ``sums`` into the array ``acc``, added pairwise
        (((s0 + s1) + (s2 + s3)) for four)."""
        b = self.builder
        while len(sums) > 1:
            sums = [b.fadd(sums[i], sums[i + 1]) if i + 1 < len(sums) else sums[i]
                    for i in range(0, len(sums), 2)]
        b.store(sums[0], b.bitcast(acc.data, self.vec.as_pointer()), align=1)
