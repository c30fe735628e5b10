"""Create or refresh the project's virtual environment (.venv) with nothing but the standard library.

Shared by scripts/test.py and scripts/demo.py so that both README commands work on a fresh machine
with only Python 3.11+. The install is redone only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".interview_kit-installed"


def ensure_venv(extra: str = "dev") -> Path:
    """Return the venv's bin folder, creating it and installing the package (editable) if needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 -- this script may be started by an older python3
        sys.exit(f"interview_kit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != digest:
        print(f"installing interview_kit[{extra}] into {VENV} (first run takes a minute)", flush=True)
        pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check"]
        subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([*pip, "install", "-q", "-e", f"{ROOT}[{extra}]"], check=True)
        STAMP.write_text(digest)
    return BIN


def run(argv: list[str]) -> int:
    """Run a command from the venv's bin folder in the project root and return its exit code."""
    return subprocess.run(argv, cwd=ROOT).returncode
