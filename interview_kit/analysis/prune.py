"""`interview-kit sessions prune`: find the session folders that cannot be compared, and remove them.

Failed start-ups, killed runs and sped-up demos pile up in ``data/sessions`` (the panel and `demo` write
there by default). Which sessions are unusable, and why, is `interview_kit.analysis.usable`'s rule, read
through the loader (`Sessions.sessions`: `usable`, `unusable_reason`), so prune and the figures never
disagree. Listing is the default; removing needs ``--delete`` (or ``--yes``). Never removed: the samples
a ``.samples.json`` beside the folders lists (the repository's recorded samples), a folder the loader
cannot read (listed, for a person to look at), and anything that is not a plain directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SAMPLES_MANIFEST = ".samples.json"
DEFAULT_DIR = Path("data/sessions")
PRUNE_DESCRIPTION = (
    "List the session folders the analysis leaves out (a failed start-up, a run that never finished or "
    "never reached the assessment, a sped-up run), with why; with --delete, remove them. Kept always: "
    f"recorded samples (listed in {SAMPLES_MANIFEST} beside them) and folders that cannot be read."
)


@dataclass(frozen=True)
class Unusable:
    """A session folder prune found: why it is unusable, and whether it may be removed."""

    folder: Path
    reason: str
    kept: str = ""  # why it is kept though unusable ("" = removable)
    size: int = 0  # bytes in the folder

    @property
    def removable(self) -> bool:
        return not self.kept


def _samples(folder: Path) -> set[str]:
    """Folder names the manifest beside `folder` lists as recorded samples (none without one)."""
    manifest = folder.parent / SAMPLES_MANIFEST
    try:
        listed = json.loads(manifest.read_text(encoding="utf-8")).get("samples", [])
        return {str(s["folder"]) for s in listed if isinstance(s, dict) and "folder" in s}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def find_unusable(
    paths: str | Path | Iterable[str | Path], reasons: Sequence[str] = ()
) -> tuple[list[Unusable], int]:
    """The unusable session folders under `paths` (folders, globs or a parent such as data/sessions),
    and how many sessions were looked at. `reasons`: only those whose reason starts with one of these
    (e.g. ``"unfinished"``, ``"start-up failure"``, ``"not real time"``)."""
    from interview_kit.analysis.load import load_sessions

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # missing end-of-session files are expected here
        loaded = load_sessions(paths, include_unusable=True)
    found: list[Unusable] = []
    table = loaded.sessions
    rows = zip(table["folder"], table["usable"], table["unusable_reason"], strict=True)
    for folder, usable, reason in rows:
        if usable or (reasons and not any(str(reason).startswith(r) for r in reasons)):
            continue
        path = Path(folder)
        kept = ""
        if path.name in _samples(path):
            kept = f"a recorded sample (listed in {SAMPLES_MANIFEST})"
        elif path.is_symlink() or not path.is_dir():
            kept = "not a plain directory"
        found.append(Unusable(path, str(reason), kept, _size(path) if path.is_dir() else 0))
    for problem in loaded.errors:
        if not reasons and problem.path.is_dir():
            found.append(Unusable(problem.path, f"cannot be read: {problem.error}", "unreadable: look at it"))
    return found, len(loaded) + len(loaded.errors)


def remove(items: Iterable[Unusable]) -> list[tuple[Unusable, str]]:
    """Remove the removable folders; each with "" or the error that stopped its removal."""
    done = []
    for item in items:
        if not item.removable:
            continue
        try:
            shutil.rmtree(item.folder)
            done.append((item, ""))
        except OSError as exc:
            done.append((item, exc.strerror or str(exc)))
    return done


def add_arguments_sessions(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    prune = sub.add_parser(
        "prune",
        help="list unusable session folders (failed start-ups, unfinished or sped-up runs); --delete removes",
        description=PRUNE_DESCRIPTION,
    )
    prune.add_argument(
        "paths",
        nargs="*",
        metavar="DIR",
        help=f"session folders, globs or a parent folder (default: {DEFAULT_DIR})",
    )
    prune.add_argument(
        "--delete", "--yes", dest="delete", action="store_true", help="remove them (default: only list)"
    )
    prune.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="TEXT",
        help='only folders whose reason starts with this ("unfinished", "start-up failure", '
        '"not real time", "did not reach the assessment"); repeatable',
    )


def sessions_main(args: argparse.Namespace) -> int:
    """`interview-kit sessions prune`: 0 when done (or nothing to do), 1 when a removal failed."""
    paths = args.paths or [DEFAULT_DIR]
    items, looked_at = find_unusable(paths, args.reason)
    removable = [i for i in items if i.removable]
    width = max((len(str(i.folder)) for i in items), default=0)
    verb = "remove" if args.delete else "would remove"
    for item in items:
        what = f"keep ({item.kept})" if item.kept else verb
        print(f"{item.folder!s:<{width}}  {item.reason}  -> {what}")
    total = sum(i.size for i in removable) / 1e6
    if not args.delete:
        print(
            f"{len(removable)} of {looked_at} session folders can be removed ({total:,.1f} MB)"
            + ("; run again with --delete to remove them" if removable else "")
        )
        return 0
    failed = [(item, error) for item, error in remove(removable) if error]
    for item, error in failed:
        print(f"could not remove {item.folder}: {error}", file=sys.stderr)
    print(f"removed {len(removable) - len(failed)} of {looked_at} session folders ({total:,.1f} MB)")
    return 1 if failed else 0
