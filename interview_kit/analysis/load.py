"""Read session folders (docs/session-folder.md) into tidy pandas frames.

Loading is built for many long sessions: each ``events.jsonl`` is read once and parsed with a single
``json.loads`` over the whole file (lines joined into one JSON array), columns are typed per file
(categoricals for the repeated strings, floats for seconds) and stacked once at the end; many folders
are parsed by worker processes in parallel. A crash
mid-write leaves a truncated last line: it is dropped with a warning. A crash also leaves no
``transcript.json``/``report.json`` (the session writes them at its end): the folder loads without them,
with a warning naming the file. A missing ``events.jsonl``/``session.json`` or a corrupt file raises
`SessionLoadError` naming the file; `load_sessions` records such folders in ``.errors`` and goes on.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import gc
import glob
import json
import logging
import math
import multiprocessing
import multiprocessing.context
import os
import pickle
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from interview_kit.analysis.frames import Session, Sessions

log = logging.getLogger(__name__)

EVENTS_FILE = "events.jsonl"
SESSION_FILE = "session.json"
TRANSCRIPT_FILE = "transcript.json"
REPORT_FILE = "report.json"

# Column order of the events frame: the line fields of the contract, then the input-stream positions
# promoted out of `data` (the metrics map server positions onto the session clock with them).
EVENT_COLUMNS = (
    "session",
    "t",
    "wall",
    "dir",
    "type",
    "response_id",
    "item_id",
    "phase",
    "bytes",
    "audio_start_ms",
    "audio_end_ms",
    "data",
)

# High-rate audio stream lines whose `data` repeats the columns (ids, event id, indexes) apart from the
# promoted positions and transcript pieces already whole in `transcript.json`. Dropping their `data`
# keeps 1,000 ten-minute sessions in a few GB instead of tens.
STREAM_TYPES = frozenset(
    {
        "input_audio_buffer.append",
        "response.output_audio.delta",
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)

_EMPTY: dict[str, Any] = {}


class SessionLoadError(ValueError):
    """A session file that is missing or cannot be read; the message names the file (and line)."""


@dataclass(frozen=True)
class LoadProblem:
    """A folder `load_sessions` skipped, and why."""

    path: Path
    error: str

    def __str__(self) -> str:
        return self.error


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing allocates millions of acyclic dicts, and the collections
    they trigger cost a third of the parse time while finding nothing to free."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_lines(path: Path, body: str, ends_with_newline: bool) -> list[Any]:
    """Line-by-line parse, used when the fast path fails: finds a truncated last line or a corrupt one.

    Only a last line with no newline after it counts as truncated (a writer cut off mid-line); a bad line
    anywhere else, or a complete bad last line, is corruption."""
    numbered = [(i + 1, line) for i, line in enumerate(body.split("\n")) if line.strip()]
    rows: list[Any] = []
    for k, (lineno, line) in enumerate(numbered):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            if k == len(numbered) - 1 and not ends_with_newline:
                warnings.warn(
                    f"{path}: last line {lineno} is truncated (a crash mid-write?); "
                    f"read the {len(rows)} events before it",
                    RuntimeWarning,
                    stacklevel=4,
                )
                break
            raise SessionLoadError(f"{path}: line {lineno} is not valid JSON: {exc}") from None
    return rows


def parse_events_file(path: Path) -> list[dict[str, Any]]:
    """Every event line of one ``events.jsonl`` as a dict, in file order.

    Raises `SessionLoadError` naming the file for a missing/unreadable file or a corrupt line; a truncated
    last line is dropped with a `RuntimeWarning`.
    """
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SessionLoadError(f"{path}: missing (every session folder has an {EVENTS_FILE})") from None
    except UnicodeDecodeError as exc:
        raise SessionLoadError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SessionLoadError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    body = (text.replace("\r\n", "\n") if "\r" in text else text).strip()
    if not body:
        warnings.warn(f"{path}: empty, no events recorded", RuntimeWarning, stacklevel=3)
        return []
    try:
        rows = json.loads("[" + body.replace("\n", ",") + "]")  # one C-level parse for the whole file
    except ValueError:
        rows = _parse_lines(path, body, text.rstrip(" \t").endswith("\n"))
    except RecursionError:
        raise SessionLoadError(f"{path}: nested too deeply to be an event log") from None
    for i, row in enumerate(rows):
        if type(row) is not dict:
            raise SessionLoadError(f"{path}: line {i + 1} is not a JSON object: {str(row)[:80]!r}")
    return rows


@dataclass
class FileEvents:
    """One ``events.jsonl`` as typed columns, with its own code table per categorical column.

    Plain numpy arrays and lists, so a worker process can build it and send it back cheaply."""

    count: int
    numbers: dict[str, np.ndarray]
    categories: dict[str, list[Any]]
    codes: dict[str, np.ndarray]
    data: list[Any]


CATEGORICAL = ("dir", "type", "response_id", "item_id", "phase")


def _local_codes(values: list[Any]) -> tuple[list[Any], np.ndarray]:
    """Categories in first-seen order and an int32 code per value (-1 for None). A dict lookup per value
    is about 1.7x faster than `pd.Categorical` on a list of strings."""
    import numpy as np

    uniques = [v for v in dict.fromkeys(values) if v is not None]
    index: dict[Any, int] = {v: i for i, v in enumerate(uniques)}
    index[None] = -1
    return uniques, np.array(list(map(index.__getitem__, values)), dtype=np.int32)


def file_events(path: Path, rows: list[dict[str, Any]], stream_data: bool) -> FileEvents:
    """Typed columns of one file's rows; `SessionLoadError` naming the line if one lacks `t` or `type`."""
    import numpy as np

    get = dict.get
    t_list = list(map(get, rows, repeat("t")))
    try:
        t = np.array(t_list, dtype=np.float64)
        if not np.isfinite(t).all():  # None converts to NaN silently
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        bad = next(
            (
                i
                for i, v in enumerate(t_list)
                if not isinstance(v, int | float) or isinstance(v, bool) or not _finite(v)
            ),
            0,
        )
        raise SessionLoadError(
            f"{path}: line {bad + 1} has no numeric 't' (seconds since the start)"
        ) from None
    columns = {name: list(map(get, rows, repeat(name))) for name in CATEGORICAL}
    missing = [i for i, v in enumerate(columns["type"]) if not isinstance(v, str)]
    if missing:
        raise SessionLoadError(f"{path}: line {missing[0] + 1} has no 'type' string")
    try:
        coded = {name: _local_codes(values) for name, values in columns.items()}
    except TypeError:  # an unhashable value (a list, an object) where a string belongs
        raise SessionLoadError(f"{path}: a 'dir', 'phase' or id field holds a list or object") from None
    datas = list(map(get, rows, repeat("data")))
    plain = [d if type(d) is dict else _EMPTY for d in datas]
    numbers = {
        "t": t,
        "wall": _float_array(list(map(get, rows, repeat("wall")))),
        "bytes": _float_array(list(map(get, rows, repeat("bytes")))),
        "audio_start_ms": _float_array(list(map(get, plain, repeat("audio_start_ms")))),
        "audio_end_ms": _float_array(list(map(get, plain, repeat("audio_end_ms")))),
    }
    if not stream_data:
        stream = STREAM_TYPES
        datas = [None if ty in stream else d for d, ty in zip(datas, columns["type"], strict=True)]
    return FileEvents(
        len(rows), numbers, {k: v[0] for k, v in coded.items()}, {k: v[1] for k, v in coded.items()}, datas
    )


class _Columns:
    """Many files' columns, stacked once: each categorical gets one code table shared by all files, so
    stacking is a concatenation of codes."""

    NUMERIC = ("t", "wall", "bytes", "audio_start_ms", "audio_end_ms")

    def __init__(self) -> None:
        self.index: dict[str, dict[Any, int]] = {name: {} for name in CATEGORICAL}
        self.codes: dict[str, list[np.ndarray]] = {name: [] for name in CATEGORICAL}
        self.numbers: dict[str, list[np.ndarray]] = {name: [] for name in self.NUMERIC}
        self.data: list[Any] = []
        self.counts: list[int] = []

    def add(self, events: FileEvents) -> None:
        """Append one file's columns. A non-string category value (a numeric id) joins the category of
        its text, so ``1`` and ``"1"`` are one category rather than two with the same label."""
        import numpy as np

        for name in CATEGORICAL:
            index = self.index[name]
            keys = [v if type(v) is str else str(v) for v in events.categories[name]]
            remap = np.array([index.setdefault(k, len(index)) for k in keys] + [-1], dtype=np.int32)
            self.codes[name].append(remap[events.codes[name]])  # code -1 picks the trailing -1
        for name in self.NUMERIC:
            self.numbers[name].append(events.numbers[name])
        self.data.extend(events.data)
        self.counts.append(events.count)

    def frame(self, names: Sequence[str]) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        out: dict[str, Any] = {
            "session": pd.Categorical.from_codes(
                np.repeat(np.arange(len(names), dtype=np.int32), self.counts),
                categories=pd.Index(list(names), dtype=object),
            ),
        }
        for name in EVENT_COLUMNS[1:]:
            if name == "data":
                data = np.empty(len(self.data), dtype=object)
                data[:] = self.data
                out[name] = data
            elif name in self.index:
                categories = list(self.index[name])  # all strings (see `add`)
                parts = self.codes[name]
                codes = np.concatenate(parts) if parts else np.empty(0, dtype=np.int32)
                out[name] = pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))
            else:
                parts = self.numbers[name]
                out[name] = np.concatenate(parts) if parts else np.empty(0)
        frame = pd.DataFrame(out, copy=False)
        nbytes = frame["bytes"].to_numpy()
        frame["bytes"] = frame["bytes"].where(np.abs(nbytes) < 2.0**63).astype("Int64")  # no int64: NA
        return frame


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _number(value: Any) -> float:
    """A number as a float; NaN for anything else (text, null, an int too large for a float)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except OverflowError:
        return math.nan


def _float_array(values: list[Any]) -> np.ndarray:
    """Numbers with None as NaN (a plain float array is ~10x faster to build than a nullable one)."""
    import numpy as np

    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return np.array([_number(v) for v in values], dtype=np.float64)


def _read_json(path: Path, required: bool = True, instead: str = "") -> Any:
    """The parsed file; a missing optional file is None with a `RuntimeWarning` saying what is used
    `instead` (a corrupt one is always an error: it may hide data)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SessionLoadError(f"{path}: missing (see docs/session-folder.md)") from None
        warnings.warn(
            f"{path}: missing (the session ended before writing it: a crash?); {instead}",
            RuntimeWarning,
            stacklevel=4,
        )
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionLoadError(f"{path}: cannot be read: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SessionLoadError(f"{path}: not valid JSON: {exc}") from None


@dataclass
class FolderFiles:
    """The small JSON files of one folder, read before its events so that a bad folder fails fast."""

    name: str
    path: Path
    meta: dict[str, Any]
    transcript: list[dict[str, Any]]
    report: dict[str, Any] | None


def _read_folder_files(folder: Path) -> FolderFiles:
    if not folder.is_dir():
        raise SessionLoadError(f"{folder}: not a session folder (no such directory)")
    meta = _read_json(folder / SESSION_FILE)
    if not isinstance(meta, dict):
        raise SessionLoadError(f"{folder / SESSION_FILE}: expected a JSON object")
    # The session writes these two at its end: a killed run leaves only events.jsonl and session.json.
    transcript_raw = _read_json(
        folder / TRANSCRIPT_FILE, required=False, instead="turn text comes from events.jsonl only"
    )
    if transcript_raw is None:
        transcript_raw = {"turns": []}
    turns = transcript_raw.get("turns") if isinstance(transcript_raw, dict) else transcript_raw
    if not isinstance(turns, list) or not all(isinstance(x, dict) for x in turns):
        raise SessionLoadError(f'{folder / TRANSCRIPT_FILE}: expected {{"turns": [...]}}')
    report = _read_json(folder / REPORT_FILE, required=False, instead="the report is None")
    if report is not None and not isinstance(report, dict):
        raise SessionLoadError(f"{folder / REPORT_FILE}: expected a JSON object")
    return FolderFiles(folder.name, folder, meta, turns, report)


def _load_folder(
    folder: Path, stream_data: bool, compact: bool = False
) -> tuple[FolderFiles | None, FileEvents | None, list[str]]:
    """Read one folder (in this process or a worker): its files and events, or None and the error, plus the
    warnings raised on the way (a worker's warnings would otherwise be lost)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            files = _read_folder_files(folder)
            with _no_cyclic_gc():
                rows = parse_events_file(folder / EVENTS_FILE)
                events = file_events(folder / EVENTS_FILE, rows, stream_data)
                del rows
                if compact:
                    events.data = _compacted(events)
        except SessionLoadError as exc:
            return None, None, [*(str(w.message) for w in caught), f"skipped: {exc}"]
        except Exception as exc:  # whatever else a strange folder does, the other folders still load
            log.debug("reading %s failed", folder, exc_info=True)
            why = f"{folder}: cannot be read: {type(exc).__name__}: {exc}"
            return None, None, [*(str(w.message) for w in caught), f"skipped: {why}"]
    return files, events, [str(w.message) for w in caught]


def _compacted(events: FileEvents) -> list[Any]:
    """The kept `data` dicts re-created now that the file's parse garbage is freed, so that they sit
    together instead of pinning half-empty memory pools: without this, loading 1,000 sessions in one
    process slows by a third as memory fragments. (Workers get the same effect from sending results.)"""
    blob = pickle.dumps(events.data, protocol=pickle.HIGHEST_PROTOCOL)
    events.data = []
    return pickle.loads(blob)


def load_session(path: str | Path, *, stream_data: bool = True) -> Session:
    """Load one session folder (or its ``events.jsonl``).

    `stream_data=False` drops the `data` of audio stream lines (see `STREAM_TYPES`); nothing a metric
    uses is lost. Raises `SessionLoadError` naming the file that is missing or corrupt.
    """
    from interview_kit.analysis.frames import Session

    folder = Path(path)
    if folder.name == EVENTS_FILE:
        folder = folder.parent
    files = _read_folder_files(folder)
    cols = _Columns()
    with _no_cyclic_gc():
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
    only this module and numpy, but which also re-runs the caller's script in each worker unless it has
    a ``__main__`` guard: so spawn only when asked for `workers`, or from a notebook/REPL (no script)."""
    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if asked or not hasattr(sys.modules.get("__main__"), "__file__"):
        return multiprocessing.get_context("spawn")
    return None


# Below these folder counts one process is faster than starting workers: a forked worker starts in
# milliseconds, a spawned one re-imports Python, numpy and this module (about 0.5 s in a kernel: 24
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
                results = pool.map(_load_folder, folders, repeat(stream_data), chunksize=chunk)
                for item in zip(folders, results, strict=True):
                    yield item
                    done += 1
            return
        except (OSError, RuntimeError, concurrent.futures.process.BrokenProcessPool) as exc:
            log.warning("reading the rest in one process: the worker pool failed (%s)", exc)
            folders = folders[done:]
    for folder in folders:
        yield folder, _load_folder(folder, stream_data, compact=True)


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
    from interview_kit.analysis.frames import Sessions

    folders, problems = expand_paths(paths_or_glob)
    asked = workers is not None
    if workers is None:
        workers = default_workers(len(folders))
    loaded: list[FolderFiles] = []
    cols = _Columns()
    results: Iterable[Any] = _read_all(folders, stream_data, workers, asked)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(folders), desc="sessions", unit="folder")
    taken: set[str] = set()
    with _no_cyclic_gc():
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
