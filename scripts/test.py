"""Set up .venv and run the whole suite: ruff, then pytest on three workers, then the real-browser tests.

Three workers on a two-core machine: many tests spend much of their time waiting (a socket, a
subprocess, a notebook kernel starting), and a third worker fills those waits (70 s instead of 84 s
for the unit suite on a quiet 2-core machine, 2026-12-03).

Usage: python3 scripts/test.py [pytest args]   (pass -n 0 to run in one process, e.g. to debug)

The unit suite runs first and alone (it must stay fast). The real-browser tests (JupyterLab in
Debian's chromium driven by Playwright: tests/test_browser_panel.py, tests/test_browser_microphone.py)
are a separate step after it, in one process, and only when no pytest arguments were given (or with
IK_BROWSER_TESTS=1; IK_BROWSER_TESTS=0 leaves them out). They skip, saying why, where chromium or
Playwright is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import os
import sys
import time

from _venv import ensure_venv, run

BROWSER_TESTS = ["tests/test_browser_panel.py", "tests/test_browser_microphone.py"]

if __name__ == "__main__":
    bin_ = ensure_venv("dev")
    code = run([str(bin_ / "ruff"), "check", "."])
    if code:
        sys.exit(code)
    args = sys.argv[1:]
    workers = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args) else ["-n", "3"]
    named = any("test_browser_" in a for a in args)  # asked for by name: not left out of the unit run
    ignore = [] if named else [f"--ignore={path}" for path in BROWSER_TESTS]
    started = time.monotonic()
    code = run([str(bin_ / "python"), "-m", "pytest", *workers, *ignore, *args])
    print(f"pytest took {time.monotonic() - started:.0f} s", flush=True)
    wanted = os.environ.get("IK_BROWSER_TESTS", "1" if not args else "0") == "1"
    if code or not wanted:
        sys.exit(code)
    started = time.monotonic()
    code = run([str(bin_ / "python"), "-m", "pytest", "-n", "0", "-rs", *BROWSER_TESTS])
    print(f"browser tests took {time.monotonic() - started:.0f} s", flush=True)
    sys.exit(code)
