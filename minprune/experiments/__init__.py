"""Experiments as pure functions of a config: the network study (train or load, prune to each
sparsity, fine-tune, measure) and the tree study (grow, pre-prune, post-prune). The commands
``demo``, ``prune`` and ``tree`` parse their arguments into a config, run a study, and report."""
from .network import NetworkConfig, NetworkStudy, network_study
from .trees import TreeConfig, TreeStudy, tree_study

__all__ = ["NetworkConfig", "NetworkStudy", "network_study", "TreeConfig", "TreeStudy",
           "tree_study"]
