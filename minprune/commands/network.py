"""The network study shared by ``minprune demo`` and ``minprune prune``: train (or load), prune
to each sparsity with and without a short fine-tune, and report accuracy, size and FLOPs."""
from __future__ import annotations

import time

import numpy as np


COLUMNS = [("sparsity", "sparsity", "pct"), ("weights_kept", "weights kept", "int"),
           ("compression", "compression", "x"), ("accuracy", "accuracy (no fine-tune)", "acc"),
           ("accuracy_finetuned", "accuracy (fine-tuned)", "acc"),
           ("dense_flops", "dense FLOPs", "int"), ("effective_flops", "effective FLOPs", "int")]
COMPACT = ("compact_params", "params after compact", "int")     # unit and filter pruning


def sgd(params, lr):
    from ..nn import optim
    return optim.SGD(params, lr=lr, momentum=0.9)


def train_model(model, data, epochs, lr, seed, log):
    from ..nn import evaluate, fit
    (X, y), (Xt, yt) = data
    start = time.perf_counter()
    fit(model, X, y, epochs=epochs, optimizer=sgd(model.parameters(), lr), batch_size=64,
        rng=np.random.default_rng(seed))
    acc = evaluate(model, Xt, yt)["accuracy"]
    log(f"  trained in {time.perf_counter() - start:.1f} s: test accuracy {acc:.4f}")
    return acc


def prune_study(model, data, *, sparsities, criterion, granularity, scope, finetune_epochs,
                lr, seed, log, steps=1):
    """Rows (one per sparsity) and the pruned models (fine-tuned when asked) by sparsity.

    With ``steps`` > 1 every level is reached by the iterative schedule: ``steps`` rounds, each
    pruning the same fraction of what remains and fine-tuning ``finetune_epochs``; the "no
    fine-tune" accuracy is then the one right after the last round's pruning.
    """
    from .. import prune
    from ..nn import evaluate, fit
    (X, y), (Xt, yt) = data
    trained = model.state_dict()
    calibration = (Xt[:512], yt[:512]) if criterion in prune.criteria.DATA_CRITERIA else None
    dense = prune.summary(model)[-1]
    options = dict(criterion=criterion, granularity=granularity, scope=scope, data=calibration)
    rows, models = [], {}
    for s in sparsities:
        prune.remove(model)
        model.load_state_dict(trained)
        after = None
        if steps > 1:
            schedule = prune.schedules.iterative(
                model, X, y, s, steps=steps, epochs_per_step=finetune_epochs,
                optimizer=lambda params: sgd(params, lr / 5), val=(Xt, yt),
                rng=np.random.default_rng(seed + 1), progress=False, **options)
            before, after = (schedule.rounds[-1][k] for k in ("pruned_accuracy", "accuracy"))
        else:
            prune.prune(model, s, rng=seed, **options)
            before = evaluate(model, Xt, yt)["accuracy"]
            if finetune_epochs:
                fit(model, X, y, epochs=finetune_epochs, optimizer=sgd(model.parameters(), lr / 5),
                    batch_size=64, rng=np.random.default_rng(seed + 1), progress=False)
                after = evaluate(model, Xt, yt)["accuracy"]
        total = prune.summary(model)[-1]
        kept = total["nonzeros"]
        rows.append({"sparsity": s, "achieved_sparsity": total["sparsity"],
                     "weights_kept": kept, "compression": dense["params"] / max(kept, 1),
                     "accuracy": before, "accuracy_finetuned": after,
                     "dense_flops": total["flops"], "effective_flops": total["effective_flops"]})
        if granularity != "weight":                 # the pruned units deleted for real
            rows[-1]["compact_params"] = sum(p.size for p in prune.compact(model).parameters())
        log(f"  {s:.0%}: accuracy {before:.4f}"
            + (f", after fine-tuning {after:.4f}" if after is not None else ""))
        models[s] = {k: v.copy() for k, v in model.state_dict().items()}, \
            {n: None if p.mask is None else p.mask.copy() for n, p in model.named_parameters()}
    prune.remove(model)
    model.load_state_dict(trained)
    return rows, models


def restore(model, saved):
    """Put a (state dict, masks) pair from ``prune_study`` back into ``model``."""
    state, masks = saved
    for name, p in model.named_parameters():
        p.mask = masks[name]
    model.load_state_dict(state)


def figures(report, model, rows, models, dense_accuracy, label, finetuned):
    """Accuracy vs sparsity, per-layer sparsity, weight histograms, a mask image."""
    from .. import viz
    s = [r["sparsity"] for r in rows]
    curves = {f"{label}, no fine-tune": (s, [r["accuracy"] for r in rows])}
    if finetuned:
        curves[f"{label}, fine-tuned"] = (s, [r["accuracy_finetuned"] for r in rows])
    viz.sparsity_accuracy(curves, report.path("accuracy_vs_sparsity.png"),
                          baseline=dense_accuracy)
    weights = [i for i, m in enumerate(model) if hasattr(m, "weight") and m.weight.ndim >= 2]
    before = {str(i): model[i].weight.data.copy() for i in weights}
    show = min(models, key=lambda k: abs(k - 0.9))
    restore(model, models[show])
    viz.layer_sparsity(model, report.path("layer_sparsity.png"),
                       title=f"per-layer sparsity at {show:.0%}")
    after = {str(i): model[i].weight.data.copy() for i in weights}
    viz.weight_histograms(before, after, report.path("weight_histograms.png"))
    viz.mask_image(model[weights[0]].weight, report.path("mask.png"),
                   title=f"layer {weights[0]} at {show:.0%}: white = kept")
    return show


def table(rows, finetuned):
    cols = COLUMNS if finetuned else [c for c in COLUMNS if c[0] != "accuracy_finetuned"]
    if any("compact_params" in r for r in rows):
        cols = cols + [COMPACT]
    return rows, cols


def paragraph(rows, dense_accuracy, label, steps=1):
    """One paragraph on what the table shows, written from the numbers."""
    at = {r["sparsity"]: r for r in rows}
    high = max(at)
    worst = at[high]
    how = ("without any retraining" if steps == 1 else
           f"in {steps} rounds, measured right after the last round's pruning,")
    text = (f"The dense network scores {dense_accuracy:.4f}. Pruned by {label} {how} it keeps "
            f"{at[min(at)]['accuracy']:.4f} at {min(at):.0%} sparsity and "
            f"{worst['accuracy']:.4f} at {high:.0%}.")
    if worst["accuracy_finetuned"] is not None:
        gap = dense_accuracy - worst["accuracy_finetuned"]
        side = "below" if gap > 0 else "above"
        text += (f" A short fine-tune brings the {high:.0%}-sparse network to "
                 f"{worst['accuracy_finetuned']:.4f} ({abs(gap):.4f} {side} dense): most of "
                 f"what pruning removes was redundant, and the survivors adapt.")
        if max(r["accuracy_finetuned"] for r in rows) > dense_accuracy:
            text += (" (Fine-tuning runs at a fifth of the training learning rate, which also "
                     "helps the dense network: part of the gain over dense is that decay.)")
    text += (f" At {high:.0%} the model keeps {worst['weights_kept']:,} weights "
             f"({worst['compression']:.1f}x compression) and needs "
             f"{worst['effective_flops']:,} of {worst['dense_flops']:,} multiply-adds.")
    if "compact_params" in worst:
        text += (f" Deleting the pruned units and filters for real (`prune.compact`) leaves a "
                 f"dense model of {worst['compact_params']:,} parameters with the same outputs.")
    return text


__all__ = ["prune_study", "figures", "table", "paragraph", "train_model"]
