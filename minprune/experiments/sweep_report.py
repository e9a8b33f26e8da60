"""A sweep's report, rebuilt from ``results.jsonl`` alone: ``results.csv`` (one row per run),
``report.md`` (per sparsity, the methods ranked by mean accuracy over seeds with the spread and
the gap to the dense control) and ShrinkBench's figures (accuracy against compression, against
theoretical speed-up, and against measured speed-up at each batch size), one line per method
with mean +/- std over seeds, the controls drawn as references."""
from __future__ import annotations

import csv
import io
import os

import numpy as np

from .. import viz
from ..files import write_text_atomic
from ..reports.writer import Report
from .spec import describe
from .store import Store

METHOD = ("criterion", "granularity", "scope", "schedule", "steps", "finetune_epochs")


def method_name(c):
    steps = f":{c['steps']}" if c["schedule"] == "iterative" else ""
    return (f"{c['criterion']} {c['granularity']} {c['scope']}, {c['schedule']}{steps}, "
            f"ft {c['finetune_epochs']}")


def flat_rows(records):
    """One dict per finished run: its config and its results, in a stable order."""
    rows = []
    for r in sorted(records, key=lambda r: r["id"]):
        row = {"id": r["id"], "status": r["status"], "where": r.get("where")}
        row.update({k: v for k, v in r["config"].items() if k != "latency"})
        row.update(r.get("result", {}))
        if r["status"] != "ok":
            row["error"] = r.get("error")
        rows.append(row)
    return rows


def write_csv(path, rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    write_text_atomic(path, buffer.getvalue())


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None, 0
    # the sample standard deviation (ddof=1), the spread a reader can compare across seeds;
    # undefined for one value
    spread = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return float(np.mean(values)), spread, len(values)


def aggregate(records):
    """(methods, controls): methods[name][sparsity] -> {metric: (mean, std, n)}; controls
    [(schedule, steps, finetune_epochs)] -> (mean, std, n) of the dense control's accuracy."""
    ok = [r for r in records if r["status"] == "ok"]
    groups, controls = {}, {}
    for r in ok:
        c, res = r["config"], r["result"]
        if c["kind"] == "control":
            key = (c["schedule"], c["steps"], c["finetune_epochs"])
            controls.setdefault(key, []).append(res["accuracy_finetuned"])
            continue
        groups.setdefault(method_name(c), {}).setdefault(c["sparsity"], []).append(r)
    methods = {}
    for name, by_sparsity in groups.items():
        methods[name] = {}
        for s, runs in by_sparsity.items():
            metrics = sorted({k for r in runs for k in r["result"]
                              if isinstance(r["result"][k], (int, float))
                              and k not in ("pid",)})
            methods[name][s] = {k: _stats([r["result"].get(k) for r in runs]) for k in metrics}
            methods[name][s]["config"] = runs[0]["config"]
    return methods, {k: _stats(v) for k, v in controls.items()}


def _control_for(c, controls):
    return controls.get((c["schedule"], c["steps"], c["finetune_epochs"]), (None, None, 0))


NONE = (None, None, 0)


def sparsity_label(s):
    """A sparsity as a heading says it, exactly: 50%, 97.5%, 99.9% (never rounded to 100%)."""
    return f"{100 * s:.10g}%"


def final_accuracy(m):
    """(mean, std, n) of the accuracy a method ends with: after fine-tuning, or right after
    pruning where its runs do not fine-tune (``finetune_epochs = 0``)."""
    tuned = m.get("accuracy_finetuned", NONE)
    return tuned if tuned[0] is not None else m.get("accuracy", NONE)


def ranking(methods, controls):
    """Per sparsity, rows ranked by the mean accuracy each method ends with."""
    tables = {}
    for name, by_sparsity in methods.items():
        for s, m in by_sparsity.items():
            mean, std, n = final_accuracy(m)
            control = _control_for(m["config"], controls)[0]
            row = {"method": name, "accuracy": mean, "std": std, "seeds": n,
                   "gap": None if control is None or mean is None else mean - control,
                   "compression": m["compression"][0],
                   "theoretical": m["theoretical_speedup"][0]}
            for key in m:
                if key.endswith("_speedup") and key != "theoretical_speedup":
                    row[key] = m[key][0]
            tables.setdefault(s, []).append(row)
    for rows in tables.values():
        rows.sort(key=lambda r: (-(r["accuracy"] if r["accuracy"] is not None else -1),
                                 r["method"]))
    return dict(sorted(tables.items()))


def figures(folder, methods, controls, batches):
    """ShrinkBench's plots; returns [(file, caption)]."""
    panels = [("compression", "compression (x)", "accuracy_vs_compression.png"),
              ("theoretical_speedup", "theoretical speed-up (dense / effective FLOPs)",
               "accuracy_vs_theoretical_speedup.png")]
    panels += [(f"csr_b{b}_speedup", f"measured speed-up of the CSR model at batch {b}",
                f"accuracy_vs_speedup_b{b}.png") for b in batches]
    bands = {f"dense control ({schedule}, ft {ft})": (mean, std or 0.0)
             for (schedule, _, ft), (mean, std, _) in sorted(controls.items())
             if mean is not None}
    written = []
    for metric, label, name in panels:
        curves = {}
        for method, by_sparsity in sorted(methods.items()):
            ends = [(m[metric][0], final_accuracy(m))                # in sparsity order
                    for _, m in sorted(by_sparsity.items()) if metric in m]
            points = [(x, mean, std or 0.0) for x, (mean, std, _) in ends
                      if x is not None and mean is not None]
            if points:
                curves[method] = tuple(np.array(v) for v in zip(*points))
        if curves:
            viz.accuracy_against(curves, bands, label, os.path.join(folder, name))
            written.append((name, f"accuracy vs {label}"))
    return written



COLUMNS = [("method", "method", "{}"), ("accuracy", "accuracy", "{:.4f}"),
           ("std", "sample std (ddof=1)", "{:.4f}"), ("seeds", "n (seeds)", "{:d}"),
           ("gap", "vs dense control", "{:+.4f}"), ("compression", "compression", "{:.1f}x"),
           ("theoretical", "theoretical speed-up", "{:.2f}x")]


def build(folder):
    """Write results.csv, the figures and report.md from ``folder``'s results.jsonl."""
    records = list(Store(folder).read().values())
    if not records:
        raise ValueError(f"{folder} holds no results.jsonl with finished runs")
    rows = flat_rows(records)
    write_csv(os.path.join(folder, "results.csv"), rows)
    methods, controls = aggregate(records)
    batches = sorted({b for r in records for b in r["config"]["latency"]["batches"]})
    tables = ranking(methods, controls)
    pictures = figures(folder, methods, controls, batches)
    failed = [r for r in records if r["status"] != "ok"]
    where = sorted({r.get("where") or "?" for r in records})
    report = Report(folder, "minprune sweep", results_file=None)  # results.jsonl holds them
    intro = (f"{len(records)} runs ({len(failed)} failed), run on {', '.join(where)}. Accuracy "
             f"is the test accuracy after fine-tuning (right after pruning for runs with 0 "
             f"fine-tune epochs), mean and sample standard deviation (ddof=1) over seeds; "
             f"the dense control is the dense model fine-tuned exactly like the pruned ones. "
             f"Measured speed-ups are latencies of the inference plan (`infer.compile`), one "
             f"thread, each against the dense model timed in the same process.")
    control_lines = [f"- dense control ({schedule}, {ft} fine-tune epochs): {mean:.4f} "
                     + (f"+/- {std:.4f} (sample std) over {n} seeds" if std is not None
                        else "(one seed)")
                     for (schedule, _, ft), (mean, std, n) in sorted(controls.items())
                     if mean is not None]
    report.add(None, "\n\n".join([intro, "\n".join(control_lines)]).rstrip())
    speed = [(f"{v}_b{b}_speedup", f"{v} b{b}", "{:.2f}x") for b in batches
             for v in ("masked", "csr", "compact")]
    for s, table_rows in tables.items():
        present = [c for c in speed if any(r.get(c[0]) is not None for r in table_rows)]
        report.add(f"{sparsity_label(s)} sparsity", table=(table_rows, COLUMNS + present))
    report.add(None, figures=pictures)
    if failed:
        report.add("Failed runs", "\n".join(f"- {describe(r['config'])}: {r.get('error')}"
                                             for r in failed))
    return report.write()
