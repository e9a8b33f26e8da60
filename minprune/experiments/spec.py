"""A sweep spec: TOML -> validated spec -> the list of runs, each a canonical config with an id
(a hash of the config), controls included.

The spec names the model, the data, the training recipe and the grid (methods x schedules x
sparsities x fine-tune epochs x seeds). Everything is checked before any work: an unknown key
or value is refused naming the key and the allowed values; a run the library cannot do
(filter granularity on an MLP) is refused naming the run. Two controls join every sweep: the
dense model fine-tuned exactly like the pruned ones, and random pruning at every sparsity,
granularity and scope of the grid.
"""
from __future__ import annotations

import hashlib
import itertools
import json

from ..data import DATASETS
from ..prune import GRANULARITIES, SCOPES, patterns
from ..prune.criteria import CRITERIA, check
from ..prune.groups import PATTERNS
from .network import MODELS
from .run import build

SECTIONS = {
    "model": {"name": "lenet_300_100", "hidden": [300, 100], "load": None},
    "data": {"dataset": "glyph-digits", "n_train": None, "n_test": None},
    "train": {"epochs": 3, "lr": 0.05, "batch_size": 64},
    "grid": {"methods": None, "criteria": ["magnitude"], "granularities": ["weight"],
             "scopes": ["global"], "schedules": ["one-shot"], "sparsities": [0.5, 0.8, 0.9],
             "finetune_epochs": [1], "seeds": [0]},
    "latency": {"batches": [1, 64], "repeats": 30},
}
SCHEDULES = ("one-shot", "iterative:N", "gradual", "lottery")


class SpecError(ValueError):
    """A spec that cannot run; the message names the key (or the run) and what is allowed."""


def load(path):
    """Read and validate the TOML file at ``path``; returns the spec (a dict of sections)."""
    try:
        import tomllib
    except ModuleNotFoundError:                       # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise SpecError(f"cannot read the spec {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path} is not valid TOML: {exc}") from None
    return validate(raw)


def validate(raw):
    """The spec with defaults filled in, every key and value checked."""
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise SpecError(f"unknown section [{unknown[0]}]; the sections are "
                        f"{', '.join(SECTIONS)}")
    spec = {}
    for section, defaults in SECTIONS.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise SpecError(f"[{section}] must be a table of keys")
        bad = sorted(set(given) - set(defaults))
        if bad:
            raise SpecError(f"unknown key {section}.{bad[0]}; the keys of [{section}] are "
                            f"{', '.join(defaults)}")
        spec[section] = {**defaults, **given}
    _check_values(spec)
    return spec


def _pattern(key, value):
    """Whether ``value`` is an N:M or block granularity (for the granularity keys)."""
    if key != "granularities":
        return False
    try:
        return patterns.parse(value) is not None
    except ValueError:
        return False


def _fail(key, value, allowed):
    raise SpecError(f"{key} = {value!r} is not allowed; {allowed}")


def _check_values(spec):
    m, d, t, g, lat = (spec[s] for s in SECTIONS)
    if m["load"] is None and m["name"] not in MODELS:
        _fail("model.name", m["name"], f"choose from {', '.join(MODELS)}")
    if not _ints(m["hidden"], 1):
        _fail("model.hidden", m["hidden"], "give a list of positive integers")
    if not (d["dataset"] in DATASETS or d["dataset"].split(":")[0] in ("mnist", "fashion")):
        _fail("data.dataset", d["dataset"], f"choose from {', '.join(DATASETS)}")
    for key in ("n_train", "n_test"):
        if d[key] is not None and not _ints([d[key]], 2):
            _fail(f"data.{key}", d[key], "give an integer >= 2")
    if not _ints([t["epochs"]], 1) or not _ints([t["batch_size"]], 1):
        _fail("train.epochs / train.batch_size", (t["epochs"], t["batch_size"]),
              "give positive integers")
    if not isinstance(t["lr"], (int, float)) or not t["lr"] > 0:
        _fail("train.lr", t["lr"], "give a positive number")
    for key, allowed in (("criteria", CRITERIA), ("granularities", GRANULARITIES),
                         ("scopes", SCOPES)):
        for value in _list(g, key):
            if value not in allowed and not _pattern(key, value):
                _fail(f"grid.{key}", value, f"choose from {', '.join(allowed)}"
                      + (f", {PATTERNS}" if key == "granularities" else ""))
    if g["methods"] is not None:
        for method in _list(g, "methods"):
            if not isinstance(method, dict) or set(method) - {"criterion", "granularity",
                                                              "scope"}:
                _fail("grid.methods", method, "each method is a table with criterion, "
                      "granularity and scope")
            for key, allowed in (("criterion", CRITERIA), ("granularity", GRANULARITIES),
                                 ("scope", SCOPES)):
                value = method.get(key, "global" if key == "scope" else None)
                if value not in allowed and not _pattern(key + "s", value):
                    _fail(f"grid.methods.{key}", value, f"choose from {', '.join(allowed)}"
                          + (f", {PATTERNS}" if key == "granularity" else ""))
    for schedule in _list(g, "schedules"):
        parse_schedule(schedule)
    for s in _list(g, "sparsities"):
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 1:
            _fail("grid.sparsities", s, "give numbers in (0, 1)")
    if not _ints(_list(g, "finetune_epochs"), 0):
        _fail("grid.finetune_epochs", g["finetune_epochs"], "give integers >= 0")
    if not _ints(_list(g, "seeds"), 0):
        _fail("grid.seeds", g["seeds"], "give integers >= 0")
    if not _ints(_list(lat, "batches"), 1) or not _ints([lat["repeats"]], 1):
        _fail("latency", lat, "batches: positive integers; repeats: a positive integer")


def _list(section, key):
    value = section[key]
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key} must be a non-empty list, got {value!r}")
    return value


def _ints(values, minimum):
    return all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum
               for v in values)


def parse_schedule(text):
    """("one-shot" | "iterative" | "gradual" | "lottery", steps)."""
    name, _, steps = str(text).partition(":")
    if name == "iterative" and steps.isdigit() and int(steps) >= 1:
        return name, int(steps)
    if name in ("one-shot", "gradual", "lottery") and not steps:
        return name, 1
    _fail("grid.schedules", text, f"choose from {', '.join(SCHEDULES)} (N a positive integer)")


# --- expansion -----------------------------------------------------------------------------

def canonical(config):
    """The config as canonical JSON: the same config, the same text, the same id."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def run_id(config):
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


DENSE_KEYS = ("model", "hidden", "load", "dataset", "n_train", "n_test", "epochs", "lr",
              "batch_size", "seed")


def dense_config(spec, seed):
    """What the dense model depends on (the ``DENSE_KEYS``): model, data, recipe, seed."""
    m, d, t = spec["model"], spec["data"], spec["train"]
    return {"model": m["name"], "hidden": list(m["hidden"]), "load": m["load"],
            "dataset": d["dataset"], "n_train": d["n_train"], "n_test": d["n_test"],
            "epochs": t["epochs"], "lr": t["lr"], "batch_size": t["batch_size"], "seed": seed}


def methods(spec):
    """(criterion, granularity, scope) of the grid, then the random control for each
    (granularity, scope) of the grid."""
    g = spec["grid"]
    if g["methods"] is not None:
        grid = [(m["criterion"], m["granularity"], m.get("scope", "global"))
                for m in g["methods"]]
    else:
        grid = list(itertools.product(g["criteria"], g["granularities"], g["scopes"]))
    grid = list(dict.fromkeys(grid))
    controls = [("random", gran, scope) for _, gran, scope in grid]
    return grid + [c for c in dict.fromkeys(controls) if c not in grid]


def expand(spec):
    """Every run of the sweep: ``[{"id", "config"}]``, controls included. ``config["kind"]`` is
    "prune" or "control" (the dense model fine-tuned like the pruned ones)."""
    g = spec["grid"]
    runs = []
    for seed in g["seeds"]:
        dense = dense_config(spec, seed)
        for schedule, ft in itertools.product(g["schedules"], g["finetune_epochs"]):
            name, steps = parse_schedule(schedule)
            common = {**dense, "schedule": name, "steps": steps, "finetune_epochs": ft,
                      "latency": dict(spec["latency"])}
            if name != "lottery":           # a lottery ticket retrains from scratch
                runs.append({**common, "kind": "control", "criterion": None,
                             "granularity": None, "scope": None, "sparsity": 0.0})
            for (criterion, granularity, scope), s in itertools.product(methods(spec),
                                                                        g["sparsities"]):
                runs.append({**common, "kind": "prune", "criterion": criterion,
                             "granularity": granularity, "scope": scope, "sparsity": s})
    return [{"id": run_id(c), "config": c} for c in runs]


def check_runs(spec, runs):
    """Refuse, naming the run, any run the library cannot do on this model."""
    models = {}
    for run in runs:
        c = run["config"]
        if c["kind"] != "prune":
            continue
        key = (c["model"], tuple(c["hidden"]), c["load"], c["dataset"])
        if key not in models:
            models[key] = build(c, probe=True)
        try:
            check(models[key], c["criterion"], c["granularity"], c["scope"])
        except (ValueError, TypeError) as exc:
            raise SpecError(f"run {describe(c)} cannot be done: {exc}") from None


def describe(c):
    """A run in one line."""
    if c["kind"] == "control":
        return (f"dense control ({c['schedule']}, {c['finetune_epochs']} ft epochs, "
                f"seed {c['seed']})")
    steps = f":{c['steps']}" if c["schedule"] == "iterative" else ""
    return (f"{c['criterion']}/{c['granularity']}/{c['scope']} {c['schedule']}{steps} "
            f"{100 * c['sparsity']:.10g}% ft{c['finetune_epochs']} seed {c['seed']}")
