"""Load session folders (docs/session-folder.md) into `Session`/`Sessions`: one folder, or many.

Many folders are read by worker processes in parallel (`session_folder.read_folder` in each) and their
columns stacked once at the end. A folder that cannot be read is recorded in ``.errors`` of the result
and the others still load; `load_session` raises `SessionLoadError` naming the file instead.
"""

from __future__ import annotations

import concurrent.futures
import glob
import logging
import multiprocessing
import multiprocessing.context
import os
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from itertools import repeat
from pathlib import Path
from typing import Any

from interview_kit.analysis.session_folder import (
    EVENTS_FILE,
    SESSION_FILE,
    STREAM_TYPES,
    EventColumns,
    FileEvents,
    FolderFiles,
    LoadProblem,
    SessionLoadError,
    file_events,
    no_cyclic_gc,
    parse_events_file,
    read_folder,
    read_folder_files,
)
from interview_kit.analysis.sessions import Session, Sessions

__all__ = [
    "STREAM_TYPES",
    "LoadProblem",
    "SessionLoadError",
    "default_workers",
    "expand_paths",
    "load_session",
    "load_sessions",
    "parse_events_file",
]

log = logging.getLogger(__name__)


def load_session(path: str | Path, *, stream_data: bool = True) -> Session:
    """Load one session folder (or its ``events.jsonl``).

    `stream_data=False` drops the `data` of audio stream lines (see `STREAM_TYPES`); nothing a metric
    uses is lost. Raises `SessionLoadError` naming the file that is missing or corrupt.
    """
    folder = Path(path)
    if folder.name == EVENTS_FILE:
        folder = folder.parent
    files = read_folder_files(folder)
    cols = EventColumns()
    with no_cyclic_gc():
        rows = parse_events_file(folder / EVENTS_FILE)
        cols.add(file_events(folder / EVENTS_FILE, rows, stream_data))
        del rows
        events = cols.frame([files.name])
    return Session(events, files)


def expand_paths(paths_or_glob: str | Path | Iterable[str | Path]) -> tuple[list[Path], list[LoadProblem]]:
    """Session folders named by paths, globs, or parent folders of sessions; what matched nothing."""
    items = [paths_or_glob] if isinstance(paths_or_glob, str | Path) else list(paths_or_glob)
    folders: list[Path] = []
    problems: list[LoadProblem] = []
    for item in items:
        text = str(item)
        matches = [Path(m) for m in sorted(glob.glob(text))] if glob.has_magic(text) else [Path(text)]
        if not matches:
            problems.append(LoadProblem(Path(text), f"{text}: matched no session folder"))
        for m in matches:
            if m.name == EVENTS_FILE:
                m = m.parent
            if m.is_dir() and not (m / EVENTS_FILE).exists() and not (m / SESSION_FILE).exists():
                children = sorted(c for c in m.iterdir() if c.is_dir() and (c / EVENTS_FILE).exists())
                if children:  # a parent folder such as data/sessions
                    folders.extend(children)
                    continue
            folders.append(m)
    seen: set[Path] = set()
    unique = []
    for folder in folders:  # the same folder named twice (a glob and a path) loads once
        if folder.resolve() not in seen:
            seen.add(folder.resolve())
            unique.append(folder)
    return unique, problems


def _pool_context(asked: bool) -> multiprocessing.context.BaseContext | None:
    """How to start worker processes, or None to stay in this one.

    fork where it is safe (Linux, no other thread to be copied mid-way); else spawn, whose workers import
    only `session_folder` and numpy, but which also re-runs the caller's script in each worker unless it has
    a ``__main__`` guard: so spawn only when asked for `workers`, or from a notebook/REPL (no script)."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if asked or not hasattr(sys.modules.get("__main__"), "__file__"):
        return multiprocessing.get_context("spawn")
    return None


# Below these folder counts one process is faster than starting workers: a forked worker starts in
# milliseconds, a spawned one re-imports Python, numpy and `session_folder` (about 0.5 s in a kernel: 24
# folders took 0.76 s with workers against 0.24 s without).
FORK_WORKERS_FROM = 16
SPAWN_WORKERS_FROM = 64


def default_workers(folders: int) -> int:
    """How many worker processes `load_sessions` uses for this many folders when not told: one per CPU
    (up to 8) once there are enough folders to repay starting them, else 1 (this process)."""
    context = _pool_context(False)
    if context is None:
        return 1
    threshold = SPAWN_WORKERS_FROM if context.get_start_method() == "spawn" else FORK_WORKERS_FROM
    return min(os.cpu_count() or 1, 8) if folders >= threshold else 1


def _read_all(
    folders: list[Path], stream_data: bool, workers: int, asked: bool
) -> Iterator[tuple[Path, tuple[FolderFiles | None, FileEvents | None, list[str]]]]:
    """Each folder's result in order; in `workers` processes when more than one (falling back to this
    process if a pool cannot start or breaks)."""
    context = _pool_context(asked) if workers > 1 and len(folders) > 1 else None
    if context is not None:
        done = 0
        try:
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                chunk = max(1, min(8, len(folders) // (workers * 8)))  # batches, yet an even share
                results = pool.map(read_folder, folders, repeat(stream_data), chunksize=chunk)
                for item in zip(folders, results, strict=True):
                    yield item
                    done += 1
            return
        except (OSError, RuntimeError, concurrent.futures.process.BrokenProcessPool) as exc:
            log.warning("reading the rest in one process: the worker pool failed (%s)", exc)
            folders = folders[done:]
    for folder in folders:
        yield folder, read_folder(folder, stream_data, compact=True)


def load_sessions(
    paths_or_glob: str | Path | Iterable[str | Path],
    *,
    stream_data: bool = False,
    progress: bool = False,
    workers: int | None = None,
) -> Sessions:
    """Load many session folders, stacked with a categorical `session` column (the folder name).

    Accepts folders, globs (``"data/sessions/*"``) or a parent folder. A folder that cannot be loaded is
    skipped with a `RuntimeWarning` and listed in the result's ``.errors``; the rest still load.
    `stream_data` as in `load_session` (off by default here: it is most of the memory). `workers`
    processes parse files in parallel: by default one per CPU (up to 8) from 16 folders on where workers
    fork, from 64 where they spawn (a notebook kernel), and only where starting them is safe (see
    `_pool_context`, `default_workers`); 1 = this process only. A script that passes `workers`
    on macOS/Windows needs ``if __name__ == "__main__":``.
    """
    folders, problems = expand_paths(paths_or_glob)
    asked = workers is not None
    if workers is None:
        workers = default_workers(len(folders))
    loaded: list[FolderFiles] = []
    cols = EventColumns()
    results: Iterable[Any] = _read_all(folders, stream_data, workers, asked)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(folders), desc="sessions", unit="folder")
    taken: set[str] = set()
    with no_cyclic_gc():
        for folder, (files, events, messages) in results:
            for message in messages:
                warnings.warn(message, RuntimeWarning, stacklevel=2)
            if files is None or events is None:
                problems.append(LoadProblem(folder, messages[-1].removeprefix("skipped: ")))
                continue
            if files.name in taken:  # same folder name under two parents: keep both, distinguishable
                files.name = f"{folder.parent.name}/{folder.name}"
            taken.add(files.name)
            cols.add(events)
            loaded.append(files)
        events_frame = cols.frame([f.name for f in loaded])
    for problem in problems:
        if problem.path not in folders:  # paths that matched nothing; folder errors were warned above
            warnings.warn(f"skipped: {problem.error}", RuntimeWarning, stacklevel=2)
    return Sessions(events_frame, loaded, problems)
