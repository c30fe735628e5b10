"""``python -m interview_kit``: the command line, with a Ctrl-C during its own import (or on the way
into `main`) ending quietly too."""

import sys

try:
    from interview_kit.cli import main

    code = main()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    code = 130
raise SystemExit(code)
