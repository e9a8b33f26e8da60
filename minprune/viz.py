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


def sparsity_accuracy(curves, path=None, *, baseline=None, title="accuracy vs sparsity"):
    """One line per method: ``curves = {label: (sparsities, accuracies)}``."""
    fig = new_figure()
    ax = fig.subplots()
    for label, (s, acc) in curves.items():
        ax.plot([100 * v for v in s], acc, "o-", label=label)
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle="--", label="dense")
    ax.set(xlabel="sparsity (%)", ylabel="test accuracy", title=title)
    ax.legend()
    if path is not None:
        save_png(fig, path)
    return fig


def layer_sparsity(model, path=None, title="sparsity per layer"):
    """Bars: the fraction of each Linear/Conv2d weight that is zero."""
    from .prune import summary
    rows = summary(model)[:-1]
    fig = new_figure()
    ax = fig.subplots()
    ax.bar([f"{r['layer']}\n{r['shape']}" for r in rows], [100 * r["sparsity"] for r in rows])
    ax.set(ylabel="sparsity (%)", ylim=(0, 100), title=title)
    if path is not None:
        save_png(fig, path)
    return fig


def weight_histograms(before, after, path=None, bins=80):
    """Histograms of weights before and after pruning (``after`` shows the survivors only).

    before, after : dicts {layer name: weight array}.
    """
    import numpy as np
    names = list(before)
    fig = new_figure(3.2 * len(names), 3)
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        w0 = before[name].ravel()
        w1 = after[name].ravel()
        edges = np.linspace(w0.min(), w0.max(), bins + 1)
        ax.hist(w0, edges, color="lightgrey", label="before")
        ax.hist(w1[w1 != 0], edges, color="tab:blue", label="kept")
        ax.set(title=f"layer {name}", xlabel="weight")
    axes[0].legend()
    if path is not None:
        save_png(fig, path)
    return fig


def mask_image(param, path=None, title=None):
    """The mask (or the non-zero pattern) of a weight, as an image: dark = pruned."""
    import numpy as np
    keep = param.mask if param.mask is not None else param.data != 0
    keep = keep.reshape(keep.shape[0], -1)
    fig = new_figure(6, 6 * keep.shape[0] / max(keep.shape[1], 1) + 0.8)
    ax = fig.subplots()
    ax.imshow(keep, cmap="gray", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set(xlabel="input", ylabel="output",
           title=title or f"kept {np.mean(keep):.1%} of {keep.size:,} weights")
    if path is not None:
        save_png(fig, path)
    return fig
