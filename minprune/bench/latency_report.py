"""The latency benchmark's rows read two ways: a summary table, a row per model and batch size
(the dense plan, CSR at three sparsities and per layer, compacted, the two runtimes), and a
figure of speed-up against sparsity."""
from __future__ import annotations

from ..figure import new_figure, save_png
from ..tables import markdown, table

# (key, variant): the summary's speed-up columns, headed by their variants, each over the same
# run's dense plan
SPEED_UPS = (("csr70", "CSR 70%"), ("csr90", "CSR 90%"), ("csr95", "CSR 95%"),
             ("layer90", "CSR 90% per layer"), ("filters50", "filters 50% compacted"))


def summary_rows(rows):
    """A row per (model, batch) of ``latency.run``'s rows: the dense plan's microseconds, the
    speed-ups of ``SPEED_UPS`` (None where not timed), ONNX Runtime's and PyTorch's
    microseconds and the dense plan's speed-up over each."""
    out = {}
    for r in rows:
        key = (r["model"], r["batch"])
        row = out.setdefault(key, {"model": r["model"], "batch": r["batch"]})
        if r["variant"] == "dense plan":
            row["dense"] = r["us"]
        for column, variant in SPEED_UPS:
            if r["variant"] == variant:
                row[column] = r["ratio"]
        for column, variant in (("ort", "ONNX Runtime"), ("torch", "PyTorch eager")):
            if r["variant"] == variant:
                row[column], row[f"{column}_ratio"] = r["us"], 1 / r["ratio"]
    return list(out.values())


COLUMNS = ([("model", "model", "{}"), ("batch", "batch", "{}"),
            ("dense", "dense plan (us)", "{:.1f}")]
           + [(key, variant, "{:.2f}x") for key, variant in SPEED_UPS]
           + [("ort", "ONNX Runtime (us)", "{:.1f}"), ("ort_ratio", "plan vs ORT", "{:.2f}x"),
              ("torch", "PyTorch eager (us)", "{:.1f}"), ("torch_ratio", "plan vs PyTorch",
                                                         "{:.2f}x")])


def summary(rows, as_markdown=False):
    """The summary rows (``summary_rows``) as a terminal table, or as Markdown."""
    return (markdown if as_markdown else table)(summary_rows(rows), COLUMNS)


def _sparsity(variant):
    """(sparsity, "global" or "per layer") of a CSR variant's label, else None."""
    words = variant.split()
    if len(words) < 2 or words[0] != "CSR" or not words[1].endswith("%") or "," in variant:
        return None
    return float(words[1][:-1]) / 100, "per layer" if "per layer" in variant else "global"


def figure(rows, path):
    """Speed-up over the dense plan against sparsity, a panel per model: CSR by global
    magnitude (lines) and per layer (open markers), at batch 1 and 64, with the break-even
    line and 1 / (1 - sparsity), what the kept weights' share alone would give. Written
    to ``path`` as PNG; returns the path."""
    from matplotlib.ticker import FuncFormatter, PercentFormatter   # lazy: with a figure
    models = list(dict.fromkeys(r["model"] for r in rows))
    fig = new_figure(4 * len(models), 3.6)
    axes = fig.subplots(1, len(models), squeeze=False, sharex=True, sharey=True)[0]
    for ax, model in zip(axes, models):
        points = {}
        for r in rows:
            found = _sparsity(r["variant"]) if r["model"] == model else None
            if found:
                points.setdefault((r["batch"], found[1]), []).append((found[0], r["ratio"]))
        xs = sorted({s for pts in points.values() for s, _ in pts})
        if xs:
            ax.plot(xs, [1 / (1 - s) for s in xs], ":", color="grey",
                    label="1 / weights kept")
        ax.axhline(1.0, color="black", linewidth=0.8)
        for (batch, scope), pts in sorted(points.items()):
            pts.sort()
            color = "tab:blue" if batch == 1 else "tab:orange"
            style = dict(marker="o", linestyle="-") if scope == "global" else \
                dict(marker="s", linestyle="none", markerfacecolor="none")
            ax.plot([s for s, _ in pts], [v for _, v in pts], color=color,
                    label=f"batch {batch}, {scope}", **style)
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_title(model)
        ax.set_xlabel("weights pruned")
        ax.set_ylabel("speed-up over the dense plan")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    save_png(fig, path)
    return path
