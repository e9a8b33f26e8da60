"""The figures of pruning and trees (matplotlib, imported only when a figure is drawn), each
drawn on ``figure.new_figure`` and written atomically as PNG by ``figure.save_png``."""
from __future__ import annotations

import numpy as np

from .autograd.engine import topological_order
from .figure import in_notebook, new_figure, save_png, show_inline
from .prune import summary
from .tree import plot_tree

__all__ = ["new_figure", "save_png", "in_notebook", "show_inline", "learning_curves",
           "sparsity_accuracy", "layer_sparsity", "weight_histograms", "mask_image",
           "ccp_path", "tree_figure", "computation_graph", "accuracy_against",
           "accuracy_panels"]


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
    from matplotlib.ticker import MaxNLocator    # lazy: matplotlib loads with a figure
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))        # whole epochs
    if path is not None:
        save_png(fig, path)
    return fig


def sparsity_accuracy(curves, path=None, *, baseline=None, title="accuracy vs sparsity",
                      references=None, ylabel="test accuracy"):
    """One line per method: ``curves = {label: (sparsities, accuracies)}``; horizontal lines
    for ``baseline`` (the dense accuracy) and ``references`` ({label: accuracy}, e.g. the
    dense control). The x axis is the fraction of weights *kept*, on a log scale and falling
    to the right, so that 90%, 95% and 98% - where the behaviour changes - are as far apart as
    50% and 75%; the ticks are labelled with the sparsity."""
    fig = new_figure()
    ax = fig.subplots()
    every = sorted({float(v) for s, _ in curves.values() for v in s if v < 1})
    for label, (s, acc) in curves.items():
        kept = [1 - v for v in s]
        ax.plot(kept, acc, "o-", label=label)
    ax.set_xscale("log")
    if every:
        ticks = [1 - v for v in every]
        ax.set_xticks(ticks, [f"{100 * v:g}%" for v in every])
        ax.minorticks_off()
        ax.set_xlim(max(ticks) * 1.25, min(ticks) / 1.25)      # falling: sparser to the right
    lines = {"dense": baseline, **(references or {})}
    for (label, value), style in zip(lines.items(), ("--", ":", "-.", (0, (1, 3)))):
        if value is not None:
            ax.axhline(value, color="grey", linestyle=style, label=label)
    ax.set(xlabel="sparsity (log scale of the weights kept)", ylabel=ylabel, title=title)
    ax.legend()
    if path is not None:
        save_png(fig, path)
    return fig


def layer_sparsity(model, path=None, title="sparsity per layer"):
    """Bars: the fraction of each Linear/Conv2d weight that is zero."""
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
    axes[0].set_ylabel("count")
    axes[0].legend(fontsize=8)
    if path is not None:
        save_png(fig, path)
    return fig


def mask_image(param, path=None, title=None):
    """The mask (or the non-zero pattern) of a weight, as an image: dark = pruned."""
    keep = param.mask if param.mask is not None else param.data != 0
    keep = keep.reshape(keep.shape[0], -1)
    fig = new_figure(6, 6 * keep.shape[0] / max(keep.shape[1], 1) + 0.8)
    ax = fig.subplots()
    from matplotlib.ticker import MaxNLocator    # lazy: matplotlib loads with a figure
    ax.imshow(keep, cmap="gray", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    conv = param.data.ndim == 4
    ax.set(xlabel="input (kh x kw x channel)" if conv else "input",
           ylabel="filter" if conv else "output",
           title=title or f"kept {np.mean(keep):.1%} of {keep.size:,} weights")
    for axis in (ax.xaxis, ax.yaxis):            # rows and columns are whole numbers
        axis.set_major_locator(MaxNLocator(integer=True))
    if path is not None:
        save_png(fig, path)
    return fig


def ccp_path(path, cv_table=None, alpha=None, file=None):
    """The cost-complexity figure rpart users know: cross-validated error +/- 1 SE against
    alpha (log axis; alpha = 0 drawn at the left edge), the 1-SE line and the chosen alpha;
    beside it the training impurity of each subtree on the path, on the same alpha axis.

    ``path`` : a ``tree.CCPPath``; ``cv_table`` : rows of ``tree.select_ccp_alpha``.
    """
    fig = new_figure(10, 3.6)
    cv_ax, path_ax = fig.subplots(1, 2, sharex=bool(cv_table))
    alphas = np.asarray(path.ccp_alphas, dtype=float)
    positive = alphas[alphas > 0]
    floor = positive.min() / 3 if positive.size else 1e-6      # where alpha = 0 is drawn

    def placed(a):
        a = np.asarray(a, dtype=float)
        return np.where(a > 0, a, floor)

    if cv_table:
        a = placed([r["alpha"] for r in cv_table])
        err = np.array([r["cv_error"] for r in cv_table])
        se = np.array([r["cv_se"] for r in cv_table])
        cv_ax.errorbar(a, err, yerr=se, fmt="o-", ms=3, capsize=2, label="CV error +/- 1 SE")
        best = int(np.argmin(err))
        cv_ax.axhline(err[best] + se[best], color="grey", linestyle=":", label="min + 1 SE")
        if alpha is not None:
            cv_ax.axvline(placed(alpha), color="red", linestyle="--",
                          label=f"chosen alpha {alpha:.3g}")
        cv_ax.set(xscale="log", xlabel="alpha (0 drawn at the left edge)",
                  ylabel="cross-validated error", title="choosing alpha")
        cv_ax.legend(fontsize=8)
    else:
        cv_ax.axis("off")
    path_ax.step(placed(alphas), path.impurities, where="post")
    if alpha is not None:
        path_ax.axvline(placed(alpha), color="red", linestyle="--")
    path_ax.set(xscale="log", xlabel="alpha (0 drawn at the left edge)",
                ylabel="training impurity R(T_alpha)",
                title=f"pruning path ({len(alphas)} subtrees)")
    path_ax.tick_params(labelbottom=True)                 # shared, but labelled on both
    if file is not None:
        save_png(fig, file)
    return fig


def tree_figure(est, file=None, feature_names=None, max_depth=5):
    """A fitted tree drawn by ``tree.plot_tree``, the first ``max_depth`` levels."""
    depth = est.tree_.depths()
    cut = depth == max_depth                            # drawn as the last row of boxes
    shown_leaves = int(((est.tree_.children_left == -1) & (depth <= max_depth)).sum()
                       + cut.sum())
    fig = new_figure(max(8.0, 1.15 * shown_leaves), 1.2 * (min(depth.max(), max_depth) + 1))
    plot_tree(est, ax=fig.subplots(), feature_names=feature_names, max_depth=max_depth)
    if file is not None:
        save_png(fig, file)
    return fig


def computation_graph(output, path=None, names=None, title="the computation graph",
                      grads=None):
    """The graph autograd recorded for ``output``: one box per tensor (its operation, value and
    gradient when it has one), arrows from parents to children, laid out left to right by
    depth. ``names``: {id(tensor): label} for the inputs; ``grads``: {id(tensor): gradient}
    for tensors whose ``.grad`` autograd does not keep (the intermediate ones)."""
    grads = grads or {}
    order = topological_order(output)
    names = names or {}
    depth = {}
    for node in order:                                   # parents come first
        depth[id(node)] = 1 + max((depth[id(p)] for p in node.parents), default=-1)
    columns = {}
    for node in order:
        columns.setdefault(depth[id(node)], []).append(node)
    place = {id(n): (d, -i + (len(col) - 1) / 2) for d, col in columns.items()
             for i, n in enumerate(col)}
    fig = new_figure(1.9 * (max(columns) + 1), 0.9 + 1.1 * max(len(c) for c in columns.values()))
    ax = fig.subplots()
    for node in order:
        x1, y1 = place[id(node)]
        for parent in node.parents:
            x0, y0 = place[id(parent)]
            ax.annotate("", (x1 - 0.32, y1), (x0 + 0.32, y0),
                        arrowprops={"arrowstyle": "->", "color": "grey"})
        op = (node.backward_fn.__qualname__.split(".")[0] if node.backward_fn is not None
              else names.get(id(node), "input"))
        text = f"{op}\nvalue {_short(node.data)}"
        grad = node.grad if node.grad is not None else grads.get(id(node))
        if grad is not None:
            text += f"\ngrad {_short(grad)}"
        ax.text(x1, y1, text, ha="center", va="center", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "#eef3fb", "edgecolor": "#5577aa"})
    ax.set(xlim=(-0.6, max(columns) + 0.6), title=title)
    ax.set_ylim(min(y for _, y in place.values()) - 0.7, max(y for _, y in place.values()) + 0.7)
    ax.axis("off")
    if path is not None:
        save_png(fig, path)
    return fig


def _short(a):
    a = np.asarray(a)
    return f"{float(a):.4g}" if a.size == 1 else f"shape {a.shape}"


def accuracy_against(curves, bands=None, xlabel="compression (x)", path=None):
    """ShrinkBench's plot: test accuracy (mean +/- std over seeds, error bars) against a
    ratio on a log axis, one line per method (``curves = {method: (x, mean, std)}``; random
    controls dashed; a marker of its own for each of the first ten, then markers that differ
    from them), joined in the order given (by sparsity), and grey bands for references
    (``bands = {label: (mean, std)}``, e.g. the dense control). The legend stands beside the
    axes, where it hides no point; the figure grows with it (``accuracy_panels`` draws
    small multiples, for more lines than one axes can show)."""
    return accuracy_panels({None: curves}, bands, xlabel, path)


def accuracy_panels(panels, bands=None, xlabel="compression (x)", path=None):
    """``accuracy_against`` as small multiples: ``panels = {title: {method: (x, mean, std)}}``,
    two to a row, one accuracy axis, each with its own legend beneath it."""
    import matplotlib  # lazy: matplotlib loads with a figure
    from matplotlib.ticker import FuncFormatter
    single = len(panels) == 1
    lines = max(len(c) for c in panels.values()) + len(bands or {})
    cols = 1 if single else 2
    rows = -(-len(panels) // cols)
    legend_height = 0.17 * (lines if single else -(-lines // 2))
    height = max(4.0, legend_height + 0.6) if single else rows * (3.2 + legend_height)
    fig = new_figure(9, height)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    markers = "osv^D<>ph*XP"
    for ax, (title, curves) in zip(axes, panels.items()):
        palette = matplotlib.colormaps["tab10" if len(curves) <= 10 else "tab20"]
        for i, (method, (x, y, err)) in enumerate(curves.items()):
            style = "--" if method.startswith("random") else "-"
            ax.errorbar(x, y, yerr=err, fmt=markers[i % len(markers)] + style, ms=3,
                        capsize=2, label=method, color=palette(i % palette.N))
        for label, (mean, std) in (bands or {}).items():
            ax.axhline(mean, color="grey", linestyle=":", lw=1)
            ax.axhspan(mean - std, mean + std, color="grey", alpha=0.15, label=label)
        ax.set(xscale="log", xlabel=xlabel, title=title)
        ax.set_ylabel("test accuracy (mean +/- sample std, seeds)" if single
                      else "test accuracy")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_minor_formatter(FuncFormatter(_minor_label))
        if not ax.get_legend_handles_labels()[0]:
            continue
        if single:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
        else:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    if path is not None:
        save_png(fig, path)
    return fig


def _minor_label(value, _):
    """Label 2x and 5x of each decade between the decades, nothing else (no crowding)."""
    mantissa = value / 10 ** np.floor(np.log10(value))
    return f"{value:g}x" if np.isclose(mantissa, 2) or np.isclose(mantissa, 5) else ""
