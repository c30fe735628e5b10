"""Regenerate the sample session folders in data/sessions (and the demo transcripts in data/transcripts).

Every sample is recorded by `interview-kit demo` against the built-in emulator, so nothing in them is
written by hand. The folders this script recorded last time (listed in data/sessions/.samples.json,
with the command that made each) are replaced; any other folder there is left alone.

    .venv/bin/python scripts/make_samples.py             # all samples, at each scenario's own speed
    .venv/bin/python scripts/make_samples.py --only korean default:blocking
    .venv/bin/python scripts/make_samples.py --speed 5   # faster, compressed audio (not for the shipped set)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
MANIFEST = ".samples.json"

# (scenario, assessment mode): the default scenario in every mode, the report that outlasts the keepalive
# in the fixed and the original (blocking) mode, and each fault scenario.
SAMPLES = [
    ("default", "overlap"),
    ("default", "after-ack"),
    ("default", "blocking"),
    ("slow-report", "overlap"),
    ("slow-report", "blocking"),
    ("drop-during-summary", "overlap"),
    ("stalled-server", "overlap"),
    ("korean", "overlap"),
]
# Recorded transcripts also kept as comparison inputs: one per language.
TRANSCRIPTS = {("default", "overlap"): "demo-default.json", ("korean", "overlap"): "demo-korean.json"}


def record(
    scenario: str, mode: str, out: Path, speed: float | None, timeout: float
) -> tuple[Path | None, str]:
    """Run one demo; return its folder (the last stdout line) or None, and the command line."""
    command = [
        str(BIN / "interview-kit"),
        "demo",
        "--scenario",
        scenario,
        "--assessment-mode",
        mode,
        "--out",
        str(out),
    ]
    if speed is not None:
        command += ["--speed", str(speed)]
    shown = " ".join(["interview-kit", *command[1:]]).replace(str(ROOT) + "/", "")
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {scenario}/{mode}: no result within {timeout:g} s", file=sys.stderr)
        return None, shown
    lines = done.stdout.strip().splitlines()
    folder = Path(lines[-1]) if lines else None
    if folder is None or not (folder / "events.jsonl").is_file():
        print(
            f"  {scenario}/{mode}: the demo left no folder (exit {done.returncode})\n{done.stderr[-2000:]}",
            file=sys.stderr,
        )
        return None, shown
    return folder, shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sessions")
    parser.add_argument("--transcripts", type=Path, default=ROOT / "data" / "transcripts")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO[:MODE]", help="record only these samples")
    parser.add_argument("--speed", type=float, help="override every scenario's speed")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per demo (default 600)")
    args = parser.parse_args(argv)

    chosen = SAMPLES
    if args.only:
        chosen = [(s, m) for s, m in SAMPLES if s in args.only or f"{s}:{m}" in args.only]
        if not chosen:
            parser.error(f"--only matched no sample; samples: {', '.join(f'{s}:{m}' for s, m in SAMPLES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"samples": []}
    kept = []
    for entry in manifest["samples"]:
        if (entry["scenario"], entry["mode"]) in chosen:
            shutil.rmtree(args.out / entry["folder"], ignore_errors=True)  # replaced below
        else:
            kept.append(entry)
    recorded, failures = [], 0
    for scenario, mode in chosen:
        started = time.monotonic()
        folder, command = record(scenario, mode, args.out, args.speed, args.timeout)
        if folder is None:
            failures += 1
            continue
        outcome = json.loads((folder / "session.json").read_text()).get("outcome")
        print(
            f"{scenario:<20} {mode:<10} {outcome:<13} {time.monotonic() - started:6.1f} s  {folder.name}",
            flush=True,
        )
        recorded.append(
            {
                "folder": folder.name,
                "scenario": scenario,
                "mode": mode,
                "outcome": outcome,
                "command": command,
            }
        )
        name = TRANSCRIPTS.get((scenario, mode))
        if name:
            args.transcripts.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / "transcript.json", args.transcripts / name)
    manifest = {"generated_by": "scripts/make_samples.py", "samples": kept + recorded}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
