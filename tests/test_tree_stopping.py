"""The pre-pruning trace: the builder records why every leaf stopped growing."""
import numpy as np

from minprune import tree
from minprune.data import make_classification
from minprune.tree.grow import (
    DECREASE,
    DEPTH,
    MAX_LEAVES,
    NO_SPLIT,
    PURE,
    SAMPLES,
    STOP_REASONS,
    WEIGHT,
)


def data():
    X, y = make_classification(400, 5, n_informative=3, flip_y=0.1, random_state=0)
    return np.round(X, 1), y


def reasons(est):
    t = est.tree_
    return t.stop_reason[t.is_leaf]


def test_each_rule_is_named_where_it_stopped_a_leaf():
    X, y = data()
    deep = tree.DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    depth = deep.tree_.depths()[deep.tree_.is_leaf]
    r = reasons(deep)
    assert (r[depth == 3] == DEPTH).sum() > 0
    assert set(r[depth == 3]) <= {DEPTH, PURE}
    assert set(r[depth < 3]) <= {PURE, NO_SPLIT}

    split = tree.DecisionTreeClassifier(min_samples_split=60, random_state=0).fit(X, y)
    small = split.tree_.n_node_samples[split.tree_.is_leaf] < 60
    assert set(reasons(split)[small]) <= {SAMPLES, PURE} and SAMPLES in reasons(split)

    decrease = tree.DecisionTreeClassifier(min_impurity_decrease=0.01, random_state=0).fit(X, y)
    assert DECREASE in reasons(decrease)
    leaves = tree.DecisionTreeClassifier(max_leaf_nodes=6, random_state=0).fit(X, y)
    assert MAX_LEAVES in reasons(leaves) and leaves.get_n_leaves() == 6
    weight = tree.DecisionTreeClassifier(min_weight_fraction_leaf=0.2, random_state=0).fit(X, y)
    assert set(reasons(weight)) & {WEIGHT, NO_SPLIT}
    full = tree.DecisionTreeClassifier(random_state=0).fit(X, y)   # grown until it could not
    assert set(reasons(full)) <= {SAMPLES, PURE, NO_SPLIT}
    single = full.tree_.n_node_samples[full.tree_.is_leaf] == 1    # checked before purity
    assert set(reasons(full)[single]) == {SAMPLES}


def test_the_trace_reads_as_sentences_and_pruning_is_named():
    X, y = data()
    est = tree.DecisionTreeClassifier(max_depth=4, random_state=0).fit(X, y)
    rows = tree.stopping_trace(est)
    assert len(rows) == est.get_n_leaves()
    assert {r["why"] for r in rows} <= set(STOP_REASONS)
    assert all(r["depth"] <= 4 for r in rows)
    path = tree.cost_complexity_path(est)
    pruned = tree.prune_ccp(est, float(path.ccp_alphas[-2]))
    assert "pruned after growth" in {r["why"] for r in tree.stopping_trace(pruned)}
    raised = tree.prune_error_based(est, X=X, y=y, subtree_raising=True)
    assert all(r["why"] != "split" for r in tree.stopping_trace(raised))
