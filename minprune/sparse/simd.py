"""The inner loops of the one-sample kernels, written in LLVM IR: ``slice_fma``, ``pairs_fma``.

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
weight: a step of 16 weights then costs about as much as 16 multiply-adds of a dense loop,
where a hardware gather, or the scalar CSR loop one weight at a time, costs several times
more (``minprune bench latency`` prints the gap to the plain loops). The sums stay in
registers for the whole slice,
and the steps run four at a time on four sums, because an accumulation must otherwise wait
for the multiply-add before it (four cycles).

``pairs_fma(values, codes, x, first, n_windows, acc)`` is the same loop for 2:4 weights
(``sparse.sliced.Pairs``), whose regularity leaves nothing to look up: every window has L
steps, step j reads group j // 2 of the window, and the column within the group is two bits
of one 32-bit word per lane and window (``codes``), shifted and masked in registers.

Beside them stand ``slice_fma_numba`` and ``pairs_fma_numba``: the same loops in plain Numba
(no IR), correct on every machine. ``resolve(kernels)`` says which a caller runs: "simd" (the
intrinsics), "numba" (the plain loops) or "auto", the fastest that works here - the intrinsics
where the target has AVX-512 and they compile (``simd_works`` tries them once), the plain
loops elsewhere, with one warning if the intrinsics were expected and failed. So a change in
llvmlite can slow the batch-1 path down, never break ``import`` or a user's run. Under
``NUMBA_DISABLE_JIT=1`` the plain-Python ``slice_fma_python`` and ``pairs_fma_python`` run
instead; they are also the executable specification the tests hold the compiled ones to.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..jit import njit
from numba.core import config

from ..checks import one_of

REGISTER = 64                    # bytes of sums per slice
SUMS = 4                         # independent sums per slice (see the module note)
KERNELS = ("auto", "simd", "numba")


def lanes(dtype):
    """Sums per register: 64 bytes of ``dtype``."""
    return REGISTER // np.dtype(dtype).itemsize


def has_avx512():
    """Whether the machine code Numba writes may use AVX-512 (the target's features, which a
    user may set apart from the host's with NUMBA_CPU_NAME / NUMBA_CPU_FEATURES)."""
    if config.CPU_NAME and config.CPU_NAME != "host":
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


def pairs_fma_python(values, codes, x, first, n_windows, acc):
    """``pairs_fma`` in NumPy: entry e = first + w holds window w; step j of it reads, for
    lane l, column 4·(j // 2) + its two-bit code j of the window."""
    n = values.shape[1]
    width, steps = 2 * n, n
    acc[:] = 0
    for w in range(n_windows):
        window = x[w * width:(w + 1) * width]
        code = codes[first + w].view(np.uint32).astype(np.int64)
        for j in range(steps):
            column = 4 * (j // 2) + ((code >> (2 * j)) & 3)
            acc += values[(first + w) * steps + j] * window[column]


@njit(cache=True, inline="always")
def slice_fma_numba(values, offsets, x, windows, step_ptr, e0, e1, acc):
    """``slice_fma`` as a plain Numba loop (no IR): lane by lane, which LLVM vectorises as
    far as the target allows."""
    n = values.shape[1]
    width = 2 * n
    acc[:] = 0
    for e in range(e0, e1):
        base = windows[e] * width
        for k in range(step_ptr[e], step_ptr[e + 1]):
            for lane in range(n):
                acc[lane] += values[k, lane] * x[base + offsets[k, lane]]


@njit(cache=True, inline="always")
def pairs_fma_numba(values, codes, x, first, n_windows, acc):
    """``pairs_fma`` as a plain Numba loop: step j of window w reads, for lane l, column
    4·(j // 2) + the two-bit code j of the lane's word."""
    n = values.shape[1]
    acc[:] = 0
    for w in range(n_windows):
        base = w * 2 * n
        entry = first + w
        words = codes[entry].view(np.uint32)
        for j in range(n):
            shift = np.uint32(2 * j)
            group = base + 4 * (j // 2)
            for lane in range(n):
                column = group + np.int64((words[lane] >> shift) & np.uint32(3))
                acc[lane] += values[entry * n + j, lane] * x[column]


def _intrinsics():
    """(slice_fma, pairs_fma): the kernels' inner loops in LLVM IR (see the module note)."""
    from numba import types
    from numba.extending import intrinsic

    from .simd_ir import Emitter  # lazy: llvmlite's IR builder, only when the intrinsics are built

    @intrinsic
    def slice_fma(typingctx, values, offsets, x, windows, step_ptr, e0, e1, acc):
        sig = types.void(values, offsets, x, windows, step_ptr, e0, e1, acc)
        _need_avx512()

        def codegen(context, builder, signature, args):
            m = Emitter(context, builder, signature, args, REGISTER)
            va, oa, xa, wa, pa, aa = m.arrays(0, 1, 2, 3, 4, 7)
            e0, e1 = args[5], args[6]
            n, const = m.lanes, m.const

            def step(window, k, acc):
                offset = builder.mul(k, const(n))
                v = m.load_vector(va.data, offset, m.vec)
                o = builder.zext(m.load_vector(oa.data, offset, m.bytes), m.ivec)
                return m.fma(v, m.pick(window, o), acc)

            blocks = m.blocks("entries", "entry", "fours", "four_steps", "ones", "one_step",
                              "done")
            start = builder.block
            builder.branch(blocks["entries"])

            builder.position_at_end(blocks["entries"])         # for e in [e0, e1)
            e, *sums = m.phis([e0] + [m.zero] * SUMS, start)
            builder.cbranch(builder.icmp_signed("<", e, e1), blocks["entry"], blocks["done"])

            builder.position_at_end(blocks["entry"])
            window = m.load_window(xa, builder.mul(builder.load(builder.gep(wa.data, [e])),
                                                   const(2 * n)))
            k0 = builder.load(builder.gep(pa.data, [e]))
            k1 = builder.load(builder.gep(pa.data, [builder.add(e, const(1))]))
            builder.branch(blocks["fours"])

            builder.position_at_end(blocks["fours"])           # four steps per pass
            k, *fours = m.phis([k0] + sums, blocks["entry"])
            builder.cbranch(builder.icmp_signed("<=", builder.add(k, const(SUMS)), k1),
                            blocks["four_steps"], blocks["ones"])
            builder.position_at_end(blocks["four_steps"])
            stepped = [step(window, builder.add(k, const(u)), s) for u, s in enumerate(fours)]
            for node, value in zip([k] + fours, [builder.add(k, const(SUMS))] + stepped):
                node.add_incoming(value, blocks["four_steps"])
            builder.branch(blocks["fours"])

            builder.position_at_end(blocks["ones"])            # the last one to three
            kt, one = m.phis([k, fours[0]], blocks["fours"])
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
            m.store_sum(sums, aa)
            return context.get_dummy_value()
        return sig, codegen

    @intrinsic
    def pairs_fma(typingctx, values, codes, x, first, n_windows, acc):
        sig = types.void(values, codes, x, first, n_windows, acc)
        _need_avx512()

        def codegen(context, builder, signature, args):
            m = Emitter(context, builder, signature, args, REGISTER)
            va, ca, xa, aa = m.arrays(0, 1, 2, 5)
            first, n_windows = args[3], args[4]
            n, const = m.lanes, m.const
            steps = n                        # two weights in each of the window's 2n/4 groups
            code_type = m.ir.VectorType(m.ir.IntType(32), n)

            blocks = m.blocks("windows", "window", "done")
            start = builder.block
            builder.branch(blocks["windows"])
            builder.position_at_end(blocks["windows"])         # for w in [0, n_windows)
            nodes = m.phis([const(0)] + [m.zero] * SUMS, start)
            w, sums = nodes[0], list(nodes[1:])
            builder.cbranch(builder.icmp_signed("<", w, n_windows), blocks["window"],
                            blocks["done"])

            builder.position_at_end(blocks["window"])
            entry = builder.add(first, w)
            window = m.load_window(xa, builder.mul(w, const(2 * n)))
            code = m.load_vector(ca.data, builder.mul(entry, const(4 * n)), code_type)
            for j in range(steps):                             # all steps, unrolled
                shifted = builder.lshr(code, m.splat(code_type, 2 * j))
                column = builder.add(builder.and_(shifted, m.splat(code_type, 3)),
                                     m.splat(code_type, 4 * (j // 2)))
                if m.ivec != code_type:
                    column = builder.zext(column, m.ivec)
                v = m.load_vector(va.data, builder.mul(builder.add(
                    builder.mul(entry, const(steps)), const(j)), const(n)), m.vec)
                sums[j % SUMS] = m.fma(v, m.pick(window, column), sums[j % SUMS])
            for node, value in zip(nodes, [builder.add(w, const(1))] + sums):
                node.add_incoming(value, blocks["window"])
            builder.branch(blocks["windows"])

            builder.position_at_end(blocks["done"])
            m.store_sum(nodes[1:], aa)
            return context.get_dummy_value()
        return sig, codegen
    return slice_fma, pairs_fma


def _need_avx512():
    if not has_avx512():
        from numba.core.errors import TypingError
        raise TypingError("the SIMD kernels permute AVX-512 registers, and this target has no "
                          "AVX-512: run the plain Numba kernels (kernels='numba' or 'auto')")


_unavailable = None                  # why the intrinsics cannot be built here, if they cannot
if config.DISABLE_JIT:
    slice_fma, pairs_fma = slice_fma_python, pairs_fma_python
else:
    try:
        slice_fma, pairs_fma = _intrinsics()
    except Exception as exc:         # an llvmlite without what simd_ir uses: run plain Numba
        _unavailable = f"{type(exc).__name__}: {exc}"
        slice_fma, pairs_fma = slice_fma_numba, pairs_fma_numba


@njit(cache=True)
def slice_sums(values, offsets, x, windows, step_ptr, e0, e1, acc):
    """``slice_fma`` callable from Python (an intrinsic is only callable from compiled code)."""
    slice_fma(values, offsets, x, windows, step_ptr, e0, e1, acc)


@njit(cache=True)
def pairs_sums(values, codes, x, first, n_windows, acc):
    """``pairs_fma`` callable from Python."""
    pairs_fma(values, codes, x, first, n_windows, acc)


_works = {}                          # simd_works' answer, found once per process


def simd_works():
    """Whether the intrinsics compile and agree with their twin here (tried once, on a small
    slice of each dtype). The first failure is kept in ``_works["why"]``."""
    if "ok" not in _works:
        if config.DISABLE_JIT:
            _works["ok"] = True
        elif _unavailable is not None or not has_avx512():
            _works["ok"], _works["why"] = False, _unavailable or "no AVX-512 on this target"
        else:
            try:
                for dtype in (np.float32, np.float64):
                    _probe(dtype)
                _works["ok"] = True
            except Exception as exc:    # any failure of code generation: fall back, say why
                _works["ok"], _works["why"] = False, f"{type(exc).__name__}: {exc}"
    return _works["ok"]


def _probe(dtype):
    n = lanes(dtype)
    values = np.arange(1, 2 * n + 1, dtype=dtype).reshape(2, n)
    offsets = (np.arange(2 * n) % (2 * n)).astype(np.uint8).reshape(2, n)
    x = np.arange(2 * n, dtype=dtype)
    windows, step_ptr = np.zeros(1, np.int64), np.array([0, 2], np.int64)
    got, want = np.empty(n, dtype), np.empty(n, dtype)
    slice_sums(values, offsets, x, windows, step_ptr, 0, 1, got)
    slice_fma_python(values, offsets, x, windows, step_ptr, 0, 1, want)
    if not np.array_equal(got, want):
        raise ArithmeticError(f"the {np.dtype(dtype).name} intrinsic gave {got[:4]}..., "
                              f"its twin {want[:4]}...")


_warned = []


def resolve(kernels="auto"):
    """The inner loops a caller runs: "simd" or "numba" (see the module note). "auto" is
    "simd" where ``simd_works``, else "numba" - with one warning per process when the target
    has AVX-512 and the intrinsics still failed. Asking for "simd" where it does not work is
    a RuntimeError."""
    one_of("kernels", kernels, KERNELS)
    if kernels == "numba":
        return "numba"
    if simd_works():
        return "simd"
    if kernels == "simd":
        raise RuntimeError(f"kernels='simd' cannot run here ({_works['why']}); use "
                           f"kernels='numba' or 'auto'")
    if has_avx512() and not _warned:
        _warned.append(True)
        warnings.warn(f"minprune: the SIMD batch-1 kernels failed to build here "
                      f"({_works['why']}); running the plain Numba kernels instead (slower at "
                      f"one sample, same results)", RuntimeWarning, stacklevel=2)
    return "numba"
