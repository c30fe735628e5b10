"""Reading one ``events.jsonl`` at the speed of a columnar reader, with the reference reader's results.

The reference reader (`session_folder.parse_events_file` + `file_events`) turns every line into a
Python dict and then picks its columns out: most of a load is spent building dicts that are dropped.
Here pyarrow's JSON reader types the line fields and the two promoted input positions in C++ (without
the GIL, so threads read files in parallel), and only the lines whose `data` the frame keeps are
parsed into dicts (orjson). The result is the same `FileEvents`, value for value.

The fast path takes a file only as the session writes it (one JSON object per line, the contract's
types); anything else (a blank line, a value of an odd type, NaN, a line that is not an object, bad
UTF-8) returns None and the caller uses the reference reader, which gives the frame or the error it
always gave. A truncated last line (a crash mid-write) stays on the fast path: it is dropped with the
reference reader's warning.

pyarrow and orjson are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from interview_kit.analysis.session_folder import CATEGORICAL, NUMERIC, STREAM_TYPES, FileEvents

log = logging.getLogger(__name__)

# The columns this reader builds. If the format module's columns change, the reference reader is used
# until this one learns them (the tests compare both readers on the same files).
KNOWN_CATEGORICAL = ("dir", "type", "response_id", "item_id", "phase")
KNOWN_NUMERIC = ("t", "wall", "bytes", "audio_start_ms", "audio_end_ms")


@dataclass
class FastRead:
    """One file read by a fast path: its columns, the warnings about it (without the file's path, so a
    cache can replay them for a moved folder), and the file's size and mtime when it was read."""

    events: FileEvents
    notes: list[str]
    size: int
    mtime_ns: int
    with_data: list[int]  # the rows whose `data` is not None (stacking fills only those)


def format_supported() -> bool:
    """Whether the events frame still has the columns this reader builds."""
    return tuple(CATEGORICAL) == KNOWN_CATEGORICAL and tuple(NUMERIC) == KNOWN_NUMERIC


@cache
def _parse_options() -> Any:
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema(
        [
            ("t", pa.float64()),
            ("wall", pa.float64()),
            ("dir", pa.string()),
            ("type", pa.string()),
            ("response_id", pa.string()),
            ("item_id", pa.string()),
            ("phase", pa.string()),
            ("bytes", pa.float64()),
            ("data", pa.struct([("audio_start_ms", pa.float64()), ("audio_end_ms", pa.float64())])),
        ]
    )
    return pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")


def truncated_note(lineno: int, kept: int) -> str:
    """The reference reader's warning for a last line cut off mid-write (after the file's path)."""
    return f"last line {lineno} is truncated (a crash mid-write?); read the {kept} events before it"


def read_events_fast(path: Path, stream_data: bool) -> FastRead | None:
    """The typed columns of one ``events.jsonl``, or None when the reference reader must take the file
    (see the module). Never raises for a file's content; an unreadable file is None too (the reference
    reader names the error)."""
    if not format_supported():
        return None
    try:
        with open(path, "rb") as f:
            stat = os.fstat(f.fileno())
            raw = f.read()
    except OSError:
        return None
    try:
        return _read(raw, stat, stream_data)
    except Exception as exc:  # pyarrow/orjson refusing a line: the reference reader decides
        log.debug("%s: fast reader declined (%s: %s)", path, type(exc).__name__, exc)
        return None


def _read(raw: bytes, stat: os.stat_result, stream_data: bool) -> FastRead | None:
    import numpy as np
    import orjson
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj

    if raw[:1] != b"{":  # empty, leading blank lines or spaces, or not an object: the reference reader
        return None
    if not raw.isascii():
        raw.decode("utf-8")  # bad UTF-8 anywhere (even in a field not read here) is the reference's error
    end = raw.rfind(b"\n") + 1  # just past the last newline
    body, truncated = raw, False
    if raw[end:].strip():  # a last line with no newline after it: whole, or cut off by a crash
        try:
            json.loads(raw[end:])
        except ValueError:
            if end == 0:
                return None  # the only line is cut off: the reference reader's empty result
            body, truncated = raw[:end], True
    table = pj.read_json(
        pa.py_buffer(body),
        read_options=pj.ReadOptions(use_threads=False, block_size=1 << 20),
        parse_options=_parse_options(),
    )
    count = table.num_rows
    # Where each line ends (numpy: no list of 19,000 byte strings, and the scan runs without the GIL).
    ends = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
    last = int(ends[-1]) + 1 if len(ends) else 0
    if body[last:].strip():  # a last line with no newline after it
        ends = np.append(ends, len(body))
    if len(ends) != count:  # blank lines, or two objects on one line: the reference reader
        return None
    notes = [truncated_note(count + 1, count)] if truncated else []
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    numbers: dict[str, np.ndarray] = {}
    for name in ("t", "wall", "bytes"):
        numbers[name] = columns[name].to_numpy(zero_copy_only=False)
    for name in ("audio_start_ms", "audio_end_ms"):
        numbers[name] = pc.struct_field(columns["data"], name).to_numpy(zero_copy_only=False)
    if not np.isfinite(numbers["t"]).all():  # a missing, null or non-finite t: the reference's error
        return None
    for name in ("wall", "audio_start_ms", "audio_end_ms"):
        if np.isinf(numbers[name]).any():  # an overflowing number, NaN in the reference reader
            return None
    if columns["type"].null_count:
        return None
    categories: dict[str, list[Any]] = {}
    codes: dict[str, np.ndarray] = {}
    for name in CATEGORICAL:
        encoded = columns[name].dictionary_encode()
        categories[name] = encoded.dictionary.to_pylist()
        indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        codes[name] = indices.astype(np.int32, copy=False)
    types = categories["type"]
    type_codes = codes["type"]
    data: list[Any]
    if stream_data:
        lines = body.split(b"\n")
        if not lines[-1].strip():
            lines.pop()
        rows = orjson.loads(b"[" + b",".join(lines) + b"]")
        data = [row.get("data") for row in rows]
        with_data = [i for i, d in enumerate(data) if d is not None]
    else:
        kept = np.array([ty not in STREAM_TYPES for ty in types] + [True], dtype=bool)
        at = np.flatnonzero(kept[type_codes])
        starts = np.concatenate(([0], ends[:-1] + 1))[at].tolist()
        stops = ends[at].tolist()
        at = at.tolist()
        rows = orjson.loads(b"[" + b",".join([body[a:b] for a, b in zip(starts, stops, strict=True)]) + b"]")
        data = [None] * count
        with_data = []
        for i, row in zip(at, rows, strict=True):
            if row.get("type") != types[type_codes[i]]:  # lines and rows out of step: be safe
                return None
            value = row.get("data")
            if value is not None:
                data[i] = value
                with_data.append(i)
    events = FileEvents(count, numbers, categories, codes, data)
    return FastRead(events, notes, stat.st_size, stat.st_mtime_ns, with_data)
