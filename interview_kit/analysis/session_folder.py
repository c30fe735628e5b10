"""The session-folder format (docs/session-folder.md) as the analysis reads it, one folder at a time.

What every other analysis module builds on: the file names, the columns of the events frame and their
dtypes, the `session.json` fields the sessions table shows, and how one folder's files are read and
typed. `load` reads many folders (in worker processes) and stacks them; `sessions` holds the result.

Reading is built for many long sessions: each ``events.jsonl`` is read once and parsed with a single
``json.loads`` over the whole file (lines joined into one JSON array), and columns are typed per file
(categoricals for the repeated strings, floats for seconds) so that stacking is a concatenation. A crash
mid-write leaves a truncated last line: it is dropped with a warning. A crash also leaves no
``transcript.json``/``report.json`` (the session writes them at its end): the folder reads without them,
with a warning naming the file. A missing ``events.jsonl``/``session.json`` or a corrupt file raises
`SessionLoadError` naming the file.

Only the standard library, numpy and `interview_kit.records` at import (pandas inside the functions
that build frames), so that a spawned worker process starts quickly.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import pickle
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interview_kit.records import Rec

if TYPE_CHECKING:
    import numpy as np

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
# The last three are wire events the session records but does not act on, so `Rec` does not name them.
STREAM_TYPES: frozenset[str] = frozenset(
    {
        Rec.INPUT_APPEND,
        Rec.AUDIO_DELTA,
        Rec.AUDIO_TRANSCRIPT_DELTA,
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "conversation.item.input_audio_transcription.delta",
    }
)

# The categorical columns of the events frame (one code table per column), and the float ones.
CATEGORICAL = ("dir", "type", "response_id", "item_id", "phase")
NUMERIC = ("t", "wall", "bytes", "audio_start_ms", "audio_end_ms")

# The `session.json` fields the sessions table (`Sessions.sessions`) shows, one row per session.
META_COLUMNS = ("scenario", "assessment_mode", "outcome", "close_code", "close_reason", "started", "ended")

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
def no_cyclic_gc() -> Iterator[None]:
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


def read_folder_files(folder: Path) -> FolderFiles:
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


def read_folder(
    folder: Path, stream_data: bool, compact: bool = False
) -> tuple[FolderFiles | None, FileEvents | None, list[str]]:
    """Read one folder (in this process or a worker): its files and events, or None and the error, plus the
    warnings raised on the way (a worker's warnings would otherwise be lost). `compact`: re-create the
    kept `data` dicts once the parse garbage is freed (see `_compacted`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            files = read_folder_files(folder)
            with no_cyclic_gc():
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
