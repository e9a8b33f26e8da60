"""A sweep's report, rebuilt from ``results.jsonl`` and ``spec.json`` alone, of the spec's own
runs (the last record of each; records of other specs run into the folder are left out):
``results.csv`` (one row per run), ``report.md`` (per sparsity, the methods ranked by mean
accuracy over seeds with the sample std, a 95% interval and the gap to the dense control; the
measured speed-ups with the quartiles of their timing repeats and their spread across seeds)
and ShrinkBench's figures (accuracy against compression, against theoretical speed-up, and
against measured speed-up at each batch size), one line per method (or per ``group_by``
group) with mean +/- std over seeds, the controls drawn as references."""
from __future__ import annotations

import csv
import io
import os

import numpy as np

from .. import viz
from ..files import write_text_atomic
from ..reports.writer import Report
from ..prune.criteria import REGISTRY
from .spec import describe, expand
from .store import Store

GROUPS = ("criterion", "granularity", "scope", "schedule", "finetune_epochs", "calibration")
# Student's t, 97.5% quantile, by degrees of freedom (n - 1): the 95% interval of a mean
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def method_name(c, keys=GROUPS):
    """A method's name from the config keys ``keys`` (all of them: the method itself)."""
    calibrated = c.get("reconstruct") or REGISTRY[c["criterion"]].needs_data
    parts = {"criterion": c["criterion"] + ("+reconstruct" if c.get("reconstruct") else ""),
             "granularity": c["granularity"], "scope": c["scope"],
             "schedule": c["schedule"] + (f":{c['steps']}" if c["schedule"] == "iterative"
                                          else ""),
             "finetune_epochs": f"ft {c['finetune_epochs']}",
             "calibration": f"cal {c.get('n_calibration', 512)}" if calibrated else ""}
    head = " ".join(parts[k] for k in ("criterion", "granularity", "scope") if k in keys)
    return ", ".join([head] * bool(head) + [parts[k] for k in ("schedule", "finetune_epochs",
                                                               "calibration")
                                            if k in keys and parts[k]])


def interval95(std, n):
    """The half-width of the 95% interval of a mean of ``n`` values (Student's t); None
    below three values, where it says nothing."""
    if std is None or n < 3:
        return None
    df, z = n - 1, 1.959964
    # beyond the table, the Cornish-Fisher expansion of t about the normal quantile
    t = T975[df - 1] if df <= len(T975) else (z + (z ** 3 + z) / (4 * df)
                                              + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2))
    return t * std / np.sqrt(n)


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


def aggregate(records, keys=GROUPS):
    """(methods, controls): methods[name][sparsity] -> {metric: (mean, std, n)}, a name per
    distinct value of the config ``keys``; controls [(schedule, steps, finetune_epochs)] ->
    (mean, std, n) of the dense control's accuracy."""
    ok = [r for r in records if r["status"] == "ok"]
    groups, controls = {}, {}
    for r in ok:
        c, res = r["config"], r["result"]
        if c["kind"] == "control":
            key = (c["schedule"], c["steps"], c["finetune_epochs"])
            controls.setdefault(key, []).append(res["accuracy_finetuned"])
            continue
        groups.setdefault(method_name(c, keys), {}).setdefault(c["sparsity"], []).append(r)
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
                   "ci95": interval95(std, n),
                   "gap": None if control is None or mean is None else mean - control,
                   "compression": m["compression"][0],
                   "theoretical": m["theoretical_speedup"][0]}
            for key in m:
                if key.endswith("_speedup") and key != "theoretical_speedup":
                    row[key] = speed_cell(m, key)
            tables.setdefault(s, []).append(row)
    for rows in tables.values():
        rows.sort(key=lambda r: (-(r["accuracy"] if r["accuracy"] is not None else -1),
                                 r["method"]))
    return dict(sorted(tables.items()))


def speed_cell(m, key):
    """A measured speed-up as the report prints it: the mean over seeds, [the quartiles of the
    timing repeats inside a run, averaged over seeds], +/- the sample std across seeds, and
    "(unreliable)" where a run's spread or its FLOPs bound says not to read it."""
    mid, sd, _ = m[key]
    if mid is None:
        return None
    low, high = m.get(f"{key}_low", NONE)[0], m.get(f"{key}_high", NONE)[0]
    text = f"{mid:.2f}x"
    if low is not None and high is not None:
        text += f" [{low:.2f}-{high:.2f}]"
    if sd is not None:
        text += f" ±{sd:.2f}"
    reliable = m.get(f"{key}_reliable", NONE)[0]
    return text + (" (unreliable)" if reliable is not None and reliable < 1 else "")


MAX_LINES = 10       # lines one axes can show; beyond that, small multiples
PANEL_KEYS = ("finetune_epochs", "granularity", "schedule", "scope")


def panels_of(methods, keys):
    """{panel title: [method]}: one panel when the methods fit one axes, else split by the
    first of ``PANEL_KEYS`` (among the grouping ``keys``) that vary, one more at a time,
    until every panel holds at most ``MAX_LINES`` lines."""
    configs = {name: next(iter(by_s.values()))["config"] for name, by_s in methods.items()}
    varying = [k for k in PANEL_KEYS if k in keys
               and len({method_name(c, (k,)) for c in configs.values()}) > 1]
    split = []
    while True:
        panels = {}
        for name in sorted(methods):
            title = ", ".join(method_name(configs[name], (k,)) for k in split) or None
            panels.setdefault(title, []).append(name)
        if max(map(len, panels.values())) <= MAX_LINES or len(split) == len(varying):
            return panels, split
        split.append(varying[len(split)])


def figures(folder, methods, controls, batches, keys=GROUPS):
    """ShrinkBench's plots, small multiples where one axes would hold too many lines;
    returns [(file, caption)]."""
    plots = [("compression", "compression (x)", "accuracy_vs_compression.png"),
             ("theoretical_speedup", "theoretical speed-up (dense / effective FLOPs)",
              "accuracy_vs_theoretical_speedup.png")]
    plots += [(f"csr_b{b}_speedup", f"measured speed-up of the CSR model at batch {b}",
               f"accuracy_vs_speedup_b{b}.png") for b in batches]
    bands = {f"dense control ({schedule}, ft {ft})": (mean, std or 0.0)
             for (schedule, _, ft), (mean, std, _) in sorted(controls.items())
             if mean is not None}
    panels, split = panels_of(methods, keys)
    rest = tuple(k for k in keys if k not in split)
    written = []
    for metric, label, name in plots:
        drawn = {}
        for title, names in panels.items():
            curves = {}
            for method in names:
                by_sparsity = methods[method]
                ends = [(m[metric][0], final_accuracy(m))            # in sparsity order
                        for _, m in sorted(by_sparsity.items()) if metric in m]
                points = [(x, mean, std or 0.0) for x, (mean, std, _) in ends
                          if x is not None and mean is not None]
                if points:
                    config = next(iter(by_sparsity.values()))["config"]
                    line = method_name(config, rest) if split else method
                    curves[line] = tuple(np.array(v) for v in zip(*points))
            if curves:
                drawn[title] = curves
        if drawn:
            viz.accuracy_panels(drawn, bands, label, os.path.join(folder, name))
            written.append((name, f"accuracy vs {label}"))
    return written


COLUMNS = [("method", "method", "{}"), ("accuracy", "accuracy", "{:.4f}"),
           ("std", "sample std (ddof=1)", "{:.4f}"), ("ci95", "95% interval", "±{:.4f}"),
           ("seeds", "n (seeds)", "{:d}"),
           ("gap", "vs dense control", "{:+.4f}"), ("compression", "compression", "{:.1f}x"),
           ("theoretical", "theoretical speed-up", "{:.2f}x")]


def spec_records(folder):
    """The last record of each of the runs of the folder's spec (every record when the
    folder has no spec.json, as a sweep from before it had one)."""
    store = Store(folder)
    records, spec = store.read(), store.spec()
    if spec is not None:
        records = {r["id"]: records[r["id"]] for r in expand(spec) if r["id"] in records}
    return list(records.values())


def build(folder, group_by=None):
    """Write results.csv, the figures and report.md from ``folder``'s results.jsonl; the
    figures draw a line per ``group_by`` group (config keys among ``GROUPS``; None: per
    method)."""
    records = spec_records(folder)
    if not records:
        raise ValueError(f"{folder} holds no results.jsonl with finished runs of its spec")
    rows = flat_rows(records)
    write_csv(os.path.join(folder, "results.csv"), rows)
    methods, controls = aggregate(records)
    batches = sorted({b for r in records for b in r["config"]["latency"]["batches"]})
    tables = ranking(methods, controls)
    pictures = figures(folder, aggregate(records, group_by)[0] if group_by else methods,
                       controls, batches, tuple(group_by or GROUPS))
    failed = [r for r in records if r["status"] != "ok"]
    where = sorted({r.get("where") or "?" for r in records})
    report = Report(folder, "minprune sweep", results_file=None)  # results.jsonl holds them
    intro = (f"{len(records)} runs ({len(failed)} failed), run on {', '.join(where)}. Accuracy "
             f"is the test accuracy after fine-tuning (right after pruning for runs with 0 "
             f"fine-tune epochs), mean and sample standard deviation (ddof=1) over seeds, with "
             f"the 95% interval of the mean (Student's t) from three seeds on; the dense "
             f"control is the dense model fine-tuned exactly like the pruned ones. Measured "
             f"speed-ups are latencies of the inference plan (`infer.compile`), one thread, "
             f"each against the dense model timed in the same process: the mean over seeds, "
             f"[the quartiles of the timing repeats inside a run], +/- the sample std across "
             f"seeds.")
    control_lines = [f"- dense control ({schedule}, {ft} fine-tune epochs): {mean:.4f} "
                     + (f"+/- {std:.4f} (sample std) over {n} seeds" if std is not None
                        else "(one seed)")
                     for (schedule, _, ft), (mean, std, n) in sorted(controls.items())
                     if mean is not None]
    report.add(None, "\n\n".join([intro, "\n".join(control_lines)]).rstrip())
    speed = [(f"{v}_b{b}_speedup", f"{v} b{b}", "{}") for b in batches
             for v in ("masked", "csr", "compact")]
    for s, table_rows in tables.items():
        present = [c for c in speed if any(r.get(c[0]) is not None for r in table_rows)]
        report.add(f"{sparsity_label(s)} sparsity", table=(table_rows, COLUMNS + present))
    report.add(None, figures=pictures)
    if failed:
        report.add("Failed runs", "\n".join(f"- {describe(r['config'])}: {r.get('error')}"
                                             for r in failed))
    return report.write()
