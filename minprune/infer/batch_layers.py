"""A plain stack's layer arrays (``batch_chain``) as one argument of its compiled call.

Numba unpacks every array a compiled call is given, some 70 ns each: LeNet-300-100's layers
as tuples of arrays - 28 of them - took 2.3-3.4 us of its 57 us call at batch 64. Held in a
StructRef they are one pointer to unpack (0.6 us). Under NUMBA_DISABLE_JIT, where a
StructRef cannot be built, a plain object with the same fields stands in.
"""
from __future__ import annotations

from numba import config, types

from ..jit import njit
from numba.experimental import structref

FIELDS = ("image", "convs", "conv_biases", "geometry", "conv_indptrs", "conv_offsets",
          "conv_values", "filters", "indptrs", "indices", "values", "biases", "relus", "rows")


@structref.register
class LayersType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(t)) for name, t in fields)


class Layers(structref.StructRefProxy):
    """``Layers(*arrays)``: the layers' arrays, by the names of ``FIELDS``."""


if not config.DISABLE_JIT:
    structref.define_proxy(Layers, LayersType, list(FIELDS))

    @njit(cache=True)
    def layers(*arrays):
        """``Layers(*arrays)``, from the cache: the constructor ``define_proxy`` makes is
        compiled anew in each process, 0.2 s for each set of array types."""
        return Layers(*arrays)
else:
    class Layers:                                    # noqa: F811 (the plain stand-in)
        """``Layers(*arrays)``: the layers' arrays, by the names of ``FIELDS``."""

        def __init__(self, *arrays):
            for name, array in zip(FIELDS, arrays, strict=True):
                setattr(self, name, array)

    layers = Layers
