"""Sparse weights that turn pruning into speed: CSR storage, Numba kernels with NumPy twins,
sparse layers in autograd, and ``to_sparse`` for pruned models."""
from .csr import CSR
from .kernels import set_threads
from .layers import SparseConv2d, SparseLinear, to_sparse

__all__ = ["CSR", "SparseLinear", "SparseConv2d", "to_sparse", "set_threads"]
