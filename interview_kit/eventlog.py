"""The session's JSONL event log (``events.jsonl``, see ``docs/session-folder.md``) and atomic JSON files.

Every line is encoded as it happens and written (whole lines, one unbuffered write per `SPILL_LINES`) a
few kilobytes at a time, and at least every ``flush_interval`` seconds by a daemon thread, so the file stays
complete even while the asyncio loop is blocked (the very failure the toolkit studies) and on any exit path
(``close()`` also runs at interpreter exit); a full disk never leaves a cut line. Audio payloads never
reach the file: they are replaced by their decoded size in ``bytes``. Secrets never reach it either: keys
named like credentials are redacted, and every registered secret value is replaced wherever it appears.

A line is compact UTF-8 JSON (``orjson``, the field order of ``docs/session-folder.md``). The trimmed copy of
an event is made by `reference_record`, the generic walk and the specification, or, for the plain JSON
values every wire event and the session's own records hold, by a one-pass fast path that gives the same
record at a fraction of the cost (the log runs once per server event, audio deltas included). The
audio-delta line, most of a session's lines, has its own fixed-shape path (`EventLog.record_audio_delta`).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import enum
import errno
import functools
import json
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from interview_kit.records import Dir, Rec

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
MAX_STRING = 500  # longer strings in `data` are cut to this many characters, with a marker
MIN_SECRET_LENGTH = 4  # shorter "secrets" would redact ordinary text; they are ignored with a warning
SPILL_LINES = 32  # encoded lines written together (about 8 KB: one OS write)
# Times are rounded to the microsecond as ``round(x * 1e6) / 1e6`` (round half to even), the hot way: for
# |x * 1e6| < 2**51, adding and taking away 1.5 * 2**52 leaves exactly that integer (float addition rounds
# half to even), for a tenth of the cost of round(). tests/test_eventlog.py checks they agree.
_ROUNDER = 6755399441055744.0  # 1.5 * 2**52
_EXACT = 2.0**51

# Key names (lower-cased, without "-" and "_") whose values are credentials.
_SECRET_KEY_PARTS = ("authorization", "apikey", "clientsecret", "password")
# ...except these, whose values only name where a credential lives (``api_key_env = "OPENAI_API_KEY"``).
_NOT_SECRET_KEYS = frozenset({"apikeyenv"})
_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")  # the user:password@ of a URL

FIELD_ORDER = ("t", "wall", "dir", "type", "response_id", "item_id", "phase", "bytes", "data")

Listener = Callable[[dict[str, Any]], None]


@functools.lru_cache(maxsize=4096)  # the same few dozen key names, on every event: the hot path
def is_secret_key(key: str) -> bool:
    """True for keys like ``Authorization``, ``api_key``, ``x-api-key``, ``client_secret``, ``password``."""
    k = key.lower().replace("_", "").replace("-", "")
    return k not in _NOT_SECRET_KEYS and any(part in k for part in _SECRET_KEY_PARTS)


def strip_userinfo(text: str) -> str:
    """`text` with the ``user:password@`` of every URL in it removed (a base URL may carry credentials;
    no file, log line or message may)."""
    return _USERINFO.sub("", text) if "@" in text else text


def url_secrets(url: str | None) -> list[str]:
    """The credentials inside a URL (its password, and user:password), to register as secrets."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    if not parts.password:
        return []
    return [parts.password, f"{parts.username or ''}:{parts.password}"]


def base64_size(text: str) -> int:
    """Decoded size of a base64 string, from its length alone (no decode); best effort when invalid."""
    n = len(text)
    if n and text[-1] in " \n\r\t":
        text = text.rstrip()
        n = len(text)
    pad = 0
    if n and text[-1] == "=":
        pad = 2 if n > 1 and text[-2] == "=" else 1
    return max(0, n * 3 // 4 - pad)


def write_error_message(exc: BaseException, filename: str) -> str:
    """A failed write in plain words: "No space left on device while writing events.jsonl"."""
    what = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{what} while writing {filename}"


def _clean_secrets(secrets: Iterable[str]) -> list[str]:
    out = []
    for s in secrets:
        if not isinstance(s, str) or not s:
            continue
        if len(s) < MIN_SECRET_LENGTH:
            log.warning("ignoring a registered secret shorter than %d characters", MIN_SECRET_LENGTH)
            continue
        out.append(s)
    # Longest first, so a secret containing another is replaced whole.
    return sorted(set(out), key=len, reverse=True)


def _redact_str(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in text:
            text = text.replace(s, REDACTED)
    return text


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the ``user:password@`` of any URL and without any of `secrets` (a log line, an
    error message: the one-string form of what `redact` does to a whole record)."""
    return _redact_str(strip_userinfo(text), _clean_secrets(secrets)) if text else text


def _plain(obj: Any) -> Any:
    """Turn models, dataclasses, enums and paths into JSON-ready values (one level; callers recurse)."""
    if hasattr(obj, "model_dump") and callable(obj.model_dump):  # pydantic models
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    return obj


def redact(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of `obj` with credential-named keys redacted and every secret value replaced by "[redacted]".

    Mappings, lists, tuples, pydantic models, dataclasses, enums and paths are converted on the way, so the
    result is ready for ``json.dumps``. Values under a credential-named key become "[redacted]" unless
    they are empty (None or ""), which is kept as is so that "no key was set" stays visible.
    """
    return _redact(obj, _clean_secrets(secrets))


def _redact(obj: Any, secrets: list[str]) -> Any:
    obj = _plain(obj)
    if isinstance(obj, str):
        return _redact_str(obj, secrets) if secrets else obj
    if isinstance(obj, Mapping):
        out: dict[Any, Any] = {}
        for k, v in obj.items():
            key = _redact_str(k, secrets) if isinstance(k, str) and secrets else k
            if isinstance(k, str) and is_secret_key(k) and v not in (None, ""):
                out[key] = REDACTED
            else:
                out[key] = _redact(v, secrets)
        return out
    if isinstance(obj, list | tuple):
        return [_redact(v, secrets) for v in obj]
    return obj


def _cut(text: str) -> str:
    return f"{text[:MAX_STRING]}…[cut {len(text) - MAX_STRING} chars]"


class _Trimmer:
    """The reference (generic) walk that builds the trimmed `data` of one event: audio out (counted), long
    strings cut, secrets out. Any value goes: models, dataclasses, enums, paths, bytes, sets.

    `_FastTrimmer` gives the same result for the plain JSON values that events hold; this walk is what it
    falls back to for anything else, and what ``EventLog(fast=False)`` uses for every line.
    """

    __slots__ = ("audio_bytes", "found_audio", "secrets")

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.audio_bytes = 0
        self.found_audio = False

    def _audio(self, value: str) -> None:
        self.audio_bytes += base64_size(value)
        self.found_audio = True

    def string(self, text: str) -> str:
        if self.secrets:
            text = _redact_str(text, self.secrets)
        if len(text) > MAX_STRING:
            text = _cut(text)
        return text

    def value(self, obj: Any) -> Any:
        if isinstance(obj, str):
            return self.string(obj)
        if isinstance(obj, int | float | bool) or obj is None:
            return obj
        obj = _plain(obj)
        if isinstance(obj, Mapping):
            return self.mapping(obj, top=False)
        if isinstance(obj, list | tuple):
            return [self.value(v) for v in obj]
        if isinstance(obj, bytes | bytearray | memoryview):
            self.audio_bytes += len(obj)
            self.found_audio = True
            return f"[{len(obj)} bytes]"
        if isinstance(obj, str):
            return self.string(obj)
        return obj if isinstance(obj, int | float | bool) else self.string(str(obj))

    def mapping(self, obj: Mapping[Any, Any], *, top: bool, event_type: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        is_audio_delta = top and event_type.endswith("audio.delta")
        for k, v in obj.items():
            key = k if isinstance(k, str) else str(k)
            if key == "audio" and isinstance(v, str):
                # input_audio_buffer.append's `audio`, and the `audio` of audio content parts anywhere.
                self._audio(v)
                continue
            if key == "delta" and is_audio_delta and isinstance(v, str):
                self._audio(v)
                continue
            if is_secret_key(key) and v not in (None, ""):
                out[self.string(key)] = REDACTED
                continue
            out[self.string(key) if self.secrets else key] = self.value(v)
        return out


def reference_record(
    dir: str,
    type: str,
    *,
    t: float,
    wall: float,
    response_id: str | None = None,
    item_id: str | None = None,
    phase: str | None = None,
    data: Mapping[str, Any] | None = None,
    nbytes: int | None = None,
    secrets: Iterable[str] = (),
) -> dict[str, Any]:
    """The record (fields in the documented order, Nones omitted) that the generic walk makes, whose
    `encode_line` is the line: the specification the fast path must meet. `t` and `wall` are taken as
    given (`EventLog.record` rounds them to microseconds)."""
    secrets = _clean_secrets(secrets)
    rec: dict[str, Any] = {"t": t, "wall": wall, "dir": dir, "type": type}
    if response_id is not None:
        rec["response_id"] = response_id
    if item_id is not None:
        rec["item_id"] = item_id
    if phase is not None:
        rec["phase"] = phase
    trimmed = None
    if data is not None:
        trimmer = _Trimmer(secrets)
        trimmed = trimmer.mapping(_plain(data), top=True, event_type=type)
        if nbytes is None and trimmer.found_audio:
            nbytes = trimmer.audio_bytes
    if nbytes is not None:
        rec["bytes"] = nbytes
    if trimmed is not None:
        rec["data"] = trimmed
    if secrets:
        for key in ("type", "response_id", "item_id", "phase"):
            if key in rec and isinstance(rec[key], str):
                rec[key] = _redact_str(rec[key], secrets)
    return rec


def encode_line(rec: Mapping[str, Any]) -> bytes:
    """One line of ``events.jsonl``: `rec` as compact UTF-8 JSON (orjson), newline-terminated.

    What orjson refuses (an integer beyond 64 bits, a lone surrogate, nesting deeper than 254) is written
    by ``json.dumps`` instead, non-ASCII escaped: still one valid JSON object a line.
    """
    try:
        return orjson.dumps(rec, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        return (json.dumps(rec, default=str) + "\n").encode("ascii")


# --- the fast path ---------------------------------------------------------------------------------
# The record of a plain event (dicts with str keys, lists, str, int, float, bool, None: every wire event
# and the session's own records) is built in one pass with the key names looked up once per log, and the
# top-level fields once per (dir, type) and per phase; anything else falls back to `reference_record`.

_NORMAL, _SECRET, _AUDIO, _DELTA = 0, 1, 2, 3  # what a key name means for its value
_CACHE_MAX = 4096
_NOT_STR = frozenset({int, float, bool, dict, list, tuple, type(None)})
_SCALARS = frozenset({int, float, bool, type(None)})
_AUDIO_DATA_KEYS = ("event_id", "output_index", "content_index")  # what the session logs of an audio delta


class _Fallback(Exception):
    """A value the fast path does not take: `reference_record` makes the whole record instead."""


class _FastTrimmer:
    """`reference_record` for plain values, faster. Anything else raises `_Fallback`."""

    __slots__ = ("audio_ids", "audio_line", "heads", "keys", "one_secret", "phases", "plain_audio_keys",
                 "plain_names", "secrets")

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.one_secret = secrets[0] if len(secrets) == 1 else None  # the usual case: the API key
        self.plain_audio_keys = not any(s in k for k in _AUDIO_DATA_KEYS for s in secrets)
        # Looked up once, valid for these secrets only: key name -> (name as written, kind);
        # (dir, type) -> (type as written, whether it is an audio delta); phase -> phase as written.
        self.keys: dict[str, tuple[str, int]] = {}
        self.heads: dict[tuple[Any, Any], tuple[str, bool]] = {}
        self.phases: dict[Any, str] = {}
        # The last audio delta's (response_id, item_id, phase) and its record with those written in: a
        # response's deltas (dozens to hundreds in a row) share them, so they are checked and redacted once.
        self.audio_ids: tuple[Any, Any, Any] | None = None
        self.audio_line: dict[str, Any] = {}
        self.plain_names: set[str] = set()  # key names `flat` may keep: no credential, no audio, not redacted

    def key(self, k: Any) -> tuple[str, int]:
        if k.__class__ is not str:
            raise _Fallback
        secret = is_secret_key(k)
        if secret and not self.secrets and len(k) > MAX_STRING:
            raise _Fallback  # the reference cuts this name only when it redacts the value: not worth a path
        name = k
        if secret or self.secrets:
            name = _redact_str(name, self.secrets) if self.secrets else name
            if len(name) > MAX_STRING:
                name = _cut(name)
        kind = _AUDIO if k == "audio" else _DELTA if k == "delta" else _SECRET if secret else _NORMAL
        info = (name, kind)
        if len(self.keys) >= _CACHE_MAX:
            self.keys.clear()
        self.keys[k] = info
        return info

    def head(self, dir: Any, type: Any) -> tuple[str, bool]:
        if not (isinstance(dir, str) and isinstance(type, str)):  # str or StrEnum: kept as given
            raise _Fallback
        info = (_redact_str(type, self.secrets) if self.secrets else type, type.endswith("audio.delta"))
        if len(self.heads) >= _CACHE_MAX:
            self.heads.clear()
        self.heads[dir, type] = info
        return info

    def text(self, value: Any) -> str:
        """A top-level string field (ids, phase): redacted, never cut."""
        if not isinstance(value, str):
            raise _Fallback
        return _redact_str(value, self.secrets)

    def string(self, text: str) -> str:
        text = _redact_str(text, self.secrets)
        return text if len(text) <= MAX_STRING else _cut(text)

    def audio_delta(self, event: Mapping[str, Any], response_id: Any, item_id: Any, phase: Any, nbytes: Any,
                    t: float, wall: float) -> dict[str, Any]:
        """`record` of the session's audio-delta line, built straight: its shape is fixed (``dir`` "in", the
        audio-delta type, `nbytes` decoded by the session, `data` the event's `_AUDIO_DATA_KEYS`), so it is
        a copy of the response's line with the four values that change set. Raises `_Fallback` when a value
        is not of that shape."""
        event_id = event.get("event_id")
        output_index = event.get("output_index")
        content_index = event.get("content_index")
        if (event_id.__class__ is not str or output_index.__class__ is not int
                or content_index.__class__ is not int or len(event_id) > MAX_STRING):
            raise _Fallback
        ids = (response_id, item_id, phase)
        if ids != self.audio_ids:
            self.audio_line = self.audio_delta_line(response_id, item_id, phase)
            self.audio_ids = ids
        if self.secrets:
            event_id = _redact_str(event_id, self.secrets)
        rec = self.audio_line.copy()
        rec["t"] = t
        rec["wall"] = wall
        rec["bytes"] = nbytes
        rec["data"] = {"event_id": event_id, "output_index": output_index, "content_index": content_index}
        return rec

    def audio_delta_line(self, response_id: Any, item_id: Any, phase: Any) -> dict[str, Any]:
        """An audio-delta record with these ids written in as `record` writes them (checked, redacted), the
        other fields in their places, to be set."""
        if not (self.plain_audio_keys and (response_id is None or response_id.__class__ is str)
                and (item_id is None or item_id.__class__ is str)):
            raise _Fallback
        line = self.record(Dir.IN.value, Rec.AUDIO_DELTA.value, response_id, item_id, phase, None, None,
                           0.0, 0.0)
        line["bytes"] = line["data"] = None
        return line

    def flat(self, data: dict[Any, Any]) -> dict[str, Any] | None:
        """A copy of `data` if the walk would give it back unchanged and it holds only strings, numbers,
        booleans and None (most small events, a transcript delta for one): the values checked one by one,
        the key names as a set against `plain_names`, the copy made by dict. None otherwise (the walk)."""
        one = self.one_secret
        if one is None and self.secrets:  # several secrets: left to the walk
            return None
        for v in data.values():
            tv = v.__class__
            if tv is str:
                if len(v) > MAX_STRING or (one is not None and one in v):
                    return None
            elif tv not in _SCALARS:
                return None
        if not data.keys() <= self.plain_names:
            for k in data:
                name, kind = self.keys.get(k) or self.key(k)
                if name != k or kind not in (_NORMAL, _DELTA):  # ("delta" is audio only in audio deltas)
                    return None
            if len(self.plain_names) >= _CACHE_MAX:
                self.plain_names.clear()
            self.plain_names.update(data)
        return data.copy()

    def audio_delta_data(self, data: dict[Any, Any]) -> dict[str, Any] | None:
        """`data` trimmed without a walk if it is what the session logs of an audio delta (its payload
        decoded and counted already): ``{"event_id": str, "output_index": int, "content_index": int}``
        in that order, key names untouched by the secrets. None otherwise."""
        event_id = data.get("event_id")
        output_index = data.get("output_index")
        content_index = data.get("content_index")
        if (event_id.__class__ is not str or output_index.__class__ is not int
                or content_index.__class__ is not int or len(event_id) > MAX_STRING
                or tuple(data) != _AUDIO_DATA_KEYS or not self.plain_audio_keys):
            return None
        if self.secrets:
            event_id = _redact_str(event_id, self.secrets)
        return {"event_id": event_id, "output_index": output_index, "content_index": content_index}

    def mapping(self, obj: dict[Any, Any], audio: list[int], audio_delta: bool) -> dict[str, Any]:
        """`audio` is [decoded bytes, found]: base64 payloads under "audio" (anywhere) or "delta" (top
        level of an audio delta) are counted there and left out."""
        keys = self.keys
        one = self.one_secret
        many = self.secrets if one is None else ()
        out: dict[str, Any] = {}
        skipped = 0
        for k, v in obj.items():
            info = keys.get(k)
            if info is None:
                info = self.key(k)
            name, kind = info
            tv = v.__class__
            if tv is str or (tv not in _NOT_STR and isinstance(v, str)):  # StrEnum members are strings too
                if kind:  # a key name that means something (most do not)
                    if kind is _AUDIO or (audio_delta and kind is _DELTA):
                        audio[0] += base64_size(v)
                        audio[1] = 1
                        skipped += 1
                        continue
                    if kind is _SECRET and v:
                        out[name] = REDACTED
                        continue
                if one is not None:
                    if one in v:
                        v = v.replace(one, REDACTED)
                elif many:
                    v = _redact_str(v, many)
                if len(v) > MAX_STRING:
                    v = _cut(v)
            elif tv in _SCALARS:
                if kind is _SECRET and v is not None:
                    v = REDACTED
            elif tv is dict:
                v = REDACTED if kind is _SECRET else self.mapping(v, audio, False)
            elif tv is list or tv is tuple:
                v = REDACTED if kind is _SECRET else self.sequence(v, audio)
            else:
                raise _Fallback
            out[name] = v
        if len(out) + skipped != len(obj):  # two keys written as one (cut or redacted to the same name)
            raise _Fallback
        return out

    def sequence(self, obj: list[Any] | tuple[Any, ...], audio: list[int]) -> list[Any]:
        out: list[Any] = []
        for v in obj:
            tv = v.__class__
            if tv is str or (tv not in _NOT_STR and isinstance(v, str)):
                v = self.string(v)
            elif tv is dict:
                v = self.mapping(v, audio, False)
            elif tv is list or tv is tuple:
                v = self.sequence(v, audio)
            elif tv not in _SCALARS:
                raise _Fallback
            out.append(v)
        return out

    def record(
        self,
        dir: str,
        type: str,
        response_id: str | None,
        item_id: str | None,
        phase: str | None,
        data: Mapping[str, Any] | None,
        nbytes: int | None,
        t: float,
        wall: float,
    ) -> dict[str, Any]:
        """What `reference_record` returns for the same arguments."""
        try:
            head = self.heads.get((dir, type))
        except TypeError:  # unhashable: not a str
            raise _Fallback from None
        if head is None:
            head = self.head(dir, type)
        written, audio_delta = head
        rec: dict[str, Any] = {"t": t, "wall": wall, "dir": dir, "type": type if written == type else written}
        secrets = self.secrets
        if response_id is not None:
            if response_id.__class__ is not str:
                response_id = self.text(response_id)
            elif secrets:
                response_id = _redact_str(response_id, secrets)
            rec["response_id"] = response_id
        if item_id is not None:
            if item_id.__class__ is not str:
                item_id = self.text(item_id)
            elif secrets:
                item_id = _redact_str(item_id, secrets)
            rec["item_id"] = item_id
        if phase is not None:
            try:
                written = self.phases.get(phase)
            except TypeError:
                raise _Fallback from None
            if written is None:
                written = self.text(phase)
                if len(self.phases) >= _CACHE_MAX:
                    self.phases.clear()
                self.phases[phase] = written
            rec["phase"] = phase if written == phase else written
        if data is None:
            if nbytes is not None:
                rec["bytes"] = nbytes
            return rec
        if data.__class__ is not dict:
            raise _Fallback
        if audio_delta and nbytes is not None and len(data) == 3:  # the hot path: the session's audio delta
            trimmed = self.audio_delta_data(data)
            if trimmed is not None:
                rec["bytes"] = nbytes
                rec["data"] = trimmed
                return rec
        trimmed = None if audio_delta else self.flat(data)
        if trimmed is not None:  # most small events: nothing to trim
            if nbytes is not None:
                rec["bytes"] = nbytes
            rec["data"] = trimmed
            return rec
        audio = [0, 0]
        trimmed = self.mapping(data, audio, audio_delta)
        if nbytes is not None:
            rec["bytes"] = nbytes
        elif audio[1]:
            rec["bytes"] = audio[0]
        rec["data"] = trimmed
        return rec


class EventLog:
    """Appends one JSON object a line to ``events.jsonl``; thread-safe, flushed by a daemon thread.

    Use it as a context manager or call ``close()``; ``close()`` is idempotent and also registered with
    ``atexit``. Records after ``close()`` are still appended (one open/write per line), so a late event
    (a report finishing after the connection dropped) is never lost.

    Records of plain JSON values (every wire event, the session's own records) are made by the fast
    path; anything else (models, dataclasses, paths, bytes, non-str keys) by the generic walk,
    `reference_record`, which also defines what the fast path must produce. ``fast=False`` uses the
    generic walk for every line.

    If a write fails (a full disk), it is said once, in words ("No space left on device while writing
    events.jsonl"), to `on_write_error(message)` (called from whichever thread wrote: the flush thread,
    or the one recording) or else to the log; `error` keeps the exception, the flush thread stops,
    nothing more is written until `close` tries the last lines once, and `record` goes on returning
    records (and calling listeners) without raising. The file only ever holds whole lines: a write cut
    short by the full disk is cut back to its last whole line. `lines_lost` counts the lines not written.
    """

    def __init__(
        self,
        path: Path,
        *,
        secrets: Iterable[str] = (),
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        fast: bool = True,
        on_write_error: Callable[[str], None] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._wall = wall
        self.t0 = clock()
        self.flush_interval = flush_interval
        self.fast = fast
        self._secrets = _clean_secrets(secrets)
        self._trimmer = _FastTrimmer(self._secrets)
        self._lock = threading.RLock()
        # Unbuffered: `_lines` is the buffer, and each write is whole lines (see `_append`).
        self._file = self.path.open("ab", buffering=0)
        self._size = os.fstat(self._file.fileno()).st_size  # bytes of whole lines in the file
        self._closing = False
        self._told = False
        self.on_write_error = on_write_error
        self.lines_lost = 0  # lines that could not be written (a full disk)
        self._lines: deque[bytes] = deque()  # encoded, not yet handed to the file (see `_write`)
        self._closed = False
        self.lines_written = 0
        self.error: BaseException | None = None  # the first write failure, said once
        self.listeners: list[Listener] = []
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name=f"eventlog-flush:{self.path.name}",
                                         daemon=True)
        self._flusher.start()
        atexit.register(self.close)

    # -- context manager --------------------------------------------------------------------------
    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API -------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def now(self) -> float:
        """Seconds since the log was created, on its monotonic clock: the `t` of a record made now."""
        return self._clock() - self.t0

    def add_secret(self, value: str) -> None:
        """Register a value (an API key, a token) that must never appear in the file."""
        with self._lock:
            self._secrets = _clean_secrets([*self._secrets, value])
            self._trimmer = _FastTrimmer(self._secrets)

    def add_listener(self, cb: Listener) -> None:
        """Call `cb(record)` after each record is written (a listener that raises is logged and dropped)."""
        self.listeners.append(cb)

    def remove_listener(self, cb: Listener) -> None:
        with contextlib.suppress(ValueError):
            self.listeners.remove(cb)

    def record(
        self,
        dir: str,
        type: str,
        *,
        response_id: str | None = None,
        item_id: str | None = None,
        phase: str | None = None,
        data: Mapping[str, Any] | None = None,
        nbytes: int | None = None,
        t: float | None = None,
    ) -> dict[str, Any]:
        """Write one event line (fields in the documented order, Nones omitted) and return it.

        `data` is trimmed: audio payloads (``audio`` anywhere, the top-level ``delta`` of an audio delta)
        are left out and their decoded size becomes `bytes` (unless `nbytes` is given), strings are cut
        at `MAX_STRING`, secrets are redacted. `t` (seconds on the log's clock) defaults to now.
        """
        t, wall = self._stamp(t)
        rec = None
        if self.fast:
            try:
                rec = self._trimmer.record(dir, type, response_id, item_id, phase, data, nbytes, t, wall)
            except _Fallback:
                pass
        if rec is None:
            rec = reference_record(dir, type, t=t, wall=wall, response_id=response_id, item_id=item_id,
                                   phase=phase, data=data, nbytes=nbytes, secrets=self._secrets)
        self._write(rec)
        return rec

    def record_audio_delta(
        self,
        event: Mapping[str, Any],
        *,
        response_id: str | None = None,
        item_id: str | None = None,
        phase: str | None = None,
        nbytes: int,
    ) -> dict[str, Any]:
        """The line of a server audio delta whose payload the caller decoded (`nbytes` long): what
        ``record("in", "response.output_audio.delta", ..., data=<the event's event_id, output_index and
        content_index>, nbytes=nbytes)`` writes, made without the generic checks when the values have the
        usual types. Most lines of a session are these (one per 100 ms of speech)."""
        if self.fast:
            t, wall = self._stamp(None)
            try:
                rec = self._trimmer.audio_delta(event, response_id, item_id, phase, nbytes, t, wall)
            except _Fallback:
                pass
            else:
                self._write(rec)
                return rec
        return self.record(Dir.IN, Rec.AUDIO_DELTA, response_id=response_id, item_id=item_id, phase=phase,
                           data={k: event.get(k) for k in _AUDIO_DATA_KEYS}, nbytes=nbytes)

    def _stamp(self, t: float | None) -> tuple[float, float]:
        """`t` (now if None) and the wall time of that moment, to the microsecond."""
        now = self._clock() - self.t0
        if t is None:
            t = now
            wall = self._wall()
        else:
            wall = self._wall() - (now - t)  # the wall time of that moment, not of the call
        t_us, wall_us = t * 1e6, wall * 1e6
        if -_EXACT < t_us < _EXACT and -_EXACT < wall_us < _EXACT:  # (wall: until 2041)
            return (t_us + _ROUNDER - _ROUNDER) / 1e6, (wall_us + _ROUNDER - _ROUNDER) / 1e6
        try:  # as round(x, 6), at a quarter of its cost
            return round(t_us) / 1e6, round(wall_us) / 1e6
        except (ValueError, OverflowError):  # nan, inf
            return round(t, 6), round(wall, 6)

    def _write(self, rec: dict[str, Any]) -> None:
        """Encode `rec`'s line and queue it; every `SPILL_LINES` lines (and at each flush and at close) the
        queue goes to the file in one write: one lock and one OS write per 32 lines instead of per line
        (this runs for every event), and at least every `flush_interval` from the flush thread.
        `encode_line` is inlined, its ``default=str``
        kept for the rare record that needs it."""
        try:
            line = orjson.dumps(rec, option=orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            line = encode_line(rec)
        lines = self._lines
        lines.append(line)  # atomic: no lock needed to queue, from any thread
        if len(lines) >= SPILL_LINES or self._closed:  # (closed: a record racing close() is not left behind)
            self._spill()
        if self.listeners:
            self._notify(rec)

    def _spill(self) -> None:
        """Hand the queued lines to the file, in order, in one write (after `close`: appended one open at a
        time). Lines queued meanwhile by another thread are taken now or by the next spill. After a write
        error nothing more is written until `close` tries the last lines once (see `_append`)."""
        failure = None
        with self._lock:
            lines = self._lines
            if self.error is not None and not self._closing:
                while len(lines) > SPILL_LINES:  # only the last lines are kept, for close's last try
                    lines.popleft()
                    self.lines_lost += 1
                return
            out = [lines.popleft() for _ in range(len(lines))]
            if not out:
                return
            if self._closed:
                failure = self._append_after_close(b"".join(out), len(out))
            else:
                failure = self._append(self._file, b"".join(out), len(out))
        if failure is not None:
            self._failed(failure)

    def _append(self, file: Any, data: bytes, n: int) -> OSError | None:
        """Write `n` whole lines to `file` (unbuffered, opened for appending) at `_size`; return the error,
        if any. A write that fails half-way (a full disk takes what fits, then refuses) is cut back to the
        last whole line, so the file never ends in a cut line; the lines that did not fit are counted in
        `lines_lost`."""
        done = 0
        try:
            while done < len(data):
                wrote = file.write(memoryview(data)[done:] if done else data)
                if not wrote:  # nothing taken and no error: treat as full (never loop forever)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += wrote
        except OSError as exc:
            kept = data.rfind(b"\n", 0, done) + 1
            if kept < done:
                try:
                    file.truncate(self._size + kept)
                except OSError as cut:
                    log.debug("could not cut back a partial line in %s: %s", self.path, cut)
                    kept = done
            whole = data.count(b"\n", 0, kept)
            self._size += kept
            self.lines_written += whole
            self.lines_lost += n - whole
            return exc
        self._size += done
        self.lines_written += n
        return None

    def flush(self) -> None:
        """Push queued lines to the operating system (they survive the process from then on)."""
        self._spill()

    def stop_writing(self, error: BaseException) -> None:
        """Write nothing more until `close` (which tries the last lines once): the disk is full, found by a
        write elsewhere in the folder. What space is left belongs to the folder's small files."""
        with self._lock:
            self._told = True  # the folder says it
            if self.error is None:
                self.error = error

    def close(self) -> None:
        """Write the queued lines, fsync and close the file; stop the flush thread. Safe to call more
        than once. After a write error, the last lines queued are tried once more (space may have been
        freed for the folder's final files): whole lines only."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
            self._spill()
            self._closed = True
            self._stop.set()
            with contextlib.suppress(OSError):
                os.fsync(self._file.fileno())
            with contextlib.suppress(OSError):
                self._file.close()
            self._closing = False
            self._spill()  # a line queued by another thread while this one closed the file
        if self._flusher is not threading.current_thread():
            self._flusher.join(timeout=2.0)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # -- internals --------------------------------------------------------------------------------
    def _append_after_close(self, data: bytes, n: int = 1) -> OSError | None:
        """`n` lines after `close()` (a report finishing late): one open per record; none after an error."""
        if self.error is not None:
            self.lines_lost += n
            return None
        try:
            with self.path.open("ab", buffering=0) as f:
                self._size = os.fstat(f.fileno()).st_size
                return self._append(f, data, n)
        except OSError as exc:
            self.lines_lost += n
            return exc

    def _failed(self, exc: BaseException) -> None:
        """Keep the first failure and say it once (to `on_write_error`, or the log): a full disk stays
        full, and a line per event (or per second) would bury everything else. Called without the lock,
        so that the callback may do anything."""
        with self._lock:
            if self._told:
                return
            self._told = True
            if self.error is None:
                self.error = exc
        message = write_error_message(exc, self.path.name)
        if self.on_write_error is None:
            log.error("%s; later events are not saved", message)
            return
        try:
            self.on_write_error(message)
        except Exception as hook_error:
            log.error("%s (on_write_error raised %s: %s)", message, type(hook_error).__name__, hook_error)

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval) and self.error is None:
            try:
                self.flush()
            except Exception as exc:  # whatever it is: say so once and stop; close() tries a last time
                self._failed(exc)
                return

    def _notify(self, rec: dict[str, Any]) -> None:
        for cb in list(self.listeners):
            try:
                cb(rec)
            except Exception:
                log.exception("event log listener %r raised; it is removed", cb)
                self.remove_listener(cb)


def write_json(path: Path, obj: Any, *, secrets: Iterable[str] = ()) -> None:
    """Write `obj` as UTF-8 JSON (indent 2) atomically: a temporary file in the same folder, then replace.

    Secrets are redacted as by `redact`; a reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(redact(obj, secrets), ensure_ascii=False, indent=2, default=str) + "\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            with contextlib.suppress(OSError):
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
