"""Secrets kept out of log lines, whatever the verbosity: a `logging.Filter` that redacts.

At ``-v`` the HTTP client logs each request's URL (with the ``user:password@`` of a base URL that has
them); at ``-vv`` the websocket library logs every handshake header (``Authorization: Bearer sk-...``,
``Authorization: Basic ...``). The files of a session folder are redacted by the event log; this does
the same for log records: URL credentials stripped, ``Authorization`` values, bearer and basic tokens
and ``sk-`` keys replaced, and every registered secret value (the API key, a URL's password) replaced
wherever it appears, exception text included.

`protect` (called by every `SessionFolder` with its secrets) registers values and puts the filter on
the third-party loggers that can carry them; the command line also puts it on its own handler, which
sees every record of every logger. A filter on a logger is not consulted for its children's records,
hence the list names each logger the libraries log through.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

from interview_kit.eventlog import MIN_SECRET_LENGTH, REDACTED, redact_text

# The loggers that see URLs and headers: the HTTP clients (httpx, and the httpx2 fork the openai package
# uses), their connection layers, the openai package, the websocket library, aiohttp (the emulator) and
# asyncio (which logs unretrieved exceptions, whose text may hold a URL).
LIBRARY_LOGGERS = (
    "httpx", "httpx2",
    *(f"{core}.{part}" for core in ("httpcore", "httpcore2")
      for part in ("connection", "http11", "http2", "proxy", "socks")),
    "openai", "openai._base_client", "openai._response", "openai._legacy_response",
    "websockets", "websockets.client", "websockets.server", "websockets.protocol",
    "aiohttp.access", "aiohttp.client", "aiohttp.internal", "aiohttp.server", "aiohttp.web",
    "aiohttp.websocket",
    "asyncio",
)

# An Authorization header's value however it is printed (``Authorization: Bearer x``,
# ``'authorization': 'Basic x'``, ``(b'authorization', b'Bearer x')``), a bearer or basic token on its
# own, and an OpenAI-style key.
_PATTERNS = (
    re.compile(r"(?i)(\bauthorization(?:['\"]?\s*[:=]|['\"]\s*,)\s*(?:b?['\"])?)[^'\"\r\n]+"),
    re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/\-]{6,}=*"),
    re.compile(r"(?i)(\bbasic\s+)[A-Za-z0-9+/]{8,}={0,2}"),
    re.compile(r"()\bsk-[A-Za-z0-9_\-]{6,}"),
)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def add_secrets(values: Iterable[str | None]) -> None:
    """Register values (an API key, a URL's password) that no log line may show from now on."""
    global _secrets
    with _lock:
        fresh = (v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)
        _secrets = tuple(sorted({*_secrets, *fresh}, key=len, reverse=True))


def redact_log_text(text: str) -> str:
    """`text` without URL credentials, Authorization values, tokens, keys or registered secrets."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return redact_text(text, _secrets)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through `redact_log_text`; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself, with what it has
            return True
        clean = redact_log_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_log_text(record.stack_info)
        return True


FILTER = RedactingFilter()


def _attach(target: logging.Logger | logging.Handler) -> None:
    if FILTER not in target.filters:
        target.addFilter(FILTER)


def protect(secrets: Iterable[str | None] = (), *, handlers: Iterable[logging.Handler] = ()) -> None:
    """Register `secrets` and put the filter on `LIBRARY_LOGGERS` (and on any of their children that
    exist already) and on `handlers`. Idempotent, cheap: a filter costs only when a record is emitted."""
    add_secrets(secrets)
    for name in LIBRARY_LOGGERS:
        _attach(logging.getLogger(name))
    prefixes = tuple(f"{name}." for name in LIBRARY_LOGGERS)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and name.startswith(prefixes):
            _attach(logger)
    for handler in handlers:
        _attach(handler)
