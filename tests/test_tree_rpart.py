"""missing="surrogate" against R's rpart (Debian's r-base-core and r-cran-rpart; skipped without
R, required in CI): the same nodes in the same order, primary splits, improvements, surrogates
with their agreement, adjusted agreement and counts, predictions on rows with holes, and the CP
table, on iris, wine and breast_cancer with values removed at random and on R's airquality
(genuine missing values)."""
import os
import shutil
import subprocess

import numpy as np
import pytest
from helpers import require

from minprune import tree

R_SCRIPT = r"""
suppressMessages(library(rpart))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
test <- read.csv(args[2])
p <- as.numeric(strsplit(args[4], ",")[[1]])
method <- args[5]
if (method == "class") d$y <- factor(d$y)
ctl <- rpart.control(minsplit = p[1], minbucket = p[2], maxdepth = p[3], maxsurrogate = p[4],
                     cp = -1, xval = 0, maxcompete = 0, usesurrogate = 2)
fit <- rpart(y ~ ., data = d, method = method, control = ctl,
             parms = if (method == "class") list(split = args[6]) else NULL)
out <- args[3]
f <- fit$frame
write.csv(data.frame(var = as.character(f$var), n = f$n, nsurrogate = f$nsurrogate),
          paste0(out, "_frame.csv"), row.names = FALSE)
s <- fit$splits
if (is.null(s)) s <- matrix(numeric(0), 0, 5,
                            dimnames = list(NULL, c("count", "ncat", "improve", "index", "adj")))
write.csv(data.frame(var = rownames(s), s), paste0(out, "_splits.csv"), row.names = FALSE)
pred <- if (method == "class") predict(fit, test, type = "prob") else predict(fit, test)
write.csv(pred, paste0(out, "_pred.csv"), row.names = FALSE)
write.csv(fit$cptable, paste0(out, "_cp.csv"), row.names = FALSE)
"""


@pytest.fixture(scope="module")
def rscript(tmp_path_factory):
    path = shutil.which("Rscript")
    if path is None:
        if os.environ.get("MINPRUNE_REQUIRE_ORACLES") == "1":
            pytest.fail("oracle R (Rscript, with the rpart package) is required "
                        "(MINPRUNE_REQUIRE_ORACLES=1) but is not installed")
        pytest.skip("oracle R is not installed")
    script = tmp_path_factory.mktemp("r") / "fit.R"
    script.write_text(R_SCRIPT)
    return path, script


def write(path, X, y=None):
    cols = [f"x{i}" for i in range(X.shape[1])]
    lines = [",".join(cols + (["y"] if y is not None else []))]
    for i, row in enumerate(X):
        cells = ["NA" if np.isnan(v) else repr(float(v)) for v in row]
        if y is not None:
            cells.append(repr(float(y[i])) if np.asarray(y).dtype.kind == "f" else str(y[i]))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def rpart_fit(rscript, tmp_path, X, y, X_test, method, minsplit, minbucket, maxdepth, maxsur,
              split="gini"):
    write(tmp_path / "train.csv", X, y)
    write(tmp_path / "test.csv", X_test)
    out = str(tmp_path / "out")
    done = subprocess.run([rscript[0], str(rscript[1]), str(tmp_path / "train.csv"),
                           str(tmp_path / "test.csv"), out,
                           f"{minsplit},{minbucket},{maxdepth},{maxsur}", method, split],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import csv
    read = lambda name: list(csv.DictReader(open(f"{out}_{name}.csv")))
    return read("frame"), read("splits"), read("pred"), read("cp")


def compare(ours, frame, splits, pred, X_test, classify):
    """Node for node (both in rpart's order), split rows in order, predictions."""
    t = ours.tree_
    assert t.node_count == len(frame)
    table = {r["node"]: r for r in ours.split_trace_}
    rows = iter(splits)
    for node, rec in enumerate(frame):
        assert int(rec["n"]) == t.n_node_samples[node], f"node {node}: n"
        if rec["var"] == "<leaf>":
            assert t.children_left[node] == -1, f"node {node}: rpart has a leaf"
            continue
        mine = table[node]
        primary = next(rows)
        assert primary["var"] == f"x{mine['feature']}", f"node {node}: primary variable"
        assert int(primary["count"]) == mine["count"]
        assert int(float(primary["ncat"])) == mine["direction"]
        assert float(primary["index"]) == pytest.approx(mine["threshold"], rel=1e-12)
        assert float(primary["improve"]) == pytest.approx(mine["improve"], rel=1e-9)
        assert int(rec["nsurrogate"]) == len(mine["surrogates"]), f"node {node}: surrogates"
        for s in mine["surrogates"]:
            theirs = next(rows)
            assert theirs["var"] == f"x{s['feature']}", f"node {node}: surrogate variable"
            assert float(theirs["index"]) == pytest.approx(s["threshold"], rel=1e-12)
            assert int(float(theirs["ncat"])) == s["direction"]
            assert float(theirs["improve"]) == pytest.approx(s["agree"], rel=1e-12)
            assert float(theirs["adj"]) == pytest.approx(s["adj"], rel=1e-9, abs=1e-12)
            assert int(theirs["count"]) == s["count"], f"node {node}: surrogate count"
    got = ours.predict_proba(X_test) if classify else ours.predict(X_test)
    expected = np.array([[float(v) for v in r.values()] for r in pred])
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=1e-12, atol=1e-12)


def with_holes(X, rate, seed):
    X = X.astype(np.float64).copy()
    rng = np.random.default_rng(seed)
    X[rng.random(X.shape) < rate] = np.nan
    return X


CONTROLS = [(2, 1, 30, 5), (20, 7, 30, 5), (10, 3, 4, 2), (6, 2, 30, 0)]


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: "-".join(map(str, c)))
def test_classification_with_surrogates_equals_rpart(rscript, tmp_path, name, control):
    datasets = require("sklearn.datasets")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    for rate, seed in ((0.1, 0), (0.3, 1)):
        Xh = with_holes(X, rate, seed)
        X_test = with_holes(X, 0.3, seed + 10)
        minsplit, minbucket, maxdepth, maxsur = control
        frame, splits, pred, _ = rpart_fit(rscript, tmp_path, Xh, y, X_test, "class",
                                           *control)
        ours = tree.DecisionTreeClassifier(missing="surrogate", min_samples_split=minsplit,
                                           min_samples_leaf=minbucket, max_depth=maxdepth,
                                           max_surrogate=maxsur).fit(Xh, y)
        compare(ours, frame, splits, pred, X_test, True)


def test_information_splits_equal_rpart(rscript, tmp_path):
    datasets = require("sklearn.datasets")
    X, y = datasets.load_wine(return_X_y=True)
    Xh = with_holes(X, 0.2, 3)
    frame, splits, pred, _ = rpart_fit(rscript, tmp_path, Xh, y, Xh, "class", 2, 1, 30, 5,
                                       "information")
    ours = tree.DecisionTreeClassifier(criterion="entropy", missing="surrogate").fit(Xh, y)
    compare(ours, frame, splits, pred, Xh, True)


def airquality():
    """R's airquality (New York, May-September 1973): Ozone from Solar.R, Wind, Temp, Month,
    Day; Solar.R has genuine missing values. Read from R itself; rows without Ozone dropped
    (rpart drops a missing response)."""
    done = subprocess.run([shutil.which("Rscript"), "-e", "write.csv(airquality, stdout(), "
                           "row.names = FALSE)"], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()[1:]
    data = np.array([[np.nan if v == "NA" else float(v) for v in line.split(",")]
                     for line in lines])
    keep = ~np.isnan(data[:, 0])
    return data[keep, 1:], data[keep, 0]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: "-".join(map(str, c)))
def test_regression_on_airquality_equals_rpart(rscript, tmp_path, control):
    X, y = airquality()
    assert np.isnan(X).any()                      # Solar.R is missing in 5 of these rows
    X_test = with_holes(X, 0.3, 5)
    frame, splits, pred, cp = rpart_fit(rscript, tmp_path, X, y, X_test, "anova", *control)
    minsplit, minbucket, maxdepth, maxsur = control
    ours = tree.DecisionTreeRegressor(missing="surrogate", min_samples_split=minsplit,
                                      min_samples_leaf=minbucket, max_depth=maxdepth,
                                      max_surrogate=maxsur).fit(X, y)
    compare(ours, frame, splits, pred, X_test, False)


def test_the_cp_table_equals_rpart(rscript, tmp_path):
    """rpart's CP, nsplit and rel error: the weakest-link path of the surrogate tree with
    misclassification risk (``cost_complexity_path(risk="error")``), alphas and risks divided by
    the root's risk. rpart lists each subtree once, with the alpha at which it is cut back (the
    smallest subtree at alpha 0 as CP 0, the full tree as its own cp, -1 here)."""
    datasets = require("sklearn.datasets")
    X, y = datasets.load_breast_cancer(return_X_y=True)
    Xh = with_holes(X, 0.2, 7)
    _, _, _, cp = rpart_fit(rscript, tmp_path, Xh, y, Xh, "class", 20, 7, 30, 5)
    ours = tree.DecisionTreeClassifier(missing="surrogate", min_samples_split=20,
                                       min_samples_leaf=7).fit(Xh, y)
    path = tree.cost_complexity_path(ours, risk="error")
    root = path.impurities[-1]
    by_leaves = {int(n): (a / root, r / root) for a, n, r in
                 zip(path.ccp_alphas, path.n_leaves, path.impurities)}
    rows = [(float(r["CP"]), int(float(r["nsplit"])), float(r["rel error"])) for r in cp]
    assert len(rows) >= 4
    for c, nsplit, rel in rows:
        alpha, risk = by_leaves[nsplit + 1]
        assert risk == pytest.approx(rel, rel=1e-12)
        if c > 0:
            assert alpha == pytest.approx(c, rel=1e-12)
        elif c == 0:
            assert alpha == 0 and nsplit + 1 == min(n for n, (a, _) in by_leaves.items()
                                                    if a == 0)
        else:
            assert nsplit + 1 == ours.get_n_leaves()


def test_surrogate_parameters_are_checked():
    X = np.random.default_rng(0).random((30, 3))
    y = np.arange(30) % 2
    with pytest.raises(ValueError, match="missing must be one of side, surrogate"):
        tree.DecisionTreeClassifier(missing="mean").fit(X, y)
    with pytest.raises(ValueError, match="max_features=2 has no counterpart in rpart"):
        tree.DecisionTreeClassifier(missing="surrogate", max_features=2).fit(X, y)
    with pytest.raises(ValueError, match="max_surrogate must be an integer >= 0"):
        tree.DecisionTreeClassifier(missing="surrogate", max_surrogate=-1).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight is not supported"):
        tree.DecisionTreeClassifier(missing="surrogate").fit(X, y, np.ones(30))


def test_a_surrogate_tree_saves_prunes_and_prints(tmp_path):
    from minprune import io
    from minprune.tree.methods import POST_PRUNERS
    datasets = require("sklearn.datasets")
    X, y = datasets.load_wine(return_X_y=True)
    Xh = with_holes(X, 0.25, 9)
    est = tree.DecisionTreeClassifier(missing="surrogate", min_samples_split=10,
                                      min_samples_leaf=3).fit(Xh, y)
    io.save(est, tmp_path / "t.npz")
    again = io.load(tmp_path / "t.npz")
    np.testing.assert_array_equal(again.predict_proba(Xh), est.predict_proba(Xh))
    assert "(surrogates: " in tree.export_text(est)
    for name, method in POST_PRUNERS.items():
        pruned, _ = method.run(est, (Xh, y), (Xh, y), np.random.default_rng(0))
        assert pruned.get_n_leaves() <= est.get_n_leaves(), name
        assert np.isfinite(pruned.predict_proba(Xh)).all(), name
        assert pruned.tree_.surrogate_start[-1] <= est.tree_.surrogate_start[-1]
    with pytest.raises(ValueError, match="no surrogate splits"):
        from minprune.tree.onnx_export import to_model
        to_model(est)
