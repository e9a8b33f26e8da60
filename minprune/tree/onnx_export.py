"""A fitted decision tree as ONNX-ML: ``TreeEnsembleClassifier`` (labels and class
probabilities) or ``TreeEnsembleRegressor`` (leaf means), written with the ``onnx`` package.

The tree sends a float32 feature value ``v`` left when ``v <= t`` for its float64 threshold
``t``; ONNX-ML compares float32 against float32. Every threshold is written as the largest
float32 not above ``t``, for which ``v <= t32`` holds exactly when ``v <= t`` for every float32
``v``: ONNX Runtime routes each sample to the same leaf as ``predict``, a missing value (NaN)
to the side ``missing_go_to_left`` names.
"""
from __future__ import annotations

import numpy as np

LEAF = -1


def _threshold32(t):
    """The largest float32 not above ``t``."""
    t32 = np.float32(t)
    return float(np.nextafter(t32, np.float32(-np.inf)) if t32 > t else t32)


def to_model(est):
    """The ``onnx.ModelProto`` of a fitted ``tree.DecisionTreeClassifier`` or
    ``DecisionTreeRegressor``; its input "x" is (batch, n_features) float32."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install -e ".[onnx]"') \
            from None
    t = est.tree_
    if len(t.surrogate_feature) or int(t.split_precision) == 64:
        raise ValueError("this tree was grown with missing='surrogate': ONNX-ML tree ensembles "
                         "compare float32 values and have no surrogate splits, so they cannot "
                         "route its rows as predict does; export a tree grown with "
                         "missing='side'")
    n = len(t.children_left)
    leaf = t.children_left == LEAF
    nodes = dict(nodes_treeids=[0] * n, nodes_nodeids=list(range(n)),
                 nodes_featureids=[int(f) if not is_leaf else 0
                                   for f, is_leaf in zip(t.feature, leaf)],
                 nodes_values=[_threshold32(v) if not is_leaf else 0.0
                               for v, is_leaf in zip(t.threshold, leaf)],
                 nodes_modes=["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf],
                 nodes_truenodeids=[int(c) if c != LEAF else 0 for c in t.children_left],
                 nodes_falsenodeids=[int(c) if c != LEAF else 0 for c in t.children_right],
                 nodes_missing_value_tracks_true=[int(m) if not is_leaf else 0
                                                  for m, is_leaf in zip(t.missing_go_to_left,
                                                                        leaf)])
    leaves = np.flatnonzero(leaf)
    n_features = int(est.n_features_in_)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_features])
    if hasattr(est, "classes_"):
        shares = t.value[leaves] / t.value[leaves].sum(axis=1, keepdims=True)
        k = len(est.classes_)
        labels = ({"classlabels_int64s": [int(c) for c in est.classes_]}
                  if np.asarray(est.classes_).dtype.kind in "iu"
                  else {"classlabels_strings": [str(c) for c in est.classes_]})
        classify = helper.make_node(
            "TreeEnsembleClassifier", ["x"], ["votes", "probabilities"], domain="ai.onnx.ml",
            class_treeids=[0] * (len(leaves) * k),
            class_nodeids=[int(i) for i in np.repeat(leaves, k)],
            class_ids=list(range(k)) * len(leaves),
            class_weights=[float(v) for v in shares.ravel()], post_transform="NONE",
            **labels, **nodes)
        # the label: each leaf's own majority class (predict's argmax, the lowest class on a
        # tie) as a second ensemble's leaf value, an exact small integer; ONNX Runtime's label
        # output decides a two-class tree by its own rule instead
        winner = helper.make_node(
            "TreeEnsembleRegressor", ["x"], ["winner"], domain="ai.onnx.ml", n_targets=1,
            target_treeids=[0] * len(leaves), target_nodeids=[int(i) for i in leaves],
            target_ids=[0] * len(leaves),
            target_weights=[float(np.argmax(t.value[i])) for i in leaves],
            aggregate_function="SUM", post_transform="NONE", **nodes)
        classes = np.asarray(est.classes_)
        constant = helper.make_tensor(
            "classes", TensorProto.INT64 if classes.dtype.kind in "iu" else TensorProto.STRING,
            [k], [int(c) for c in classes] if classes.dtype.kind in "iu"
            else [str(c).encode() for c in classes])
        node = [classify, winner,
                helper.make_node("Flatten", ["winner"], ["winner_flat"], axis=0),
                helper.make_node("Cast", ["winner_flat"], ["index_2d"], to=TensorProto.INT64),
                helper.make_node("Squeeze", ["index_2d", "zero"], ["index"]),
                helper.make_node("Gather", ["classes", "index"], ["label"], axis=0)]
        initializers = [constant, helper.make_tensor("zero", TensorProto.INT64, [1], [0])]
        label_type = TensorProto.INT64 if "classlabels_int64s" in labels \
            else TensorProto.STRING
        outputs = [helper.make_tensor_value_info("label", label_type, ["batch"]),
                   helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                 ["batch", k])]
    else:
        node = helper.make_node(
            "TreeEnsembleRegressor", ["x"], ["value"], domain="ai.onnx.ml", n_targets=1,
            target_treeids=[0] * len(leaves), target_nodeids=[int(i) for i in leaves],
            target_ids=[0] * len(leaves),
            target_weights=[float(v) for v in t.value[leaves, 0]], aggregate_function="SUM",
            post_transform="NONE", **nodes)
        node, initializers = [node], []
        outputs = [helper.make_tensor_value_info("value", TensorProto.FLOAT, ["batch", 1])]
    proto = helper.make_model(helper.make_graph(node, "minprune_tree", [x], outputs,
                                                initializers),
                              opset_imports=[helper.make_opsetid("", 17),
                                             helper.make_opsetid("ai.onnx.ml", 3)],
                              producer_name="minprune")
    onnx.checker.check_model(proto, full_check=True)
    return proto
