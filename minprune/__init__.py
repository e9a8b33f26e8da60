"""minprune: a small, readable, pure-NumPy engine for learning and experimenting with pruning."""
from . import data, nn, prune
from .autograd import functional
from .autograd.tensor import Tensor, no_grad
from .io import load, save
from .nn import models

__version__ = "0.1.0"
__all__ = ["Tensor", "no_grad", "functional", "nn", "data", "prune", "models", "save", "load",
           "__version__"]
