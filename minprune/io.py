"""Save and load models (and, with the same format, trees) as one ``.npz``, atomically.

A file holds a JSON description (what to build) under ``__minprune__`` and plain arrays
(``param/<name>``, ``buffer/<name>``, ``mask/<name>``). Loading never unpickles
(``allow_pickle=False``), so a file can carry data but never code. Writes are atomic
(``minprune.files``): an interrupted save leaves the old file or none, never half of one.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .files import atomic_write, write_npz_atomic
from .nn import gates, layers
from .nn.blocks import Residual
from .nn.module import Module, Sequential
from .prune.masks import set_masks

FORMAT = "minprune"
FORMAT_VERSION = 1


# --- models ----------------------------------------------------------------------------------

def _layer_classes():
    """The layer types a saved model may contain, by name."""
    return {name: cls for module in (layers, gates) for name, cls in vars(module).items()
            if isinstance(cls, type) and issubclass(cls, Module)
            and cls.__module__ == module.__name__ and not name.startswith("_")}


def _describe(model):
    if not isinstance(model, Sequential):
        raise TypeError(f"save takes a Sequential model or a fitted tree, got "
                        f"{type(model).__name__}")
    return {"kind": "sequential", "layers": _layers(model, "")}


def _layers(sequence, where):
    """The description of a Sequential's layers; blocks nest their branches."""
    known, out = _layer_classes(), []
    for i, m in enumerate(sequence):
        if isinstance(m, Residual):
            out.append({"type": "Residual", "body": _layers(m.body, f"{where}{i}.body."),
                        "shortcut": None if m.identity
                        else _layers(m.shortcut, f"{where}{i}.shortcut.")})
        elif type(m) is Sequential:
            out.append({"type": "Sequential", "layers": _layers(m, f"{where}{i}.")})
        elif known.get(type(m).__name__) is type(m):
            out.append({"type": type(m).__name__, "config": m.config()})
        else:
            raise TypeError(f"save cannot store layer {where}{i} ({type(m).__name__}): the "
                            f"layer types it can rebuild are "
                            f"{', '.join(sorted(known) + ['Residual', 'Sequential'])}")
    return out


def _build(description):
    return _build_layers(description["layers"])


def _build_layers(specs):
    known = _layer_classes()
    built = []
    for spec in specs:
        if spec["type"] == "Residual":
            shortcut = spec.get("shortcut")
            built.append(Residual(_build_layers(spec["body"]),
                                  None if shortcut is None else _build_layers(shortcut)))
        elif spec["type"] == "Sequential":
            built.append(_build_layers(spec["layers"]))
        elif spec["type"] in known:
            built.append(known[spec["type"]](**spec["config"]))
        else:
            raise ValueError(f"unknown layer type {spec['type']!r} in the file")
    return Sequential(*built)


def save(obj, path, meta=None):
    """Write a model (``Sequential``) or a fitted decision tree to ``path`` (``.npz``).

    Parameters, BatchNorm buffers and pruning masks are stored; the round trip is exact.
    ``meta``: a dict of plain values stored beside them (``minprune train`` records the
    model's name and its dataset), read back by ``read_meta``.
    """
    if hasattr(obj, "to_state"):                             # a fitted decision tree
        description, arrays = obj.to_state()
    else:
        description = _describe(obj)
        arrays = {f"param/{n}": p.data for n, p in obj.named_parameters()}
        arrays.update((f"buffer/{n}", np.asarray(b)) for n, b in obj.named_buffers())
        arrays.update((f"mask/{n}", p.mask) for n, p in obj.named_parameters()
                      if p.mask is not None)
    header = {"format": FORMAT, "version": FORMAT_VERSION, **description}
    if meta is not None:
        header["meta"] = dict(meta)
    arrays["__minprune__"] = np.array(json.dumps(header))
    write_npz_atomic(path, **arrays)


def read_meta(path):
    """The ``meta`` dict ``save`` stored in ``path`` ({} when it stored none, and for an ONNX
    file); ValueError for a file that is not minprune's."""
    path = os.fspath(path)
    if path.lower().endswith(".onnx"):
        return {}
    try:
        with np.load(path, allow_pickle=False) as f:
            header = json.loads(str(f["__minprune__"])) if "__minprune__" in f.files else None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a readable minprune file (corrupt or truncated?): "
                         f"{exc}") from None
    if header is None:
        raise ValueError(f"{path} is an .npz file but not one written by minprune.save")
    return header.get("meta", {})


def load(path):
    """Read what ``save`` wrote: a model, or a fitted decision tree; a ``.onnx`` file is read
    by ``from_onnx``.

    Raises FileNotFoundError for a missing file and ValueError, naming the file, for anything
    that is not a complete minprune file (corrupt, truncated, or some other ``.npz``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if path.lower().endswith(".onnx"):
        return from_onnx(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable minprune file (corrupt or truncated?): "
                         f"{exc}") from None
    if not isinstance(arrays, dict) or "__minprune__" not in arrays:
        raise ValueError(f"{path} is an .npz file but not one written by minprune.save")
    try:
        header = json.loads(str(arrays.pop("__minprune__")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: damaged minprune header ({exc})") from None
    if header.get("format") != FORMAT or header.get("version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format {header.get('format')!r} version "
                         f"{header.get('version')!r}")
    if header.get("kind") == "tree":
        from .tree.estimator import from_state  # lazy: trees load on first use
        return from_state(header, arrays)
    if header.get("kind") != "sequential":
        raise ValueError(f"{path}: unknown kind {header.get('kind')!r}")
    model = _build(header)
    state = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(("param/",
                                                                                "buffer/"))}
    try:
        model.load_state_dict(state)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: the arrays do not fit the architecture: {exc}") from None
    for name, p in model.named_parameters():
        p.data = arrays[f"param/{name}"].copy()             # exact dtype and bits
    set_masks(model, {name: arrays.get(f"mask/{name}") for name, _ in model.named_parameters()})
    return model


# --- ONNX ------------------------------------------------------------------------------------

def to_onnx(model, path, *, compact=False, opset=None, force=False):
    """Write ``model`` (in evaluation mode) to ``path`` as ONNX, with the ``onnx`` package
    alone (``pip install -e ".[onnx]"``): masks baked in, BatchNorm folded into the layer
    before it, residual blocks as their branches and an Add (``infer.onnx``); a fitted
    decision tree as an ONNX-ML tree ensemble (``tree.onnx_export``; "parameters" then counts
    its nodes). ``compact``:
    delete pruned units, filters and blocks first (``prune.compact``). The file is written
    atomically, readable by everyone (0644 under the usual umask); an existing file is kept
    unless ``force``. Returns {"path", "bytes", "nonzeros", "parameters"}."""
    from .infer import onnx as export  # lazy: the onnx package is an extra
    from .prune import compact as compacted  # lazy: io is imported by prune's modules
    from .tree import onnx_export as tree_export  # lazy: the onnx package is an extra
    path = os.fspath(path)
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it")
    if hasattr(model, "tree_"):                          # a fitted decision tree
        proto = tree_export.to_model(model)
        data = proto.SerializeToString()
        atomic_write(path, lambda f: f.write(data))
        return {"path": path, "bytes": len(data), "nonzeros": None,
                "parameters": int(len(model.tree_.children_left))}
    if compact:
        model = compacted(model)
    proto = export.to_model(model, **({} if opset is None else {"opset": opset}))
    data = proto.SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    weights = [np.frombuffer(t.raw_data, dtype=np.float32 if t.data_type == 1 else np.float64)
               for t in proto.graph.initializer]
    return {"path": path, "bytes": len(data),
            "nonzeros": int(sum(np.count_nonzero(w) for w in weights)),
            "parameters": int(sum(w.size for w in weights))}


def from_onnx(path):
    """The network an ONNX file describes, as a minprune ``Sequential`` in evaluation mode
    (the operators minprune can represent: ``nn.onnx_import``); ValueError naming the file and
    the node for anything else, for a damaged file or an unsupported opset."""
    from .nn.onnx_import import from_onnx as read  # lazy: the onnx package is an extra
    return read(path)
