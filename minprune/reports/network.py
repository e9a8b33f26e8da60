"""The network study's report, shared by ``minprune demo`` and ``minprune prune``: the table,
the figures and a paragraph written from the numbers (the study itself is
``experiments.network_study``)."""
from __future__ import annotations

from .. import prune, viz
from ..experiments.timing import SPREAD_LIMIT
from ..nn.layers import is_weighted
from ..nn.walk import has_blocks


COLUMNS = [("sparsity", "sparsity", "{:.1%}"), ("weights_kept", "weights kept", "{:,}"),
           ("compression", "compression", "{:.1f}x"),
           ("accuracy", "accuracy (no fine-tune)", "{:.4f}"),
           ("accuracy_finetuned", "accuracy (fine-tuned)", "{:.4f}"),
           ("gap_to_control", "vs dense control", "{:+.4f}"),
           ("dense_flops", "dense FLOPs", "{:,}"), ("effective_flops", "effective FLOPs", "{:,}")]
COMPACT = ("compact_params", "params after compact", "{:,}")    # unit and filter pruning
DEPTH = ("depth", "depth after compact", "{}")                   # block pruning


def figures(report, study, label, finetuned):
    """Accuracy vs sparsity, per-layer sparsity, weight histograms, a mask image."""
    model, rows, dense_accuracy = study.model, study.rows, study.dense_accuracy
    s = [r["sparsity"] for r in rows]
    curves = {f"{label}, no fine-tune": (s, [r["accuracy"] for r in rows])}
    if finetuned:
        curves[f"{label}, fine-tuned"] = (s, [r["accuracy_finetuned"] for r in rows])
    control = {"dense control (fine-tuned)": study.control_accuracy}
    viz.sparsity_accuracy(curves, report.path("accuracy_vs_sparsity.png"),
                          baseline=dense_accuracy, references=control)
    weights = [i for i, m in enumerate(model) if is_weighted(m)]
    before = {str(i): model[i].weight.data.copy() for i in weights}
    show = min(study.snapshots, key=lambda k: abs(k - 0.9))
    trained = prune.snapshot(model)
    prune.restore(model, study.snapshots[show])
    viz.layer_sparsity(model, report.path("layer_sparsity.png"),
                       title=f"per-layer sparsity at {show:.0%}")
    after = {str(i): model[i].weight.data.copy() for i in weights}
    viz.weight_histograms(before, after, report.path("weight_histograms.png"))
    viz.mask_image(model[weights[0]].weight, report.path("mask.png"),
                   title=f"layer {weights[0]} at {show:.0%}: white = kept")
    prune.restore(model, trained)
    return show


def shown(row, key):
    """A measured speed-up as the reports print it: the median ratio, its quartiles in
    brackets, and "(unreliable)" where the panel could not vouch for it."""
    if row.get(key) is None:
        return None
    text = f"{row[key]:.2f}x"
    if f"{key}_low" in row:
        text += f" [{row[f'{key}_low']:.2f}-{row[f'{key}_high']:.2f}]"
    if row.get(f"{key}_reliable") is False:
        text += " (unreliable)"
    return text


def speed_table(rows, batches=(1, 64)):
    """The speed panel: theoretical speed-up beside the measured ones, each with the
    quartiles of its per-round ratios (rows, columns)."""
    columns = [("sparsity", "sparsity", "{:.1%}"),
               ("theoretical_speedup", "FLOPs speed-up", "{:.2f}x")]
    keys = []
    for b in batches:
        for variant in ("masked", "csr", "compact", "pattern"):
            key = f"{variant}_b{b}_speedup"
            if any(key in r for r in rows):
                label = "N:M/block kernel" if variant == "pattern" else variant
                columns.append((key, f"{label} b{b}", "{}"))
                keys.append(key)
    return [dict(r, **{k: shown(r, k) for k in keys}) for r in rows], columns


def unreliable(rows):
    """The measured speed-ups of ``rows`` that the panel flagged (their keys)."""
    return sorted({k[:-len("_reliable")] for r in rows for k, v in r.items()
                   if k.endswith("_reliable") and v is False})


def speed_sentence(rows):
    """Where measured and theoretical speed-ups part, and why, from the numbers."""
    if not any("csr_b1_speedup" in r for r in rows):
        return ""
    r = min(rows, key=lambda r: abs(r["sparsity"] - 0.9))
    threads = r.get("threads", "one thread")
    flagged = unreliable(rows)
    if flagged:
        return (f"At {r['sparsity']:.0%} sparsity the FLOPs promise "
                f"{r['theoretical_speedup']:.1f}x, but the timings of this run are too noisy "
                f"to read (threads: {threads}): "
                f"{len(flagged)} measured speed-ups spread by more than "
                f"{SPREAD_LIMIT:.0%} between rounds, or beat the FLOPs they save, which only a "
                f"slowed-down dense reference can do - another program was busy, or BLAS "
                f"ran on more threads than it had cores. They are marked (unreliable) in the "
                f"table; run again on a quiet machine.")
    text = (f"At {r['sparsity']:.0%} sparsity the FLOPs promise {r['theoretical_speedup']:.1f}x; "
            f"measured through the inference plan (threads: {threads}; in brackets the "
            f"quartiles over rounds), the masked model runs at {shown(r, 'masked_b1_speedup')} "
            f"the dense speed (it still multiplies every zero), the CSR model at "
            f"{shown(r, 'csr_b1_speedup')} for one sample and {shown(r, 'csr_b64_speedup')} "
            f"for 64")
    if "compact_b1_speedup" in r:
        text += (f", the compacted model at {shown(r, 'compact_b1_speedup')} and "
                 f"{shown(r, 'compact_b64_speedup')}")
    if "pattern_b1_speedup" in r:
        text += (f", on the pattern's own storage (N:M or blocks) at "
                 f"{shown(r, 'pattern_b1_speedup')} and {shown(r, 'pattern_b64_speedup')}")
    text += (". Measured speed-ups fall short of the FLOPs because a sparse layer is stored "
             "with padding (a slice of rows takes as many steps as its fullest row) and an "
             "index beside every weight, because a call costs about a microsecond whatever "
             "its weights, and, at 64 samples, because the sparse kernel gathers its inputs "
             "where a dense product streams them")
    if "compact_b1_speedup" in r:
        return text + ("; deleting units keeps the products dense and regular, which is why "
                       "compaction comes closest.")
    return text + ". Structured pruning, compacted, turns fewer FLOPs into time more directly."


def table(rows, finetuned):
    cols = COLUMNS if finetuned else [c for c in COLUMNS
                                      if c[0] not in ("accuracy_finetuned", "gap_to_control")]
    if any("compact_params" in r for r in rows):
        cols = cols + [COMPACT]
    if any("depth" in r for r in rows):
        cols = cols + [DEPTH]
    return rows, cols


def paragraph(study, label, steps=1, calibration=None):
    """One paragraph on what the table shows, written from the numbers. ``calibration``: the
    number of held-out training samples a data-driven criterion was calibrated on."""
    rows, dense, control = study.rows, study.dense_accuracy, study.control_accuracy
    at = {r["sparsity"]: r for r in rows}
    low, high = min(at), max(at)
    worst = at[high]
    how = ("without any retraining" if steps == 1 else
           f"in {steps} rounds, measured right after the last round's pruning,")
    keeps = (f"{worst['accuracy']:.4f} at {high:.0%} sparsity" if low == high else
             f"{at[low]['accuracy']:.4f} at {low:.0%} sparsity and {worst['accuracy']:.4f} at "
             f"{high:.0%}")
    text = f"The dense network scores {dense:.4f}. Pruned by {label} {how} it keeps {keeps}."
    if control is not None:
        epochs = study.config.finetune_epochs * steps
        text += (f" The dense control, the dense network fine-tuned exactly like the pruned "
                 f"ones ({epochs} epoch{'s' if epochs != 1 else ''} at a fifth of the "
                 f"training learning rate), scores {control:.4f}"
                 f" ({_signed(control - dense)} against the untouched network); that, not the "
                 f"untouched network, is what a fine-tuned pruned network is compared with.")
        matched = []                          # the sparsities, from the lowest, that match it
        for s in sorted(at):
            if at[s]["gap_to_control"] < -0.005:
                break
            matched.append(s)
        text += (f" Fine-tuned, the {high:.0%}-sparse network scores "
                 f"{worst['accuracy_finetuned']:.4f} ({_signed(worst['gap_to_control'])} "
                 f"against the control)")
        text += (f"; up to {max(matched):.0%} sparsity the pruned networks stay within 0.005 "
                 f"of the control." if matched else
                 "; at every sparsity measured the pruned networks lose more than 0.005 "
                 "against the control.")
    text += (f" At {high:.0%} the model keeps {worst['weights_kept']:,} weights "
             f"({worst['compression']:.1f}x compression) and needs "
             f"{worst['effective_flops']:,} of {worst['dense_flops']:,} multiply-adds.")
    if calibration:
        text += (f" The criterion was calibrated on {calibration:,} training samples held out "
                 f"from training; the test set only measures.")
    if "compact_params" in worst:
        text += (f" Deleting the pruned units, filters or blocks for real (`prune.compact`) "
                 f"leaves a dense model of {worst['compact_params']:,} parameters with the same "
                 f"outputs.")
    if "depth" in worst:
        text += (f" Without its removed blocks the network is {worst['depth']} layers deep "
                 f"(of {study.rows[0].get('dense_depth', '?')}).")
    return text


def _signed(value):
    return f"{value:+.4f}"


__all__ = ["figures", "table", "paragraph", "speed_table", "speed_sentence"]


def coupled_table(model, granularity, snapshots):
    """The coupled groups of a network with blocks (rows: the group's producers, its
    channels, the layers it spans, the channels kept at each sparsity), or None for a chain
    or a granularity without groups."""
    if granularity not in ("unit", "filter") or not has_blocks(model):
        return None
    rows = []
    for group in prune.prunable_layers(model, granularity):
        spans = sorted({m.name.rsplit(".", 1)[0] for m in group.members})
        row = {"group": " + ".join(group.producers), "channels": group.n_groups,
               "layers": ", ".join(spans)}
        for s, saved in snapshots.items():
            mask = saved.masks.get(f"{group.name}.weight")
            row[f"kept {s:.0%}"] = (group.n_groups if mask is None else
                                    int(mask.reshape(group.n_groups, -1).any(axis=1).sum()))
        rows.append(row)
    columns = [("group", "produced by", "{}"), ("channels", "channels", "{}"),
               ("layers", "layers it spans", "{}")]
    columns += [(f"kept {s:.0%}", f"kept at {s:.0%}", "{}") for s in snapshots]
    return rows, columns
