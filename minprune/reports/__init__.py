"""The reports of the studies: one writer (``writer.Report``: report.md and results.json) and
the network and tree reports written with it, shared by ``minprune demo``, ``prune``, ``tree``
and ``sweep``."""
