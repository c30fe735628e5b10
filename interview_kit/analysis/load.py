"""Load session folders (docs/session-folder.md) into `Session`/`Sessions`: one folder, or many.

Each ``events.jsonl`` is read by `event_reader` (pyarrow underneath, in threads: the parse runs
without the GIL) and its typed columns are kept in a Parquet cache beside it (`event_cache`), so a
second load of unchanged folders reads no JSON; a file the fast reader does not take is read by the
reference reader (`session_folder`), with the same result. The columns of all folders are stacked once
at the end. A folder that cannot be read is recorded in ``.errors`` of the result and the others still
load; `load_session` raises `SessionLoadError` naming the file instead.
"""

from __future__ import annotations

import concurrent.futures
import glob
import logging
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from interview_kit.analysis.event_cache import read_cache, write_cache
from interview_kit.analysis.event_reader import FastRead, read_events_fast
from interview_kit.analysis.session_folder import (
    EVENTS_FILE,
    SESSION_FILE,
    STREAM_TYPES,
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
from interview_kit.analysis.stack import EventStack

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

# Reader threads at most: two cores are what most laptops give a kernel; more than 8 gains nothing,
# as the part of a read that holds the GIL (building the kept `data` dicts) then dominates.
MAX_WORKERS = 8


def _events(folder: Path, stream_data: bool, cache: bool) -> FastRead | None:
    """One folder's events by the fast paths (its cache, else the columnar reader, then cached), with
    the file's warnings (without its path); None when the reference reader must read it. Runs in a
    reader thread: it never warns (a warning from a thread would reach whichever caller records)."""
    path = folder / EVENTS_FILE
    try:
        if not (folder / SESSION_FILE).is_file():
            return None  # a broken folder: the reference reader names what is missing
        if cache and not stream_data:
            stat = os.stat(path)
            hit = read_cache(folder, stat.st_size, stat.st_mtime_ns)
            if hit is not None:
                return hit
        fast = read_events_fast(path, stream_data)
        if fast is not None and cache:
            write_cache(folder, fast)
        return fast
    except Exception as exc:  # anything odd: the reference reader reads it and reports it properly
        log.debug("%s: fast paths failed (%s: %s)", folder, type(exc).__name__, exc)
        return None


def load_session(path: str | Path, *, stream_data: bool = True, cache: bool = True) -> Session:
    """Load one session folder (or its ``events.jsonl``).

    `stream_data=False` drops the `data` of audio stream lines (see `STREAM_TYPES`); nothing a metric
    uses is lost, and the folder's Parquet cache can be read (it holds no stream data: a load that keeps
    it reads the JSON, and writes the cache). `cache=False`: the cache is neither read nor written.
    Raises `SessionLoadError` naming the file that is missing or corrupt.
    """
    folder = Path(path)
    if folder.name == EVENTS_FILE:
        folder = folder.parent
    files = read_folder_files(folder)
    stack = EventStack()
    with no_cyclic_gc():
        fast = _events(folder, stream_data, cache)
        if fast is None:
            rows = parse_events_file(folder / EVENTS_FILE)
            stack.add(file_events(folder / EVENTS_FILE, rows, stream_data))
            del rows
        else:
            for note in fast.notes:
                warnings.warn(f"{folder / EVENTS_FILE}: {note}", RuntimeWarning, stacklevel=2)
            stack.add(fast.events, fast.with_data)
        events = stack.frame([files.name])
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


def default_workers(folders: int) -> int:
    """Reader threads `load_sessions` uses for this many folders when not told: one per CPU, up to
    `MAX_WORKERS`, no more than there are folders."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS, folders))


def _files_of(folder: Path) -> tuple[FolderFiles | None, list[str]]:
    """The folder's JSON files, and the warnings on the way (the last one ``skipped: ...`` on failure)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            files = read_folder_files(folder)
        except SessionLoadError as exc:
            return None, [*(str(w.message) for w in caught), f"skipped: {exc}"]
        except Exception as exc:  # whatever else a strange folder does, the other folders still load
            log.debug("reading %s failed", folder, exc_info=True)
            why = f"{folder}: cannot be read: {type(exc).__name__}: {exc}"
            return None, [*(str(w.message) for w in caught), f"skipped: {why}"]
    return files, [str(w.message) for w in caught]


def _read_all(
    folders: list[Path], stream_data: bool, workers: int, cache: bool
) -> Iterator[tuple[Path, FolderFiles | None, FastRead | FileEvents | None, list[str]]]:
    """Each folder's files, events and warnings, in order. Events are read ahead in `workers` threads;
    the JSON files, and any file the fast paths leave to the reference reader, in this thread (they
    warn, and recording warnings is not thread-safe)."""
    pool = concurrent.futures.ThreadPoolExecutor(workers) if workers > 1 and len(folders) > 1 else None
    try:
        if pool is not None:
            pending: Iterator[Any] = iter([pool.submit(_events, f, stream_data, cache) for f in folders])
            results: Iterator[FastRead | None] = (p.result() for p in pending)
        else:
            results = (_events(f, stream_data, cache) for f in folders)
        for folder, fast in zip(folders, results, strict=True):
            if fast is None:  # the reference reader, as before the fast paths
                yield folder, *read_folder(folder, stream_data, compact=True)
                continue
            files, messages = _files_of(folder)
            if files is None:
                yield folder, None, None, messages
                continue
            messages += [f"{folder / EVENTS_FILE}: {note}" for note in fast.notes]
            yield folder, files, fast, messages
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def load_sessions(
    paths_or_glob: str | Path | Iterable[str | Path],
    *,
    stream_data: bool = False,
    progress: bool = False,
    workers: int | None = None,
    cache: bool = True,
    include_unusable: bool = False,
) -> Sessions:
    """Load many session folders, stacked with a categorical `session` column (the folder name).

    Accepts folders, globs (``"data/sessions/*"``) or a parent folder. A folder that cannot be loaded is
    skipped with a `RuntimeWarning` and listed in the result's ``.errors``; the rest still load. Only
    usable sessions are kept (real time, assessed, finished: `Sessions.usable_only`) unless
    `include_unusable`; the result's ``.left_out`` says which were left out and why. `stream_data` as
    in `load_session` (off by default here: it is most of the memory). `workers` reader threads (by
    default one per CPU, up to 8; 1 = none). `cache`: read and write each folder's Parquet cache
    (``<folder>/.cache/events.parquet``; see `interview_kit.analysis.event_cache`).
    """
    folders, problems = expand_paths(paths_or_glob)
    if workers is None:
        workers = default_workers(len(folders))
    loaded: list[FolderFiles] = []
    stack = EventStack()
    results: Iterable[Any] = _read_all(folders, stream_data, workers, cache)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(folders), desc="sessions", unit="folder")
    taken: set[str] = set()
    with no_cyclic_gc():
        for folder, files, events, messages in results:
            for message in messages:
                warnings.warn(message, RuntimeWarning, stacklevel=2)
            if files is None or events is None:
                problems.append(LoadProblem(folder, messages[-1].removeprefix("skipped: ")))
                continue
            if files.name in taken:  # same folder name under two parents: keep both, distinguishable
                files.name = f"{folder.parent.name}/{folder.name}"
            taken.add(files.name)
            if isinstance(events, FastRead):
                stack.add(events.events, events.with_data)
            else:
                stack.add(events)
            loaded.append(files)
        events_frame = stack.frame([f.name for f in loaded])
    for problem in problems:
        if problem.path not in folders:  # paths that matched nothing; folder errors were warned above
            warnings.warn(f"skipped: {problem.error}", RuntimeWarning, stacklevel=2)
    sessions = Sessions(events_frame, loaded, problems)
    return sessions if include_unusable else sessions.usable_only(where="load_sessions")
