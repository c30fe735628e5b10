"""`interview-kit emulator`: prints its base URL first, serves the SDK, exits 0 on SIGINT/SIGTERM.

The signal tests start the real command as a subprocess and talk to it over its websocket: a process
that prints a URL, serves on it and exits on a signal is their point. An unknown scenario never gets as
far as a server, so that error is checked in process, through the same `interview_kit.cli.main` that
``python -m interview_kit`` exits with.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest
from emulator_helpers import STEP_TIMEOUT
from openai import AsyncOpenAI

from interview_kit import cli


async def _start(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interview_kit",
        "emulator",
        "--port",
        "0",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
async def test_cli_prints_base_url_serves_and_stops(sig):
    proc = await _start("--scenario", "default", "--api-key", "sk-cli")
    try:
        first = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert first.startswith("http://127.0.0.1:") and first.endswith("/v1")
        client = AsyncOpenAI(base_url=first, api_key="sk-cli")
        async with client.realtime.connect(model="gpt-realtime") as connection:
            assert (await asyncio.wait_for(connection.recv(), STEP_TIMEOUT)).type == "session.created"
        await client.close()
        proc.send_signal(sig)
        assert await asyncio.wait_for(proc.wait(), STEP_TIMEOUT) == 0
        stderr = (await proc.stderr.read()).decode()
        assert "sk-cli" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_cli_unknown_scenario_is_a_clear_error_in_process(capsys):
    assert cli.main(["emulator", "--port", "0", "--scenario", "no-such-scenario"]) == 2
    err = capsys.readouterr().err
    assert "no-such-scenario" in err and "default" in err
