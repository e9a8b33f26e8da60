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
from ..prune.criteria import CRITERIA, REGISTRY, check
from ..prune.groups import PATTERNS
from .network import MODELS
from .run import build

SECTIONS = {
    "model": {"name": "lenet_300_100", "hidden": [300, 100], "load": None},
    "data": {"dataset": "glyph-digits", "n_train": None, "n_test": None},
    "train": {"epochs": 3, "lr": 0.05, "batch_size": 64},
    "grid": {"methods": None, "criteria": ["magnitude"], "granularities": ["weight"],
             "scopes": ["global"], "schedules": ["one-shot"], "sparsities": [0.5, 0.8, 0.9],
             "finetune_epochs": [1], "seeds": [0], "calibrations": [512]},
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


REQUIRED = ("model", "data", "train", "grid")        # [latency] may be left to its defaults


def validate(raw):
    """The spec with defaults filled in, every section, key and value checked."""
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise SpecError(f"unknown section [{unknown[0]}]; the sections are "
                        f"{', '.join(SECTIONS)}")
    missing = [s for s in REQUIRED if s not in raw]
    if missing:
        raise SpecError(f"the spec has no [{missing[0]}] section; a spec names "
                        f"{', '.join(f'[{s}]' for s in REQUIRED)} ([latency] is optional)")
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
    if "name" in raw["model"] and "load" in raw["model"]:
        raise SpecError("give model.name or model.load, not both")
    _check_values(spec)
    return spec


def _fail(key, value, allowed):
    raise SpecError(f"{key} = {value!r} is not allowed; {allowed}")


def _int(minimum):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
            f"give an integer >= {minimum}")


def _one_of(names, extra=""):
    return (lambda v: isinstance(v, str) and v in names,
            f"choose from {', '.join(names)}{extra}")


def _granularity(v):
    if v in GRANULARITIES:
        return True
    try:
        return patterns.parse(v) is not None
    except ValueError:
        return False


def _dataset(v):
    return isinstance(v, str) and (v in DATASETS or v.split(":")[0] in ("mnist", "fashion"))


GRANULARITY = (_granularity, f"choose from {', '.join(GRANULARITIES)}, {PATTERNS}")
# key -> (test of one value, what is allowed); a list key's test is that of each item
VALUES = {
    "model.name": _one_of(MODELS),
    "model.hidden": _int(1),
    "model.load": (lambda v: isinstance(v, str) and v != "", "give the path of a model file"),
    "data.dataset": (_dataset, f"choose from {', '.join(DATASETS)}, mnist:PATH, fashion:PATH"),
    "data.n_train": _int(2), "data.n_test": _int(2),
    "train.epochs": _int(1), "train.batch_size": _int(1),
    "train.lr": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
                 "give a positive number"),
    "grid.criteria": _one_of(CRITERIA), "grid.granularities": GRANULARITY,
    "grid.scopes": _one_of(SCOPES),
    "grid.schedules": (lambda v: _schedule(v) is not None,
                       f"choose from {', '.join(SCHEDULES)} (N a positive integer)"),
    "grid.sparsities": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                        and 0 < v < 1, "give numbers in (0, 1)"),
    "grid.finetune_epochs": _int(0), "grid.seeds": _int(0), "grid.calibrations": _int(1),
    "grid.methods": (lambda v: isinstance(v, dict), "each method is a table: { criterion = "
                     "..., granularity = ..., scope = ..., reconstruct = ... } (scope and "
                     "reconstruct optional)"),
    "latency.batches": _int(1), "latency.repeats": _int(1),
}
LISTS = {"model.hidden", "grid.criteria", "grid.granularities", "grid.scopes",
         "grid.schedules", "grid.sparsities", "grid.finetune_epochs", "grid.seeds",
         "grid.calibrations", "grid.methods", "latency.batches"}
METHOD = {"criterion": _one_of(CRITERIA), "granularity": GRANULARITY,
          "scope": _one_of(SCOPES),
          "reconstruct": (lambda v: isinstance(v, bool), "give true or false"),
          "sparsities": VALUES["grid.sparsities"]}


def _check_values(spec):
    for key, (test, allowed) in VALUES.items():
        section, name = key.split(".")
        value = spec[section][name]
        if value is None:                      # a default the spec left alone
            continue
        if key in LISTS:
            _check_list(key, value, test, allowed)
        elif not test(value):
            _fail(key, value, allowed)
    for method in spec["grid"]["methods"] or ():
        _check_method(method)


def _check_list(key, value, test, allowed):
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key} must be a non-empty list, got {value!r}")
    for item in value:
        if not test(item):
            _fail(key, item, allowed)
    if key == "model.hidden":                  # [100, 100]: two layers of 100
        return
    seen = []
    for item in value:
        if item in seen:
            raise SpecError(f"{key} lists {item!r} twice; each value once (a repeated seed or "
                            f"sparsity would run the same runs twice)")
        seen.append(item)


def _check_method(method):
    bad = sorted(set(method) - set(METHOD))
    if bad:
        _fail("grid.methods", method, f"unknown key {bad[0]!r}; a method has criterion, "
              f"granularity, scope, reconstruct and sparsities")
    for key in ("criterion", "granularity"):
        if key not in method:
            _fail("grid.methods", method, f"a method needs a {key}")
    for key, (test, allowed) in METHOD.items():
        if key == "sparsities" and key in method:
            _check_list("grid.methods.sparsities", method[key], test, allowed)
        elif key in method and not test(method[key]):
            _fail(f"grid.methods.{key}", method[key], allowed)


def _schedule(text):
    name, _, steps = str(text).partition(":")
    if name == "iterative" and steps.isdigit() and int(steps) >= 1:
        return name, int(steps)
    if name in ("one-shot", "gradual", "lottery") and not steps:
        return name, 1
    return None


def parse_schedule(text):
    """("one-shot" | "iterative" | "gradual" | "lottery", steps)."""
    parsed = _schedule(text)
    if parsed is None:
        _fail("grid.schedules", text, VALUES["grid.schedules"][1])
    return parsed


# --- expansion -----------------------------------------------------------------------------

def canonical(config):
    """The config as canonical JSON: the same config, the same text, the same id."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def run_id(config):
    return hashlib.sha256(canonical(config).encode()).hexdigest()[:16]


DENSE_KEYS = ("model", "hidden", "load", "dataset", "n_train", "n_test", "epochs", "lr",
              "batch_size", "held_out", "seed")


def dense_config(spec, seed):
    """What the dense model depends on (the ``DENSE_KEYS``): model, data, recipe, the number
    of training samples held out for calibration (the largest calibration size), seed."""
    m, d, t = spec["model"], spec["data"], spec["train"]
    return {"model": m["name"], "hidden": list(m["hidden"]), "load": m["load"],
            "dataset": d["dataset"], "n_train": d["n_train"], "n_test": d["n_test"],
            "epochs": t["epochs"], "lr": t["lr"], "batch_size": t["batch_size"],
            "held_out": max(spec["grid"]["calibrations"]), "seed": seed}


def methods(spec):
    """(criterion, granularity, scope, reconstruct, sparsities) of the grid, then the random
    control for each (granularity, scope, sparsities) of the grid. A method's sparsities are
    its own ``sparsities`` when it gives them (2:4 at 0.5 only), else the grid's."""
    g = spec["grid"]
    everywhere = tuple(g["sparsities"])
    if g["methods"] is not None:
        grid = [(m["criterion"], m["granularity"], m.get("scope", "global"),
                 m.get("reconstruct", False), tuple(m.get("sparsities", everywhere)))
                for m in g["methods"]]
    else:
        grid = [(*c, False, everywhere) for c in itertools.product(
            g["criteria"], g["granularities"], g["scopes"])]
    grid = list(dict.fromkeys(grid))
    controls = [("random", gran, scope, False, levels) for _, gran, scope, _, levels in grid]
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
            for (criterion, granularity, scope, refit, levels), n_cal in itertools.product(
                    methods(spec), g["calibrations"]):
                if n_cal != g["calibrations"][0] and not _calibrated(criterion, refit):
                    continue                # the calibration size changes nothing
                runs.extend({**common, "kind": "prune", "criterion": criterion,
                             "granularity": granularity, "scope": scope,
                             "reconstruct": refit, "n_calibration": n_cal, "sparsity": s}
                            for s in levels)
    return [{"id": run_id(c), "config": c} for c in runs]


def _calibrated(criterion, reconstruct):
    return reconstruct or REGISTRY[criterion].needs_data


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
            if c["reconstruct"] and REGISTRY[c["criterion"]].updates_weights:
                raise ValueError(f"{c['criterion']} refits the kept weights itself; "
                                 f"drop reconstruct")
        except (ValueError, TypeError) as exc:
            raise SpecError(f"run {describe(c)} cannot be done: {exc}") from None


def describe(c):
    """A run in one line."""
    if c["kind"] == "control":
        return (f"dense control ({c['schedule']}, {c['finetune_epochs']} ft epochs, "
                f"seed {c['seed']})")
    steps = f":{c['steps']}" if c["schedule"] == "iterative" else ""
    refit = "+reconstruct" if c.get("reconstruct") else ""
    calibrated = (f" cal{c['n_calibration']}"
                  if _calibrated(c["criterion"], c.get("reconstruct")) else "")
    return (f"{c['criterion']}{refit}/{c['granularity']}/{c['scope']} {c['schedule']}{steps} "
            f"{100 * c['sparsity']:.10g}% ft{c['finetune_epochs']}{calibrated} seed {c['seed']}")
