"""Regenerate the sample session folders in data/sessions (and the demo transcripts in data/transcripts).

Every sample is recorded by `interview-kit demo` against the built-in emulator, so nothing in them is
written by hand. The folders this script recorded last time (listed in data/sessions/.samples.json,
with the command that made each) are replaced once their new recording has succeeded (a failed demo
keeps the old one); any other folder there is left alone. data/sessions is also where your own runs
land by default: the script writes data/sessions/.gitignore so that git sees only the samples.

    .venv/bin/python scripts/make_samples.py             # all samples, at each scenario's own speed
    .venv/bin/python scripts/make_samples.py --only korean default:blocking
    .venv/bin/python scripts/make_samples.py --speed 5   # faster, compressed audio (not for the shipped set)
    .venv/bin/python scripts/make_samples.py --gitignore-only   # rewrite .gitignore from the manifest
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
GITIGNORE = ".gitignore"

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


def gitignore_text(folders: list[str]) -> str:
    """A .gitignore for the sessions folder: everything is ignored (your own runs) except this file, the
    manifest and the sample folders. Patterns are anchored (``/*``) so that un-ignoring a sample folder
    takes in everything inside it."""
    lines = [
        "# Written by scripts/make_samples.py: git tracks only the samples it recorded (listed in",
        f"# {MANIFEST}); the sessions you run yourself land here too and stay out of git status.",
        "/*",
        f"!/{GITIGNORE}",
        f"!/{MANIFEST}",
        *(f"!/{name}/" for name in sorted(folders)),
        "# The samples' recorded audio (about 10 MB a sample) stays on the machine that made it.",
        "/*/audio/",
    ]
    return "\n".join(lines) + "\n"


def write_gitignore(out: Path, manifest: dict) -> Path:
    path = out / GITIGNORE
    path.write_text(gitignore_text([entry["folder"] for entry in manifest["samples"]]), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sessions")
    parser.add_argument("--transcripts", type=Path, default=ROOT / "data" / "transcripts")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO[:MODE]", help="record only these samples")
    parser.add_argument("--speed", type=float, help="override every scenario's speed")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per demo (default 600)")
    parser.add_argument(
        "--gitignore-only",
        action="store_true",
        help=f"only rewrite {GITIGNORE} from {MANIFEST}; record nothing",
    )
    args = parser.parse_args(argv)

    chosen = SAMPLES
    if args.only:
        chosen = [(s, m) for s, m in SAMPLES if s in args.only or f"{s}:{m}" in args.only]
        if not chosen:
            parser.error(f"--only matched no sample; samples: {', '.join(f'{s}:{m}' for s, m in SAMPLES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"samples": []}
    if args.gitignore_only:
        print(f"wrote {write_gitignore(args.out, manifest)}")
        return 0
    samples: list[dict] = list(manifest["samples"])
    failures = 0
    for scenario, mode in chosen:
        started = time.monotonic()
        folder, command = record(scenario, mode, args.out, args.speed, args.timeout)
        if folder is None:  # the old recording (if any) stays, listed as before
            failures += 1
            continue
        try:
            outcome = json.loads((folder / "session.json").read_text()).get("outcome")
        except (OSError, ValueError) as exc:
            print(f"  {scenario}/{mode}: {folder / 'session.json'} unreadable: {exc}", file=sys.stderr)
            outcome = None
        print(
            f"{scenario:<20} {mode:<10} {outcome or '?':<13} {time.monotonic() - started:6.1f} s  "
            f"{folder.name}",
            flush=True,
        )
        for old in [e for e in samples if (e["scenario"], e["mode"]) == (scenario, mode)]:
            if old["folder"] != folder.name:  # replaced only now that the new one exists
                shutil.rmtree(args.out / old["folder"], ignore_errors=True)
            samples.remove(old)
        samples.append(
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
        manifest = {"generated_by": "scripts/make_samples.py", "samples": samples}
        manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")  # after each: a crash loses none
    manifest = {"generated_by": "scripts/make_samples.py", "samples": samples}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    write_gitignore(args.out, manifest)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
