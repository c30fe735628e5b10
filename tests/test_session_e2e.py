"""End to end: whole sessions over a real websocket, on wall time.

These are the session tests whose point is the real boundary, which an in-memory run cannot show: the
server's websocket keepalive closing a client whose loop a blocking report call holds (1011), a slow
report overlapping the acknowledgement while keepalive pings go on being answered, an abrupt TCP drop
(1006), the HTTP handshake refusing a wrong key (401), and secrets (the API key in the Authorization
header and the chat call, credentials in a URL) never reaching the folder. Plus one default interview
with everything real, as the in-memory runs' reference.

Every other session test runs in memory on a fast-forwarding loop: ``test_session_interview.py``,
``test_session_lifecycle.py``, ``test_session_robustness.py``.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import websockets
from session_helpers import (
    FAKE_KEY,
    RUN_TIMEOUT,
    FakeRealtime,
    RaisingAssessor,
    Run,
    assert_folder_complete,
    assert_happy_interview,
    fast,
    run_interview,
    when,
)

from interview_kit.assessment import HeuristicAssessor
from interview_kit.config import SessionConfig
from interview_kit.scenario import Fault
from interview_kit.session import InterviewSession


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the emulator in a thread, over its websocket -------------------------------------------------------


async def test_default_interview_reaches_complete(tmp_path: Path) -> None:
    scenario = fast("default", speed=30)
    run = await run_interview(scenario, tmp_path)  # the OpenAI assessor, against the emulator's chat
    assert_happy_interview(run, scenario)
    assert_folder_complete(run)


async def test_slow_report_overlap_completes_without_a_close(tmp_path: Path) -> None:
    # a 2.5 s report: well past the 1 s ping timeout, the point of the scenario (its own 5 s would
    # only make the suite wait)
    run = await run_interview(fast("slow-report", speed=30, report_delay=2.5), tmp_path)
    assert run.session.config.ping_interval == 0.5  # the scenario's [client] table was applied
    assert run.result.outcome == "complete"
    assert run.result.close_code == 1000
    closed = run.of("connection.closed")
    assert [c["data"]["by"] for c in closed] == ["client"]
    assert run.of("report.ready")[0]["data"]["duration_s"] >= 2.4
    pings = run.of("ping")
    assert pings and all("rtt_ms" in p["data"] for p in pings)  # keepalive answered throughout
    # the report ran off the loop: no stall after the trigger (a blocking call, or building an async
    # client on the loop, would show here as hundreds of ms)
    trigger_t = run.of("assessment.trigger")[0]["t"]
    after = [s["data"]["duration_ms"] for s in run.of("loop.stall") if s["data"]["started"] >= trigger_t]
    assert max(after, default=0.0) < 150
    assert_folder_complete(run)


async def test_slow_report_blocking_mode_reproduces_the_1011_close(tmp_path: Path) -> None:
    run = await run_interview(fast("slow-report", speed=30, report_delay=2.5), tmp_path,
                              assessment_mode="blocking")
    assert run.result.outcome == "disconnected"
    # The server's keepalive gave up while the loop was blocked: the original failure, exactly.
    assert (run.result.close_code, run.result.close_reason) == (1011, "keepalive ping timeout")
    stalls = [s["data"]["duration_ms"] for s in run.of("loop.stall")]
    assert max(stalls) >= 2000  # the report call held the loop for ~2.5 s
    assert run.result.phases[-1]["to"] == "disconnected"
    report = run.json("report.json")
    assert report["error"] is None  # the report itself was produced, and saved
    assert_folder_complete(run)


async def test_without_reconnect_a_drop_during_summary_still_saves_the_report(tmp_path: Path) -> None:
    run = await run_interview(fast("drop-during-summary", speed=20), tmp_path, reconnect=False)
    assert run.result.outcome == "disconnected"
    assert run.result.close_code == 1006  # no close frame: the TCP connection just went
    assert "summary_speaking" in run.phases()
    assert run.phases()[-1] == "disconnected"
    assert run.json("report.json")["error"] is None
    assert run.json("session.json")["outcome"] == "disconnected"
    assert_folder_complete(run)


async def test_wrong_key_is_a_failed_outcome_not_an_exception(tmp_path: Path) -> None:
    scenario = fast("default", speed=30)
    run = await run_interview(scenario, tmp_path, emulator_key="sk-the-right-one", assessor=RaisingAssessor())
    assert run.result.outcome == "failed"
    errors = run.of("error")
    assert errors and "401" in errors[0]["data"]["message"]
    assert_folder_complete(run)


@pytest.mark.parametrize("mode", ["overlap"])
async def test_secrets_never_reach_the_folder_even_in_errors(tmp_path: Path, mode: str) -> None:
    leak = Fault(kind="error_event", at=0.2, code="invalid_api_key",
                 message=f"Incorrect API key provided: {FAKE_KEY}")
    scenario = fast("default", speed=30, questions=1, faults=(leak,))  # the whole flow, one question long
    run = await run_interview(scenario, tmp_path, assessment_mode=mode)
    assert run.result.outcome == "complete" and run.result.trigger_source == "tool"
    assert run.json("report.json")["error"] is None  # the chat call, with the key, was made
    errors = [e for e in run.of("error") if e["dir"] == "in"]
    assert errors and "[redacted]" in errors[0]["data"]["error"]["message"]
    assert_folder_complete(run)  # greps every file for the key


# ---- a scripted server behind a real websocket ----------------------------------------------------------

SECRET_PASSWORD = "pw-s3cret-in-url"


async def test_credentials_in_the_base_url_never_reach_the_folder(tmp_path: Path) -> None:
    fake = FakeRealtime()
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        config = SessionConfig(base_url=f"http://alice:{SECRET_PASSWORD}@127.0.0.1:{port}/v1",
                               out_dir=tmp_path / "ok", api_key_env="IK_TEST_UNSET_KEY_VAR")
        session = InterviewSession(config, assessor=HeuristicAssessor())
        when(session, "response.done", session.stop)
        run = Run(await asyncio.wait_for(session.run(), RUN_TIMEOUT), session)
    assert run.result.outcome == "stopped"
    assert run.of("connection.opened")[0]["data"]["url"].startswith("ws://127.0.0.1:")
    meta = run.json("session.json")
    assert "@" not in meta["config"]["base_url"]
    assert meta["config"]["api_key_env"] == "IK_TEST_UNSET_KEY_VAR"  # a variable's name, not a secret
    assert_folder_complete(run, secret=SECRET_PASSWORD)

    # a refused connection: the error message names the URL, without its credentials
    config = SessionConfig(base_url=f"http://alice:{SECRET_PASSWORD}@127.0.0.1:{free_port()}/v1",
                           out_dir=tmp_path / "refused")
    session = InterviewSession(config, assessor=HeuristicAssessor())
    refused = Run(await asyncio.wait_for(session.run(), 20), session)
    assert refused.result.outcome == "failed"
    assert "could not connect to ws://127.0.0.1:" in refused.of("error")[0]["data"]["message"]
    assert_folder_complete(refused, secret=SECRET_PASSWORD)
