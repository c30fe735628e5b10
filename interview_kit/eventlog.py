"""The session's JSONL event log (``events.jsonl``, see ``docs/session-folder.md``) and atomic JSON files.

Every line is written as it happens and flushed at least every ``flush_interval`` seconds by a daemon
thread, so the file stays complete even while the asyncio loop is blocked (the very failure the toolkit
studies) and on any exit path (``close()`` also runs at interpreter exit). Audio payloads never reach the
file: they are replaced by their decoded size in ``bytes``. Secrets never reach it either: keys named
like credentials are redacted, and every registered secret value is replaced wherever it appears.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import enum
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
MAX_STRING = 500  # longer strings in `data` are cut to this many characters, with a marker
MIN_SECRET_LENGTH = 4  # shorter "secrets" would redact ordinary text; they are ignored with a warning

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


class _Trimmer:
    """Builds the trimmed `data` of one event: audio out (counted), long strings cut, secrets out."""

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
            text = f"{text[:MAX_STRING]}…[cut {len(text) - MAX_STRING} chars]"
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


class EventLog:
    """Appends one JSON object a line to ``events.jsonl``; thread-safe, flushed by a daemon thread.

    Use it as a context manager or call ``close()``; ``close()`` is idempotent and also registered with
    ``atexit``. Records after ``close()`` are still appended (one open/write per line), so a late event
    (a report finishing after the connection dropped) is never lost.
    """

    def __init__(
        self,
        path: Path,
        *,
        secrets: Iterable[str] = (),
        flush_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._wall = wall
        self.t0 = clock()
        self.flush_interval = flush_interval
        self._secrets = _clean_secrets(secrets)
        self._lock = threading.RLock()
        self._file = self.path.open("a", encoding="utf-8")
        self._dirty = False
        self._closed = False
        self.lines_written = 0
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
        """Write one event line (fields in the documented order, Nones omitted) and return it."""
        now = self.now()
        if t is None:
            t = now
            wall = self._wall()
        else:
            wall = self._wall() - (now - t)  # the wall time of that moment, not of the call
        rec: dict[str, Any] = {"t": round(t, 6), "wall": round(wall, 6), "dir": dir, "type": type}
        if response_id is not None:
            rec["response_id"] = response_id
        if item_id is not None:
            rec["item_id"] = item_id
        if phase is not None:
            rec["phase"] = phase
        trimmed = None
        if data is not None:
            trimmer = _Trimmer(self._secrets)
            trimmed = trimmer.mapping(_plain(data), top=True, event_type=type)
            if nbytes is None and trimmer.found_audio:
                nbytes = trimmer.audio_bytes
        if nbytes is not None:
            rec["bytes"] = nbytes
        if trimmed is not None:
            rec["data"] = trimmed
        if self._secrets:
            for key in ("type", "response_id", "item_id", "phase"):
                if key in rec and isinstance(rec[key], str):
                    rec[key] = _redact_str(rec[key], self._secrets)
        line = json.dumps(rec, ensure_ascii=False, default=str) + "\n"
        with self._lock:
            if self._closed:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
            else:
                self._file.write(line)
                self._dirty = True
            self.lines_written += 1
        self._notify(rec)
        return rec

    def flush(self) -> None:
        """Push buffered lines to the operating system (they survive the process from then on)."""
        with self._lock:
            if not self._closed and self._dirty:
                self._file.flush()
                self._dirty = False

    def close(self) -> None:
        """Flush, fsync and close the file; stop the flush thread. Safe to call more than once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            try:
                self._file.flush()
                with contextlib.suppress(OSError):
                    os.fsync(self._file.fileno())
            finally:
                self._file.close()
        if self._flusher is not threading.current_thread():
            self._flusher.join(timeout=2.0)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)

    # -- internals --------------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception:  # a full disk must not kill the thread silently forever
                log.exception("event log flush failed: %s", self.path)

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
