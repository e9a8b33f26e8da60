"""The tree study's report, shared by ``minprune demo`` and ``minprune tree``: figures and a
paragraph written from the numbers (the study itself is ``experiments.tree_study``)."""
from __future__ import annotations

from .. import tree, viz
from ..tree.methods import POST_PRUNERS

COLUMNS = [("method", "tree", "{}"), ("leaves", "leaves", "{:,}"), ("depth", "depth", "{:d}"),
           ("train", "train score", "{:.4f}"), ("test", "test score", "{:.4f}"),
           ("over", "over-pruned", "{}"), ("under", "under-pruned", "{}")]


def figures(report, study, feature_names=None):
    """The cost-complexity figure (CV error and path) and the cost-complexity pruned tree
    (the smallest tree without ccp); returns the tree drawn."""
    full = study.trees["full tree"]
    viz.ccp_path(tree.cost_complexity_path(full), study.cv_table, study.alpha,
                 report.path("ccp_path.png"))
    final = study.trees.get(POST_PRUNERS["ccp"].label) or min(study.trees.values(),
                                                               key=lambda e: e.get_n_leaves())
    viz.tree_figure(final, report.path("pruned_tree.png"), feature_names)
    return final


def paragraph(rows):
    full = rows[0]
    best = max(rows[1:], key=lambda r: (r["test"], -r["leaves"]))
    smallest = min(rows[1:], key=lambda r: r["leaves"])
    text = (f"The full tree fits the training data ({full['train']:.4f}) with "
            f"{full['leaves']} leaves but scores {full['test']:.4f} on test data: it has "
            f"memorised label noise. The {best['method']} tree does best on test data "
            f"({best['test']:.4f}, {best['leaves']} leaves)")
    if smallest is best:
        text += " and is also the smallest."
    else:
        text += (f"; the {smallest['method']} tree is the smallest ({smallest['leaves']} "
                 f"leaves, test {smallest['test']:.4f}).")
    return text + (" The yardstick is the optimally pruned tree, the smallest pruning of the "
                   "full tree with the best test score (Esposito et al. 1997): over-pruned "
                   "counts the splits a method cut that it keeps, under-pruned the splits a "
                   "method kept that it cuts.")


__all__ = ["figures", "paragraph", "COLUMNS"]
