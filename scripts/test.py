"""Set up .venv and run the whole suite: ruff, then pytest. Usage: python3 scripts/test.py [pytest args]."""

from __future__ import annotations

import sys

from _venv import ensure_venv, run

if __name__ == "__main__":
    bin_ = ensure_venv("dev")
    code = run([str(bin_ / "ruff"), "check", "."])
    if code:
        sys.exit(code)
    sys.exit(run([str(bin_ / "python"), "-m", "pytest", *sys.argv[1:]]))
