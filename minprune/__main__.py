"""``python -m minprune`` runs the command-line interface."""
import sys

from .cli import main

try:
    code = main()
except KeyboardInterrupt:                 # also during start-up, before main's own handler
    print("minprune: interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
