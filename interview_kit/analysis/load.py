"""Read session folders (docs/session-folder.md) into tidy pandas frames.

Loading is built for many long sessions: each ``events.jsonl`` is read once and parsed with a single
``json.loads`` over the whole file (lines joined into one JSON array), columns are typed per file
(categoricals for the repeated strings, floats for seconds) and stacked once at the end. A crash
mid-write leaves a truncated last line: it is dropped with a warning. A missing or corrupt file raises
`SessionLoadError` naming the file; `load_sessions` records such folders in ``.errors`` and goes on.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import json
import logging
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


class _Codes:
    """A categorical column built across files: one code table shared by all, so stacking is a concat.

    A dict lookup per value is several times faster than `pd.Categorical` on a list of strings."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {None: -1}
        self.parts: list[np.ndarray] = []

    def codes(self, values: list[Any]) -> np.ndarray:
        import numpy as np

        index = self.index
        try:
            codes = list(map(index.__getitem__, values))
        except KeyError:
            for value in dict.fromkeys(values):  # first-seen order, so categories read in log order
                if value not in index:
                    index[value] = len(index) - 1
            codes = list(map(index.__getitem__, values))
        return np.array(codes, dtype=np.int32)

    def categorical(self) -> pd.Categorical:
        import numpy as np
        import pandas as pd

        categories = list(self.index)[1:]
        codes = np.concatenate(self.parts) if self.parts else np.empty(0, dtype=np.int32)
        if not all(isinstance(c, str) for c in categories):
            categories = [str(c) for c in categories]  # e.g. a numeric id: still one category each
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object))


class _Columns:
    """Typed columns of many event files, built per file and stacked once."""

    CATEGORICAL = ("dir", "type", "response_id", "item_id", "phase")
    NUMERIC = ("t", "wall", "bytes", "audio_start_ms", "audio_end_ms")

    def __init__(self, stream_data: bool) -> None:
        self.stream_data = stream_data
        self.cats = {name: _Codes() for name in self.CATEGORICAL}
        self.numbers: dict[str, list[np.ndarray]] = {name: [] for name in self.NUMERIC}
        self.data: list[Any] = []
        self.counts: list[int] = []

    def add(self, path: Path, rows: list[dict[str, Any]]) -> None:
        """Append one file's rows; raises `SessionLoadError` (and adds nothing) if a line lacks t or type."""
        import numpy as np

        get = dict.get
        t_list = list(map(get, rows, repeat("t")))
        try:
            t = np.array(t_list, dtype=np.float64)
            if np.isnan(t).any():  # None converts to NaN silently
                raise TypeError
        except (TypeError, ValueError):
            bad = next(
                (
                    i
                    for i, v in enumerate(t_list)
                    if not isinstance(v, int | float) or isinstance(v, bool) or v != v
                ),
                0,
            )
            raise SessionLoadError(
                f"{path}: line {bad + 1} has no numeric 't' (seconds since the start)"
            ) from None
        columns = {name: list(map(get, rows, repeat(name))) for name in self.CATEGORICAL}
        missing = [i for i, v in enumerate(columns["type"]) if not isinstance(v, str)]
        if missing:
            raise SessionLoadError(f"{path}: line {missing[0] + 1} has no 'type' string")
        try:
            codes = {name: self.cats[name].codes(values) for name, values in columns.items()}
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
        if not self.stream_data:
            stream = STREAM_TYPES
            datas = [None if ty in stream else d for d, ty in zip(datas, columns["type"], strict=True)]
        for name, array in codes.items():
            self.cats[name].parts.append(array)
        for name, array in numbers.items():
            self.numbers[name].append(array)
        self.data.extend(datas)
        self.counts.append(len(rows))

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
            elif name in self.cats:
                out[name] = self.cats[name].categorical()
            else:
                parts = self.numbers[name]
                out[name] = np.concatenate(parts) if parts else np.empty(0)
        frame = pd.DataFrame(out, copy=False)
        frame["bytes"] = frame["bytes"].astype("Int64")
        return frame


def _float_array(values: list[Any]) -> np.ndarray:
    """Numbers with None as NaN (a plain float array is ~10x faster to build than a nullable one)."""
    import numpy as np

    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=np.float64)


def _read_json(path: Path, required: bool = True) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SessionLoadError(f"{path}: missing (see docs/session-folder.md)") from None
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
    transcript_raw = _read_json(folder / TRANSCRIPT_FILE)
    turns = transcript_raw.get("turns") if isinstance(transcript_raw, dict) else transcript_raw
    if not isinstance(turns, list) or not all(isinstance(x, dict) for x in turns):
        raise SessionLoadError(f'{folder / TRANSCRIPT_FILE}: expected {{"turns": [...]}}')
    report = _read_json(folder / REPORT_FILE)
    if report is not None and not isinstance(report, dict):
        raise SessionLoadError(f"{folder / REPORT_FILE}: expected a JSON object")
    return FolderFiles(folder.name, folder, meta, turns, report)


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
    cols = _Columns(stream_data)
    with _no_cyclic_gc():
        cols.add(folder / EVENTS_FILE, parse_events_file(folder / EVENTS_FILE))
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
    unique = [f for f in folders if not (f.resolve() in seen or seen.add(f.resolve()))]
    return unique, problems


def load_sessions(
    paths_or_glob: str | Path | Iterable[str | Path], *, stream_data: bool = False, progress: bool = False
) -> Sessions:
    """Load many session folders, stacked with a categorical `session` column (the folder name).

    Accepts folders, globs (``"data/sessions/*"``) or a parent folder. A folder that cannot be loaded is
    skipped with a `RuntimeWarning` and listed in the result's ``.errors``; the rest still load.
    `stream_data` as in `load_session` (off by default here: it is most of the memory).
    """
    from interview_kit.analysis.frames import Sessions

    folders, problems = expand_paths(paths_or_glob)
    loaded: list[FolderFiles] = []
    cols = _Columns(stream_data)
    iterator: Iterable[Path] = folders
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(folders, desc="sessions", unit="folder")
    taken: set[str] = set()
    with _no_cyclic_gc():
        for folder in iterator:
            try:
                files = _read_folder_files(folder)
                rows = parse_events_file(folder / EVENTS_FILE)
                if files.name in taken:  # same folder name under two parents: keep both, distinguishable
                    files.name = f"{folder.parent.name}/{folder.name}"
                cols.add(folder / EVENTS_FILE, rows)
                del rows
            except SessionLoadError as exc:
                problems.append(LoadProblem(folder, str(exc)))
                continue
            taken.add(files.name)
            loaded.append(files)
        events = cols.frame([f.name for f in loaded])
    for problem in problems:
        warnings.warn(f"skipped: {problem.error}", RuntimeWarning, stacklevel=2)
    return Sessions(events, loaded, problems)
