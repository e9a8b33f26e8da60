"""``python -m minprune`` runs the command-line interface."""
import sys

try:
    from .cli import main
    code = main()
except KeyboardInterrupt:                 # also during start-up, before main's own handler
    print("minprune: interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
