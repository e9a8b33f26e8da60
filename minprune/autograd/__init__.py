"""From-scratch reverse-mode automatic differentiation on NumPy arrays."""
from .tensor import Tensor, is_grad_enabled, no_grad

__all__ = ["Tensor", "no_grad", "is_grad_enabled"]
