"""One SIMD primitive for the sliced kernel, written in LLVM IR: ``slice_fma``.

``slice_fma(values, offsets, x, windows, step_ptr, e0, e1, acc)`` runs the entries e in
[e0, e1) of one slice (``sparse.sliced``): entry e reads the *window* of ``x`` that starts at
``windows[e]`` times twice the register width, and each of its steps k in
[step_ptr[e], step_ptr[e + 1]) does

    acc[l] += values[k, l] * x[window + offsets[k, l]]      for every lane l at once,

starting from zero (``acc``'s old contents are not read) and storing the sums into ``acc``, one
SIMD register of them (16 float32 or 8 float64: 64 bytes). Every offset is below twice that
width: a window fits in two registers. ``x`` must be *padded*, readable and zero up to the end
of its last window (``padded_length``), so that a window is two plain loads.

Numba cannot say "pick these lanes out of these two registers"; LLVM can, and that one
instruction (AVX-512's two-register permute, ``vpermi2ps``) replaces a gather from memory per
weight. On this project's machine (AMD Zen 4, one thread) a step of 16 weights costs about as
much as 16 multiply-adds of a dense loop, where the hardware gather was 9x slower and the
scalar CSR loop, one weight at a time, 4-5x. The sums stay in registers for the whole slice,
and the steps run four at a time on four sums, because an accumulation must otherwise wait
for the multiply-add before it (four cycles).

Where AVX-512 is missing (another x86, an ARM), the same IR uses LLVM's portable gather
instead of the permute: correct everywhere, fast where the hardware has it. Under
``NUMBA_DISABLE_JIT=1`` the plain-Python ``slice_fma_python`` runs instead; it is also the
executable specification the tests hold the compiled one to.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numba.core import config

REGISTER = 64                    # bytes of sums per slice
UNROLL = 4                       # steps per pass, each on its own sum (see the module note)


def lanes(dtype):
    """Sums per register: 64 bytes of ``dtype``."""
    return REGISTER // np.dtype(dtype).itemsize


def has_avx512():
    """Whether the machine code Numba writes may use AVX-512 (the target's features, which a
    user may set apart from the host's with NUMBA_CPU_NAME / NUMBA_CPU_FEATURES)."""
    if config.CPU_NAME:
        return "+avx512f" in (config.CPU_FEATURES or "")
    try:
        from llvmlite import binding
        return bool(binding.get_host_cpu_features().get("avx512f", False))
    except Exception:                               # no feature map on this platform
        return False


def padded_length(n, dtype):
    """The length ``x`` of ``n`` inputs is padded to (with zeros): whole windows."""
    width = 2 * lanes(dtype)
    return -(-n // width) * width


def slice_fma_python(values, offsets, x, windows, step_ptr, e0, e1, acc):
    """The same steps in NumPy."""
    width = 2 * values.shape[1]
    acc[:] = 0
    for e in range(e0, e1):
        window = x[windows[e] * width:(windows[e] + 1) * width]
        for k in range(step_ptr[e], step_ptr[e + 1]):
            acc += values[k] * window[offsets[k]]


def _slice_fma_intrinsic():
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    class VectorGEP(ir.instructions.Instruction):
        """``getelementptr`` with a vector of indices: a vector of addresses (llvmlite's
        builder only knows scalar indices)."""

        def __init__(self, parent, element, pointer, index, typ):
            super().__init__(parent, typ, "getelementptr", [pointer, index])
            self.element, self.pointer, self.index = element, pointer, index

        def descr(self, buf):
            buf.append(f"getelementptr inbounds {self.element}, {self.pointer.type} "
                       f"{self.pointer.get_reference()}, {self.index.type} "
                       f"{self.index.get_reference()}\n")

    @intrinsic
    def slice_fma(typingctx, values, offsets, x, windows, step_ptr, e0, e1, acc):
        sig = types.void(values, offsets, x, windows, step_ptr, e0, e1, acc)
        avx512 = has_avx512()

        def codegen(context, builder, signature, args):
            va, oa, xa, wa, pa, aa = (
                context.make_array(signature.args[i])(context, builder, args[i])
                for i in (0, 1, 2, 3, 4, 7))
            e0, e1 = args[5], args[6]
            scalar = context.get_value_type(signature.args[0].dtype)
            double = isinstance(scalar, ir.DoubleType)
            n = REGISTER // (8 if double else 4)
            i1, i8, i64 = ir.IntType(1), ir.IntType(8), ir.IntType(64)
            index = ir.IntType(64 if double else 32)
            vec, ivec = ir.VectorType(scalar, n), ir.VectorType(index, n)
            bvec, mvec = ir.VectorType(i8, n), ir.VectorType(i1, n)
            module = builder.module
            suffix = f"v{n}{'f64' if double else 'f32'}"

            def declare(name, ret, arg_types):
                found = module.globals.get(name)
                return found or ir.Function(module, ir.FunctionType(ret, arg_types), name=name)

            def const(v):
                return ir.Constant(i64, v)

            def vector_at(pointer, offset, typ):
                return builder.bitcast(builder.gep(pointer, [offset]), typ.as_pointer())

            fma = declare(f"llvm.fma.{suffix}", vec, [vec, vec, vec])
            zero = ir.Constant(vec, [0.0] * n)
            if avx512:
                permute = declare(f"llvm.x86.avx512.vpermi2var.{'pd' if double else 'ps'}."
                                  f"{8 * REGISTER}", vec, [vec, ivec, vec])
            else:
                gather = declare(f"llvm.masked.gather.{suffix}.v{n}p0", vec,
                                 [ir.VectorType(scalar.as_pointer(), n), ir.IntType(32),
                                  mvec, vec])

            def load_window(base):
                """The two registers of x from ``base``, or, for the gather, x[base]'s address."""
                if not avx512:
                    return builder.gep(xa.data, [base])
                return [builder.load(vector_at(xa.data, builder.add(base, const(h * n)), vec),
                                     align=1) for h in range(2)]

            def step(window, k, acc):
                offset = builder.mul(k, const(n))
                v = builder.load(vector_at(va.data, offset, vec), align=1)
                o = builder.zext(builder.load(vector_at(oa.data, offset, bvec), align=1), ivec)
                if avx512:
                    picked = builder.call(permute, [window[0], o, window[1]])
                else:
                    addresses = VectorGEP(builder.block, scalar, window, o,
                                          ir.VectorType(scalar.as_pointer(), n))
                    builder._insert(addresses)
                    picked = builder.call(gather, [addresses, ir.Constant(ir.IntType(32), 1),
                                                   ir.Constant(mvec, [1] * n), zero])
                return builder.call(fma, [v, picked, acc])

            def phis(incoming, block):
                nodes = [builder.phi(value.type) for value in incoming]
                for node, value in zip(nodes, incoming):
                    node.add_incoming(value, block)
                return nodes

            acc_pointer = builder.bitcast(aa.data, vec.as_pointer())
            blocks = {name: builder.append_basic_block(name) for name in (
                "entries", "entry", "fours", "four_steps", "ones", "one_step", "done")}
            start = builder.block
            builder.branch(blocks["entries"])

            builder.position_at_end(blocks["entries"])         # for e in [e0, e1)
            e, *sums = phis([e0, zero, zero, zero, zero], start)
            builder.cbranch(builder.icmp_signed("<", e, e1), blocks["entry"], blocks["done"])

            builder.position_at_end(blocks["entry"])
            width = const(2 * n)
            window = load_window(builder.mul(builder.load(builder.gep(wa.data, [e])), width))
            k0 = builder.load(builder.gep(pa.data, [e]))
            k1 = builder.load(builder.gep(pa.data, [builder.add(e, const(1))]))
            builder.branch(blocks["fours"])

            builder.position_at_end(blocks["fours"])           # four steps per pass
            k, *fours = phis([k0] + sums, blocks["entry"])
            builder.cbranch(builder.icmp_signed("<=", builder.add(k, const(UNROLL)), k1),
                            blocks["four_steps"], blocks["ones"])
            builder.position_at_end(blocks["four_steps"])
            stepped = [step(window, builder.add(k, const(u)), s) for u, s in enumerate(fours)]
            for node, value in zip([k] + fours, [builder.add(k, const(UNROLL))] + stepped):
                node.add_incoming(value, blocks["four_steps"])
            builder.branch(blocks["fours"])

            builder.position_at_end(blocks["ones"])            # the last one to three
            kt, one = phis([k, fours[0]], blocks["fours"])
            next_e = builder.add(e, const(1))
            builder.cbranch(builder.icmp_signed(">=", kt, k1), blocks["entries"],
                            blocks["one_step"])
            builder.position_at_end(blocks["one_step"])
            kt.add_incoming(builder.add(kt, const(1)), blocks["one_step"])
            one.add_incoming(step(window, kt, one), blocks["one_step"])
            builder.branch(blocks["ones"])
            for node, value in zip([e] + sums, [next_e, one] + fours[1:]):
                node.add_incoming(value, blocks["ones"])

            builder.position_at_end(blocks["done"])
            total = builder.fadd(builder.fadd(sums[0], sums[1]), builder.fadd(sums[2], sums[3]))
            builder.store(total, acc_pointer, align=1)
            return context.get_dummy_value()
        return sig, codegen
    return slice_fma


slice_fma = slice_fma_python if config.DISABLE_JIT else _slice_fma_intrinsic()


@njit(cache=True)
def slice_sums(values, offsets, x, windows, step_ptr, e0, e1, acc):
    """``slice_fma`` callable from Python (an intrinsic is only callable from compiled code)."""
    slice_fma(values, offsets, x, windows, step_ptr, e0, e1, acc)
