"""Figures (matplotlib, imported only when a figure is drawn), written atomically as PNG."""
from __future__ import annotations

import io

from .io import atomic_write


def new_figure(width=5.0, height=3.5):
    """A figure that needs no GUI backend (drawn with Agg, whatever pyplot is set to)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path, dpi=100):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))


def learning_curves(history, path=None):
    """Loss and accuracy per epoch, training and validation, side by side."""
    fig = new_figure(9, 3.5)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = range(1, len(history["loss"]) + 1)
    loss_ax.plot(epochs, history["loss"], "o-", label="train")
    if history.get("val_loss"):
        loss_ax.plot(epochs, history["val_loss"], "s-", label="test")
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss")
    loss_ax.legend()
    if history["accuracy"] and history["accuracy"][0] is not None:
        acc_ax.plot(epochs, history["accuracy"], "o-", label="train")
        if history.get("val_accuracy"):
            acc_ax.plot(epochs, history["val_accuracy"], "s-", label="test")
        acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
        acc_ax.legend()
    else:
        acc_ax.axis("off")
    if path is not None:
        save_png(fig, path)
    return fig
