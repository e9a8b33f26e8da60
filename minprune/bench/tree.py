"""``minprune bench tree``: fitting (with and without missing values), prediction and the
cost-complexity path against scikit-learn, and the surrogate tree against R's rpart (when
Rscript is installed), measured in the same run on the same data at the same thread count."""
from __future__ import annotations

import time

import numpy as np

from .. import tree
from ..data import make_classification, make_regression
from ..tables import table
from ..timing import machine_line


def _best_of(fn, repeat):
    """Median wall time of ``repeat`` calls (after one warm-up call) and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


R_TIMING = r"""
suppressMessages(library(rpart))
d <- read.csv(commandArgs(TRUE)[1]); d$y <- factor(d$y)
ctl <- rpart.control(minsplit = 20, minbucket = 7, maxdepth = 10, cp = -1, xval = 0,
                     maxcompete = 0, maxsurrogate = 5, usesurrogate = 2)
times <- sapply(seq_len(as.integer(commandArgs(TRUE)[2]) + 1),
                function(i) system.time(rpart(y ~ ., data = d, control = ctl))[["elapsed"]])
cat(median(times[-1]), "\n")
"""


def rpart_seconds(X, y, repeat):
    """R's rpart on the same data and controls (median of ``repeat`` after a warm-up), or nan
    without Rscript."""
    import os
    import shutil
    import subprocess
    import tempfile
    rscript = shutil.which("Rscript")
    if rscript is None:
        return float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        data, script = os.path.join(tmp, "d.csv"), os.path.join(tmp, "t.R")
        header = ",".join([f"x{i}" for i in range(X.shape[1])] + ["y"])
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header=header, comments="",
                   fmt="%.17g")
        with open(data) as f:
            text = f.read().replace("nan", "NA")
        with open(data, "w") as f:
            f.write(text)
        with open(script, "w") as f:
            f.write(R_TIMING)
        done = subprocess.run([rscript, script, data, str(repeat)], capture_output=True,
                              text=True, timeout=3600)
        return float(done.stdout.split()[0]) if done.returncode == 0 else float("nan")


def run(threads=1, n=100_000, repeat=3, path=True, out=print):
    """Print and return the comparison rows; ``path=False`` skips scikit-learn's slow path."""
    from sklearn import tree as sk

    out(machine_line(threads))
    X, y = make_classification(n, 20, n_informative=10, n_redundant=5, flip_y=0.1,
                               random_state=0)
    weights = np.random.default_rng(0).integers(1, 4, n).astype(np.float64)
    rows = []
    for label, params, fit in (("", {}, {}),
                               (', max_features="sqrt"', {"max_features": "sqrt"}, {}),
                               (", sample weights 1-3", {}, {"sample_weight": weights}),
                               (', class_weight="balanced"', {"class_weight": "balanced"}, {})):
        t_ours, fitted = _best_of(lambda params=params, fit=fit: tree.DecisionTreeClassifier(
            random_state=0, **params).fit(X, y, **fit), repeat)
        t_sk, fitted_sk = _best_of(lambda params=params, fit=fit: sk.DecisionTreeClassifier(
            random_state=0, **params).fit(X, y, **fit), repeat)
        rows.append({"task": f"fit gini{label}, {n:,} x 20, fully grown "
                             f"({fitted.get_n_leaves():,} leaves)",
                     "minprune": t_ours, "sklearn": t_sk})
        if not params:
            ours, theirs = fitted, fitted_sk
    Xm = X.astype(np.float64)
    Xm[np.random.default_rng(1).random(Xm.shape) < 0.2] = np.nan
    t_ours, fitted = _best_of(lambda: tree.DecisionTreeClassifier(random_state=0).fit(Xm, y),
                              repeat)
    t_sk, _ = _best_of(lambda: sk.DecisionTreeClassifier(random_state=0).fit(Xm, y), repeat)
    rows.append({"task": f"fit gini, 20% missing (NaN), {n:,} x 20 ({fitted.get_n_leaves():,} "
                         f"leaves)", "minprune": t_ours, "sklearn": t_sk})
    surrogate = dict(missing="surrogate", min_samples_split=20, min_samples_leaf=7,
                     max_depth=10)
    t_ours, fitted = _best_of(lambda: tree.DecisionTreeClassifier(**surrogate).fit(Xm, y),
                              repeat)
    t_r = rpart_seconds(Xm, y, repeat)
    rows.append({"task": f"fit with surrogates, 20% missing, {n:,} x 20, depth 10 "
                         f"({fitted.get_n_leaves():,} leaves; reference: R's rpart)",
                 "minprune": t_ours, "sklearn": t_r})
    Xq = X[: n // 2]
    t_ours, _ = _best_of(lambda: ours.predict(Xq), repeat)
    t_sk, _ = _best_of(lambda: theirs.predict(Xq), repeat)
    rows.append({"task": f"predict {len(Xq):,} samples", "minprune": t_ours, "sklearn": t_sk})
    if path:
        Xr, yr, _ = make_regression(n, 10, n_informative=5, noise=10.0, random_state=0)
        reg = tree.DecisionTreeRegressor(random_state=0).fit(Xr, yr)
        sk_reg = sk.DecisionTreeRegressor(random_state=0).fit(Xr, yr)
        tree.cost_complexity_path(reg)                      # compile outside the timing
        t_ours, _ = _best_of(lambda: tree.cost_complexity_path(reg), repeat)
        t0 = time.perf_counter()
        sk_reg.cost_complexity_pruning_path(Xr, yr)
        t_sk = time.perf_counter() - t0
        rows.append({"task": f"ccp path, regression tree of {reg.tree_.node_count:,} nodes",
                     "minprune": t_ours, "sklearn": t_sk})
    for r in rows:
        r["ratio"] = r["minprune"] / r["sklearn"]
    out(table(rows, [("task", "task", "{}"), ("minprune", "minprune s", "{:.3f}"),
                     ("sklearn", "reference s", "{:.3f}"),
                     ("ratio", "minprune/reference", "{:.3f}x")]))
    return rows
