"""``minprune export``: a saved model as an ONNX file that ONNX Runtime and other runtimes load."""
from __future__ import annotations

from .common import UsageError, check_readable, usage


def add_arguments(p):
    p.add_argument("model", help="a model or fitted tree saved by minprune (train, prune, "
                                 "io.save)")
    p.add_argument("--onnx", required=True, help="the ONNX file to write")
    p.add_argument("--compact", action="store_true",
                   help="delete pruned units, filters and blocks first (a smaller network)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (13-21; default 17)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def run(args, out=print):
    from .. import io  # lazy: at run time, not for --help
    check_readable(args.model, "model")
    model = usage(io.load, args.model)
    try:
        info = io.to_onnx(model, args.onnx, compact=args.compact, opset=args.opset,
                          force=args.force)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot export {args.model}: {exc}") from None
    if info["nonzeros"] is None:
        out(f"wrote {info['path']}: {info['bytes']:,} bytes, a tree of {info['parameters']:,} "
            f"nodes")
    else:
        out(f"wrote {info['path']}: {info['bytes']:,} bytes, {info['parameters']:,} "
            f"parameters of which {info['nonzeros']:,} nonzero"
            f"{' (compacted first)' if args.compact else ''}")
    return 0
