"""minprune: a small, readable, pure-NumPy engine for learning and experimenting with pruning.

``import minprune`` loads the autograd, nn, data and prune packages; the heavier ones (trees
and their Numba builders, the sparse kernels, figures, experiments) load on first use of
``minprune.tree``, ``minprune.sparse``, ``minprune.viz``, ``minprune.experiments``.
"""
import importlib

from . import data, memory, nn, prune, threads
from .autograd import functional
from .autograd.tensor import Tensor, no_grad
from .io import load, save
from .nn import models, optim

__version__ = "0.1.0"
threads.set_threads(threads.default())       # one BLAS thread unless asked (see ``threads``)
if memory.default():
    memory.keep_freed()                      # freed arrays reused, not faulted in (``memory``)

_LAZY = {"tree": ".tree", "sparse": ".sparse", "viz": ".viz", "experiments": ".experiments",
         "bench": ".bench", "files": ".files"}

__all__ = ["Tensor", "no_grad", "functional", "nn", "data", "prune", "models", "optim", "save",
           "load", "threads", "memory", "tree", "sparse", "viz", "experiments", "__version__"]


def __getattr__(name):
    """Load a lazy subpackage on first use (PEP 562), keeping ``import minprune`` light."""
    if name in _LAZY:
        try:
            module = importlib.import_module(_LAZY[name], __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}{_LAZY[name]}":
                raise
            raise AttributeError(f"module 'minprune' has no attribute {name!r}") from None
        globals()[name] = module
        return module
    raise AttributeError(f"module 'minprune' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
