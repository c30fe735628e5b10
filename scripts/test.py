"""Set up .venv and run the whole suite: ruff, then pytest on two workers.

Usage: python3 scripts/test.py [pytest args]   (pass -n 0 to run in one process, e.g. to debug)
"""

from __future__ import annotations

import sys
import time

from _venv import ensure_venv, run

if __name__ == "__main__":
    bin_ = ensure_venv("dev")
    code = run([str(bin_ / "ruff"), "check", "."])
    if code:
        sys.exit(code)
    args = sys.argv[1:]
    workers = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) else ["-n", "2"]
    started = time.monotonic()
    code = run([str(bin_ / "python"), "-m", "pytest", *workers, *args])
    print(f"pytest took {time.monotonic() - started:.0f} s", flush=True)
    sys.exit(code)
