"""SIMD registers as Numba values: a kernel holds its sums in registers, not in memory.

Numba vectorises loops, but a sum it keeps across the iterations of an outer loop lives in
memory: a direct convolution written as loops loads and stores its sums once per tap. Here a
64-byte register - 16 float32 or 8 float64 numbers, ``lanes(dtype)`` - is a Numba value of
its own type (``Vec``), held in an LLVM vector: a kernel names its sums as variables, and LLVM
keeps them in registers for as long as they live. The operations, each one instruction or
two:

- ``width(a)``: numbers per register of ``a``'s dtype, a constant the compiler sees;
- ``zero(a)``: a register of zeros of ``a``'s dtype;
- ``load(a, i, m)``: a[i:i + m] in the first m lanes (all lanes from m = lanes on), zeros in
  the rest; ``store(a, i, v, m)``: the first m lanes of v into a[i:i + m];
- ``get(a, i)``: the number a[i], read as it is (no wrap-round of negative indices: Numba's
  check for one, on every read, costs a kernel's inner loop more than the read);
- ``fma(x, s, acc)``: acc + x·s for a number s, as one fused multiply-add per lane;
- ``add(x, y)``, ``sub(x, y)``, ``maximum(x, y)``: x + y, x - y and the larger of the two,
  lane by lane;
- ``scatter(a, i, step, v, m)``: the first m lanes of v into a[i], a[i + step], ... (a
  register of output channels into the channel-major layout, one number per channel);
- ``transpose(a, i, p, b, j, q)``: the square block of ``lanes`` rows of ``lanes`` numbers
  at a[i], rows p apart, transposed into b[j], rows q apart - in registers, log2(lanes)
  rounds of interleaving pairs of them (the classic perfect-shuffle transpose);
- ``bias_act(v, b, relu)``: v + b (a number, or a register lane by lane), then ReLU if
  ``relu``.

The loads and stores take a lane count so that a kernel's last register of a row (a batch of
40 is two and a half registers of float32) needs no code of its own. Only llvmlite's IR
builder and LLVM's target-independent intrinsics (``llvm.fma``, ``llvm.masked.load``) are
used: LLVM lowers them to AVX-512 where the machine has it and to two AVX registers (or
whatever it has) elsewhere. Under ``NUMBA_DISABLE_JIT=1`` the same names are NumPy functions
on arrays of ``lanes`` numbers, so the kernels still run, as Python.
"""
from __future__ import annotations

import numpy as np
from numba import config

REGISTER = 64                                 # bytes per register


def lanes(dtype):
    """Numbers per register."""
    return REGISTER // np.dtype(dtype).itemsize


def _numpy_ops():
    def width(a):
        return lanes(a.dtype)

    def zero(a):
        return np.zeros(lanes(a.dtype), a.dtype)

    def load(a, i, m):
        v = zero(a)
        m = max(0, min(m, len(v), len(a) - i))
        v[:m] = a[i:i + m]
        return v

    def store(a, i, v, m):
        m = max(0, min(m, len(v)))
        a[i:i + m] = v[:m]

    def scatter(a, i, step, v, m):
        m = max(0, min(m, len(v)))
        a[i:i + m * step:step] = v[:m]

    def get(a, i):
        return a[i]

    def transpose(a, i, p, b, j, q):
        n = lanes(a.dtype)
        rows = np.stack([a[i + r * p:i + r * p + n] for r in range(n)])
        for r in range(n):
            b[j + r * q:j + r * q + n] = rows[:, r]

    def fma(x, s, acc):
        return acc + x * s

    def add(x, y):
        return x + y

    def sub(x, y):
        return x - y

    def maximum(x, y):
        return np.where(x > y, x, y)

    def bias_act(v, b, relu):
        y = v + b
        return np.maximum(y, 0) if relu else y
    return width, zero, load, store, scatter, get, fma, add, sub, maximum, transpose, bias_act


def _intrinsics():
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic, models, register_model

    class Vec(types.Type):
        """One register of ``dtype`` numbers (an LLVM vector)."""

        def __init__(self, dtype):
            self.dtype, self.count = dtype, REGISTER // (dtype.bitwidth // 8)
            super().__init__(name=f"Vec({dtype} x {self.count})")

    @register_model(Vec)
    class VecModel(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            scalar = dmm.lookup(fe_type.dtype).get_value_type()
            super().__init__(dmm, fe_type, ir.VectorType(scalar, fe_type.count))

    i32 = ir.IntType(32)

    def declare(builder, name, ret, args):
        module = builder.module
        return module.globals.get(name) or ir.Function(module, ir.FunctionType(ret, args),
                                                       name=name)

    def suffix(vtype):
        return f"v{vtype.count}{'f32' if isinstance(vtype.element, ir.FloatType) else 'f64'}"

    def splat(builder, value, vtype):
        undef = ir.Constant(vtype, ir.Undefined)
        one = builder.insert_element(undef, value, ir.Constant(i32, 0))
        return builder.shuffle_vector(one, undef, ir.Constant(ir.VectorType(i32, vtype.count),
                                                              [0] * vtype.count))

    def mask(builder, m, count):
        """Lanes below m: the bits (1 << m) - 1 of an integer (m clamped to 0 .. count) as
        a vector of booleans - one move into a mask register, where comparing a vector of
        lane numbers takes four instructions."""
        i64 = ir.IntType(64)
        zero, top = ir.Constant(i64, 0), ir.Constant(i64, count)
        m = builder.select(builder.icmp_signed("<", m, zero), zero, m)
        m = builder.select(builder.icmp_signed(">", m, top), top, m)
        bits = builder.sub(builder.shl(ir.Constant(i64, 1), m), ir.Constant(i64, 1))
        return builder.bitcast(builder.trunc(bits, ir.IntType(count)),
                               ir.VectorType(ir.IntType(1), count))

    def address(context, builder, sig, args, vtype):
        """(pointer to element args[1] of the array args[0] as a vector, lane count args[-1])."""
        a = context.make_array(sig.args[0])(context, builder, args[0])
        i = context.cast(builder, args[1], sig.args[1], types.intp)
        m = context.cast(builder, args[-1], sig.args[-1], types.int64)
        return builder.bitcast(builder.gep(a.data, [i]), vtype.as_pointer()), m

    @intrinsic
    def width(typingctx, a):
        count = Vec(a.dtype).count

        def codegen(context, builder, sig, args):
            return context.get_constant(types.intp, count)
        return types.intp(a), codegen

    @intrinsic
    def zero(typingctx, a):
        vt = Vec(a.dtype)

        def codegen(context, builder, sig, args):
            return ir.Constant(context.get_value_type(vt), [0.0] * vt.count)
        return vt(a), codegen

    @intrinsic
    def load(typingctx, a, i, m):
        vt = Vec(a.dtype)

        def codegen(context, builder, sig, args):
            vtype = context.get_value_type(vt)
            ptr, count = address(context, builder, sig, args, vtype)
            keep = mask(builder, count, vt.count)
            fn = declare(builder, f"llvm.masked.load.{suffix(vtype)}.p0", vtype,
                         [vtype.as_pointer(), i32, keep.type, vtype])
            return builder.call(fn, [ptr, ir.Constant(i32, 4), keep,
                                     ir.Constant(vtype, [0.0] * vt.count)])
        return vt(a, i, m), codegen

    @intrinsic
    def store(typingctx, a, i, v, m):
        def codegen(context, builder, sig, args):
            vtype = args[2].type
            ptr, count = address(context, builder, sig, args, vtype)
            keep = mask(builder, count, vtype.count)
            fn = declare(builder, f"llvm.masked.store.{suffix(vtype)}.p0", ir.VoidType(),
                         [vtype, vtype.as_pointer(), i32, keep.type])
            builder.call(fn, [args[2], ptr, ir.Constant(i32, 4), keep])
            return context.get_dummy_value()
        return types.none(a, i, v, m), codegen

    @intrinsic
    def scatter(typingctx, a, i, step, v, m):
        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            at = context.cast(builder, args[1], sig.args[1], types.intp)
            step = context.cast(builder, args[2], sig.args[2], types.intp)
            m = context.cast(builder, args[4], sig.args[4], types.intp)
            for lane in range(sig.args[3].count):
                with builder.if_then(builder.icmp_signed(">", m, context.get_constant(
                        types.intp, lane))):
                    where = builder.add(at, builder.mul(step, context.get_constant(types.intp,
                                                                                  lane)))
                    builder.store(builder.extract_element(args[3], ir.Constant(i32, lane)),
                                  builder.gep(array.data, [where]))
            return context.get_dummy_value()
        return types.none(a, i, step, v, m), codegen

    @intrinsic
    def get(typingctx, a, i):
        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            at = context.cast(builder, args[1], sig.args[1], types.intp)
            return builder.load(builder.gep(array.data, [at]))
        return a.dtype(a, i), codegen

    @intrinsic
    def fma(typingctx, x, s, acc):
        def codegen(context, builder, sig, args):
            vtype = args[0].type
            s = splat(builder, context.cast(builder, args[1], sig.args[1], sig.args[0].dtype),
                      vtype)
            fn = declare(builder, f"llvm.fma.{suffix(vtype)}", vtype, [vtype] * 3)
            return builder.call(fn, [args[0], s, args[2]])
        return x(x, s, acc), codegen

    @intrinsic
    def add(typingctx, x, y):
        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], args[1])
        return x(x, y), codegen

    @intrinsic
    def sub(typingctx, x, y):
        def codegen(context, builder, sig, args):
            return builder.fsub(args[0], args[1])
        return x(x, y), codegen

    @intrinsic
    def maximum(typingctx, x, y):
        def codegen(context, builder, sig, args):
            return builder.select(builder.fcmp_ordered(">", args[0], args[1]), args[0], args[1])
        return x(x, y), codegen

    @intrinsic
    def transpose(typingctx, a, i, p, b, j, q):
        count = Vec(a.dtype).count
        half = count // 2
        low = ir.Constant(ir.VectorType(i32, count),
                          [k // 2 + (count if k % 2 else 0) for k in range(count)])
        high = ir.Constant(ir.VectorType(i32, count),
                           [half + k // 2 + (count if k % 2 else 0) for k in range(count)])

        def codegen(context, builder, sig, args):
            vtype = context.get_value_type(Vec(sig.args[0].dtype))
            src, dst = (context.make_array(sig.args[k])(context, builder, args[k])
                        for k in (0, 3))
            i, p, j, q = (context.cast(builder, args[k], sig.args[k], types.intp)
                          for k in (1, 2, 4, 5))

            def row(array, start, step, r):
                at = builder.add(start, builder.mul(step, context.get_constant(types.intp, r)))
                return builder.bitcast(builder.gep(array.data, [at]), vtype.as_pointer())
            rows = [builder.load(row(src, i, p, r), align=4) for r in range(count)]
            for _ in range(count.bit_length() - 1):   # log2(count) rounds
                rows = [builder.shuffle_vector(rows[r // 2], rows[r // 2 + half],
                                               high if r % 2 else low) for r in range(count)]
            for r in range(count):
                builder.store(rows[r], row(dst, j, q, r), align=4)
            return context.get_dummy_value()
        return types.none(a, i, p, b, j, q), codegen

    @intrinsic
    def bias_act(typingctx, v, b, relu):
        def codegen(context, builder, sig, args):
            vtype = args[0].type
            b = args[1] if isinstance(sig.args[1], Vec) else splat(builder, context.cast(
                builder, args[1], sig.args[1], sig.args[0].dtype), vtype)
            y = builder.fadd(args[0], b)
            zeros = ir.Constant(vtype, [0.0] * vtype.count)
            rectified = builder.select(builder.fcmp_ordered(">", y, zeros), y, zeros)
            return builder.select(args[2], rectified, y)
        return v(v, b, relu), codegen
    return width, zero, load, store, scatter, get, fma, add, sub, maximum, transpose, bias_act


width, zero, load, store, scatter, get, fma, add, sub, maximum, transpose, bias_act = (
    _numpy_ops() if config.DISABLE_JIT else _intrinsics())
