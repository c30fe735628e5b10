"""A Parquet copy of each folder's typed events, so that loading the same folders again skips the JSON.

Researchers load the same corpus again and again; parsing JSON is most of a load. The first load of a
folder writes ``<folder>/.cache/events.parquet``: the typed columns (`FileEvents`: numbers as float64,
categoricals as int32 codes with their categories) and the `data` of the lines whose data the frame
keeps (`session_folder.STREAM_TYPES` excluded, as JSON text), plus the warnings the file gave. A later
load that asks for that (``stream_data=False``, the `load_sessions` default) reads it instead.

The cache is used only while it describes ``events.jsonl`` as it is now: same size and mtime (a live
session appending lines, an edited file: read again and rewritten) and the same format (the columns
and stream types of `session_folder`, and `FORMAT` here). A torn or unreadable cache (a crash
mid-write, a disk error) is ignored and rewritten; the file is written under another name and renamed
over, so a reader never sees half a file. A folder that cannot be written (read-only, a full disk)
still loads, just without a cache. ``.cache/`` is kept out of git by the repository's ``.gitignore``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

from interview_kit.analysis.event_reader import FastRead
from interview_kit.analysis.session_folder import CATEGORICAL, NUMERIC, STREAM_TYPES, FileEvents

log = logging.getLogger(__name__)

CACHE_DIR = ".cache"
CACHE_FILE = "events.parquet"
FORMAT = 1  # bump when what is stored changes
_META_KEY = b"interview_kit"


def cache_path(folder: Path) -> Path:
    return folder / CACHE_DIR / CACHE_FILE


@cache
def _schema_id() -> str:
    """What the stored columns mean: a cache written under other column lists or stream types is stale."""
    layout = repr((FORMAT, tuple(CATEGORICAL), tuple(NUMERIC), sorted(STREAM_TYPES)))
    return hashlib.sha256(layout.encode()).hexdigest()[:16]


def read_cache(folder: Path, size: int, mtime_ns: int) -> FastRead | None:
    """The cached events of `folder` (without stream lines' `data`) and the file's warnings (without
    its path), or None when there is no usable cache for ``events.jsonl`` of this size and mtime."""
    path = cache_path(folder)
    try:
        return _read(path, size, mtime_ns)
    except FileNotFoundError:
        return None
    except Exception as exc:  # torn, corrupt or foreign: ignored, rewritten by this load
        log.debug("%s: ignoring the cache (%s: %s)", path, type(exc).__name__, exc)
        return None


def _read(path: Path, size: int, mtime_ns: int) -> FastRead | None:
    import numpy as np
    import orjson
    import pyarrow.parquet as pq

    with open(path, "rb") as f:
        parquet = pq.ParquetFile(f)
        meta = json.loads(parquet.schema_arrow.metadata[_META_KEY])
        if (meta["schema"], meta["size"], meta["mtime_ns"]) != (_schema_id(), size, mtime_ns):
            return None
        table = parquet.read(use_threads=False)
    count = meta["rows"]
    if table.num_rows != count:
        raise ValueError(f"{table.num_rows} rows, expected {count}")
    numbers = {name: table.column(name).to_numpy() for name in NUMERIC}
    categories: dict[str, list[Any]] = meta["categories"]
    codes = {name: table.column(name).to_numpy() for name in CATEGORICAL}
    for name in CATEGORICAL:
        c = codes[name]
        if c.dtype != np.int32 or (count and (c.min() < -1 or c.max() >= len(categories[name]))):
            raise ValueError(f"codes of {name} out of range")
    if not np.isfinite(numbers["t"]).all():
        raise ValueError("t not finite")
    texts = table.column("data").combine_chunks()
    data: list[Any] = [None] * count
    at: list[int] = []
    if texts.null_count < count:
        at = np.flatnonzero(texts.is_valid().to_numpy(zero_copy_only=False)).tolist()
        values = orjson.loads(b"[" + b",".join(texts.drop_null().to_pylist()) + b"]")
        for i, value in zip(at, values, strict=True):
            data[i] = value
    events = FileEvents(count, numbers, categories, codes, data)
    return FastRead(events, list(meta["notes"]), size, mtime_ns, at)


def write_cache(folder: Path, read: FastRead) -> bool:
    """Store what was read from ``events.jsonl`` for later loads; False (and a debug log line) when the
    folder cannot be written. Stream lines' `data` is not stored."""
    path = cache_path(folder)
    temp = path.with_name(f".{CACHE_FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        table = _table(read)
        path.parent.mkdir(exist_ok=True)
        import pyarrow.parquet as pq

        # Uncompressed, plain-encoded: reading it back is the point, and that is 2-3x faster than with
        # snappy (about 1 ms per ten-minute session), for a file a quarter the size of the JSON.
        pq.write_table(table, temp, compression="none", use_dictionary=False, write_statistics=False)
        os.replace(temp, path)
        return True
    except Exception as exc:  # read-only folder, full disk, a value orjson cannot write: no cache
        log.debug("%s: not cached (%s: %s)", folder, type(exc).__name__, exc)
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass
        return False


def _table(read: FastRead) -> Any:
    import numpy as np
    import orjson
    import pyarrow as pa

    events = read.events
    stream = np.array([ty in STREAM_TYPES for ty in events.categories["type"]], dtype=bool)
    is_stream = stream[events.codes["type"]]  # type is never missing in what a fast path read
    texts: list[bytes | None] = [None] * events.count
    for i in read.with_data:
        if not is_stream[i]:
            texts[i] = orjson.dumps(events.data[i])
    columns: dict[str, Any] = {name: events.numbers[name] for name in NUMERIC}
    columns.update({name: events.codes[name] for name in CATEGORICAL})
    columns["data"] = pa.array(texts, type=pa.binary())
    meta = {
        "schema": _schema_id(),
        "size": read.size,
        "mtime_ns": read.mtime_ns,
        "rows": events.count,
        "categories": events.categories,
        "notes": read.notes,
    }
    return pa.table(columns, metadata={_META_KEY: json.dumps(meta).encode()})
