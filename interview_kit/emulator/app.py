"""The emulator's aiohttp application and the `Emulator` that serves it (in this loop or in a thread).

One loopback port serves the websocket ``/v1/realtime`` and ``POST /v1/chat/completions``, so that
``AsyncOpenAI(base_url=emu.base_url)`` reaches both unchanged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from interview_kit.emulator.chat import ChatEndpoint, error_response
from interview_kit.emulator.faults import FaultCounts
from interview_kit.emulator.realtime import (
    DEFAULT_MODEL,
    MAX_FRAME_BYTES,
    RealtimeConversation,
    ScenarioLike,
    as_scenario,
    warm_up_validators,
)
from interview_kit.emulator.websocket import AiohttpSocket
from interview_kit.paths import data_dir
from interview_kit.scenario import Scenario, ScenarioError, load_scenario

log = logging.getLogger(__name__)

_INSECURE_KEY_PROTOCOL = "openai-insecure-api-key."
SHIPPED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # what `?scenario=` may name: no paths


async def shipped_scenario(name: str) -> Scenario:
    """A shipped scenario named by a client (``?scenario=korean``): names only, never a path, so a
    client cannot make the server read its files; the file is read off the loop."""
    if not SHIPPED_NAME.fullmatch(name):
        raise ScenarioError(f"scenario must be the name of a shipped scenario, got {name[:64]!r}")
    try:
        folder = data_dir("scenarios")
        path = folder / f"{name}.toml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in folder.glob("*.toml")))
            raise ScenarioError(f"no shipped scenario named {name!r}; shipped: {known}")
        return await asyncio.to_thread(load_scenario, path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {name!r} could not be read: {type(exc).__name__}") from None


class Emulator:
    """A local OpenAI-compatible Realtime + chat server for one scenario.

    ``async with Emulator("default") as emu:`` serves on ``emu.base_url`` until the block ends;
    `in_thread` does the same from a thread with its own loop, for callers whose loop may block.
    """

    def __init__(
        self,
        scenario: ScenarioLike = "default",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
    ) -> None:
        self.scenario = as_scenario(scenario)
        self.host = host
        self._requested_port = port
        self._api_key = api_key
        self.chat = ChatEndpoint(self.scenario)
        self.connections: set[RealtimeConversation] = set()
        self.fault_counts = FaultCounts()  # the reconnectable faults, counted across connections
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"Emulator(scenario={self.scenario.name!r}, url={self.base_url if self._port else None!r})"

    # ---- addresses -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(
                "the emulator is not running; use `async with Emulator(...)` or `await start()`"
            )
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host_for_url()}:{self.port}/v1"

    @property
    def realtime_url(self) -> str:
        return f"ws://{self._host_for_url()}:{self.port}/v1/realtime"

    def _host_for_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # ---- life ------------------------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/v1/realtime", self._realtime)
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def start(self) -> Emulator:
        """Start listening; `port` 0 picks a free port (see `self.port`)."""
        if self._runner is not None:
            return self
        warm_up_validators()
        runner = web.AppRunner(self.build_app(), handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1] if sockets else self._requested_port
        self._runner = runner
        log.info("emulator serving scenario %r on %s", self.scenario.name, self.base_url)
        return self

    async def stop(self) -> None:
        """Close every websocket with 1001 (quickly) and stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        conversations = list(self.connections)
        if conversations:
            await asyncio.wait([asyncio.ensure_future(c.shutdown()) for c in conversations], timeout=3.0)
        await runner.cleanup()
        log.info("emulator stopped")

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @classmethod
    def in_thread(
        cls,
        scenario: ScenarioLike = "default",
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        timeout: float = 10.0,
    ) -> EmulatorThread:
        """A sync context manager serving the emulator from a daemon thread with its own loop."""
        return EmulatorThread(cls(scenario, host, port, api_key), timeout)

    # ---- handlers ----------------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if self._api_key is None:
            return True
        expected = self._api_key.encode("utf-8")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode("utf-8"), expected):
            return True
        for proto in request.headers.get("Sec-WebSocket-Protocol", "").split(","):
            proto = proto.strip()
            if proto.startswith(_INSECURE_KEY_PROTOCOL) and hmac.compare_digest(
                proto[len(_INSECURE_KEY_PROTOCOL) :].encode("utf-8"), expected
            ):
                return True
        return False

    @staticmethod
    def _unauthorized(request: web.Request) -> web.Response:
        if "Authorization" not in request.headers:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = "Incorrect API key provided. The emulator was started with a different key."
        return error_response(401, message, "invalid_request_error", "invalid_api_key")

    async def _chat(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._unauthorized(request)
        return await self.chat.handle(request)

    async def _realtime(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._unauthorized(request)
        scenario = self.scenario
        if request.query.get("scenario"):
            try:
                scenario = await shipped_scenario(request.query["scenario"])
            except ScenarioError as exc:
                return error_response(400, str(exc), "invalid_request_error", "invalid_value", "scenario")
        ws = web.WebSocketResponse(
            autoping=False,
            compress=False,
            max_msg_size=MAX_FRAME_BYTES,
            timeout=10.0,  # how long a close waits for the client's reply, as servers commonly do
            protocols=("realtime",),
        )
        if not ws.can_prepare(request).ok:
            return error_response(400, "Expected a websocket upgrade request.", "invalid_request_error")
        await ws.prepare(request)
        conversation = RealtimeConversation(
            AiohttpSocket(ws, request),
            scenario,
            request.query.get("model") or DEFAULT_MODEL,
            self.fault_counts,
        )
        self.connections.add(conversation)
        try:
            await conversation.run()
        finally:
            self.connections.discard(conversation)
        return ws


class EmulatorThread:
    """An `Emulator` served from a daemon thread, so it keeps answering while the caller's loop blocks."""

    def __init__(self, emulator: Emulator, timeout: float = 10.0) -> None:
        self.emulator = emulator
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.emulator.port

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    @property
    def realtime_url(self) -> str:
        return self.emulator.realtime_url

    @property
    def scenario(self) -> Scenario:
        return self.emulator.scenario

    def start(self) -> EmulatorThread:
        """Start the thread; return once the server listens (or raise RuntimeError)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.emulator.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="interview-kit-emulator", daemon=True)
        self._thread.start()
        if not ready.wait(self.timeout):
            raise RuntimeError(f"the emulator thread did not start listening within {self.timeout:g} s")
        if failure:
            raise RuntimeError(f"the emulator could not start: {failure[0]}") from failure[0]
        return self

    def stop(self) -> None:
        """Stop the server and join the thread (bounded by the timeout)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self.emulator.stop(), loop)
        try:
            future.result(self.timeout)
        except Exception as exc:  # still stop the loop below
            log.warning("emulator stop failed: %s", exc)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout)
        if thread.is_alive():
            log.warning("emulator thread did not end within %.1f s", self.timeout)
        self._loop = self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
