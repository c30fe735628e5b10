"""No log line carries a key, an Authorization value or URL credentials, at any verbosity; the realtime
connection sends one Authorization header."""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from session_helpers import TINY_SCENARIO

from interview_kit import log_redaction
from interview_kit.emulator import Emulator
from interview_kit.log_redaction import RedactingFilter, redact_log_text
from interview_kit.transport import WebsocketTransport

KEY = "sk-FAKE-logs-secret-7777"
USER, PASSWORD = "alice", "pw-SECRET-9"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
LEAKS = (KEY, PASSWORD, f"{USER}:", BASIC)
REPO = Path(__file__).resolve().parents[1]

TINY = TINY_SCENARIO


@pytest.mark.parametrize(("line", "kept"), [
    (f"> Authorization: Bearer {KEY}", "> Authorization: [redacted]"),
    (f"{{'Authorization': 'Basic {BASIC}', 'x': 1}}", "'Authorization': '[redacted]', 'x': 1"),
    (f"(b'authorization', b'Bearer {KEY}')", "(b'authorization', b'[redacted]')"),
    (f"POST http://{USER}:{PASSWORD}@127.0.0.1:9/v1/chat", "POST http://127.0.0.1:9/v1/chat"),
    (f"token bearer {KEY[3:]} sent", "token bearer [redacted] sent"),
    (f"the key {KEY} was refused", "the key [redacted] was refused"),
    ("authorization failed, a basic idea", "authorization failed, a basic idea"),  # prose stays
])
def test_every_form_of_a_credential_is_redacted(line: str, kept: str) -> None:
    out = redact_log_text(line)
    assert kept in out and not any(leak in out for leak in LEAKS)


def test_the_filter_redacts_arguments_and_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_secrets_logging.filtered")
    logger.addFilter(RedactingFilter())
    try:
        raise ConnectionError(f"could not reach ws://{USER}:{PASSWORD}@example.invalid/v1")
    except ConnectionError:
        logger.exception("> %s: %s", "Authorization", f"Bearer {KEY}")
    text = caplog.text
    assert "Authorization: [redacted]" in text and "example.invalid" in text
    assert not any(leak in text for leak in LEAKS), text


def test_registered_secrets_and_library_loggers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log_redaction.protect(["plain-secret-value"])
    logging.getLogger("websockets.client").debug("> Authorization: Bearer %s", KEY)
    logging.getLogger("httpx2").info("HTTP Request: POST http://%s:%s@h/v1 200", USER, PASSWORD)
    logging.getLogger("openai._base_client").debug("options: %s", {"note": "plain-secret-value"})
    assert caplog.records and not any(leak in caplog.text for leak in (*LEAKS, "plain-secret-value"))


def test_verbose_cli_run_shows_no_secret(tmp_path: Path) -> None:
    """`interview-kit -vv demo` against an emulator that needs the key, with credentials in the base URL:
    the interview and the report succeed (one Authorization header, the key's, on both connections), the
    libraries log the handshake and the HTTP request, and no line shows the key or the credentials."""
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    with Emulator.in_thread(scenario, api_key=KEY) as emu:
        url = emu.base_url.replace("http://", f"http://{USER}:{PASSWORD}@")
        done = subprocess.run(
            [sys.executable, "-m", "interview_kit", "-vv", "demo", "--scenario", str(scenario),
             "--speed", "20", "--out", str(tmp_path / "out"), "--base-url", url,
             "--api-key-env", "H5_TEST_KEY"],
            capture_output=True, text=True, timeout=180, cwd=REPO,
            env={**os.environ, "H5_TEST_KEY": KEY, "PYTHONUNBUFFERED": "1"})
    err = done.stderr
    assert done.returncode == 0, (done.stdout[-2000:], err[-3000:])
    assert "report error" not in done.stdout  # the chat request was authorized by the key too
    assert "websockets.client: > Authorization: [redacted]" in err  # the header was logged, redacted
    assert "HTTP Request: POST http://127.0.0.1" in err  # the HTTP client's request line, no user:password@
    assert err.count("Authorization:") == 1  # one header on the handshake
    for leak in LEAKS:
        assert leak not in err and leak not in done.stdout, leak


# --- one Authorization header -------------------------------------------------------------------------


async def handshake_headers(url_auth: str, headers: dict[str, str]) -> list[str]:
    """The Authorization headers a tiny websocket server receives from `WebsocketTransport`."""
    from websockets.asyncio.server import serve

    seen: list[list[str]] = []

    def record(connection, request):
        seen.append(request.headers.get_all("Authorization"))

    async def echo(ws) -> None:
        await ws.wait_closed()

    async with serve(echo, "127.0.0.1", 0, process_request=record) as server:
        port = server.sockets[0].getsockname()[1]
        transport = WebsocketTransport(f"ws://{url_auth}127.0.0.1:{port}/v1/realtime", headers=headers,
                                       open_timeout=10)
        await transport.connect()
        assert USER not in transport.description and PASSWORD not in transport.description
        await transport.close()
    return seen[0]


async def test_the_key_wins_over_url_credentials() -> None:
    assert await handshake_headers(f"{USER}:{PASSWORD}@", {"Authorization": f"Bearer {KEY}"}) == [
        f"Bearer {KEY}"]


async def test_url_credentials_without_a_key_become_the_one_basic_header() -> None:
    assert await handshake_headers(f"{USER}:{PASSWORD}@", {}) == [f"Basic {BASIC}"]
    assert await handshake_headers("", {}) == []
