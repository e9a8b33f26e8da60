"""The ground floor of every figure: a figure that needs no GUI, saved atomically as PNG and
shown inline when the code runs in a notebook (``viz`` and the domain modules draw on it)."""
from __future__ import annotations

import io
import sys

from .files import atomic_write


def new_figure(width=5.0, height=3.5):
    """A figure that needs no GUI backend (drawn with Agg, whatever pyplot is set to)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height), layout="constrained")   # labels never overlap
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path, dpi=100):
    """Write ``fig`` to ``path`` as a PNG (atomically); inside a Jupyter notebook also show it
    in the cell's output, so a lesson run as a notebook has every figure inline."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    show_inline(buffer.getvalue())


def in_notebook():
    """Whether this code runs in a Jupyter kernel (not a script, not a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def show_inline(png):
    """Display PNG bytes in the notebook's output (nothing outside a notebook)."""
    if in_notebook():
        from IPython.display import Image, display
        display(Image(data=png))
