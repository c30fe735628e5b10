"""Set up .venv and run a full interview against the built-in emulator (no key, no sound card).

Usage: python3 scripts/demo.py [interview-kit demo options], e.g. --scenario slow-report.
"""

from __future__ import annotations

import sys

from _venv import ensure_venv, run

if __name__ == "__main__":
    bin_ = ensure_venv("dev")
    sys.exit(run([str(bin_ / "interview-kit"), "demo", *sys.argv[1:]]))
