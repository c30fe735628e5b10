"""The official `openai` SDK's realtime client against the emulator, unchanged: text in, audio out, and
audio in through server VAD."""

from __future__ import annotations

import asyncio
import base64

import aiohttp
import pytest
from emulator_helpers import STEP_TIMEOUT, answer_audio, fast
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from interview_kit.emulator import Emulator


async def _until(connection, type_: str) -> list:
    events = []
    while True:
        event = await asyncio.wait_for(connection.recv(), STEP_TIMEOUT)
        events.append(event)
        if event.type == type_:
            return events


@pytest.fixture
async def emu():
    async with Emulator(fast("default", speed=40)) as emulator:
        yield emulator


async def test_sdk_text_in_audio_out(emu):
    client = AsyncOpenAI(base_url=emu.base_url, api_key="test")
    async with client.realtime.connect(model="gpt-realtime") as connection:
        created = await asyncio.wait_for(connection.recv(), STEP_TIMEOUT)
        assert created.type == "session.created" and created.session.model == "gpt-realtime"
        await connection.session.update(
            session={"type": "realtime", "instructions": "You interview candidates."}
        )
        await _until(connection, "session.updated")
        await connection.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello!"}]}
        )
        await connection.response.create(response={"metadata": {"purpose": "question"}})
        events = await _until(connection, "response.done")
        audio = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
        transcript = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
        assert len(audio) > 24_000 and transcript.startswith(emu.scenario.interviewer.greeting)
        done = events[-1]
        assert done.response.status == "completed" and done.response.metadata == {"purpose": "question"}
    await client.close()


async def test_sdk_audio_in_through_server_vad(emu):
    client = AsyncOpenAI(base_url=emu.base_url, api_key="test")
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await _until(connection, "session.created")
        await connection.response.create()
        await _until(connection, "response.done")
        pcm = answer_audio(emu.scenario.candidate.answers[0])
        for i in range(0, len(pcm), 4800):
            await connection.input_audio_buffer.append(audio=base64.b64encode(pcm[i : i + 4800]).decode())
        events = await _until(connection, "response.done")
        types = [e.type for e in events]
        assert "input_audio_buffer.speech_started" in types and "input_audio_buffer.speech_stopped" in types
        transcription = next(
            e for e in events if e.type == "conversation.item.input_audio_transcription.completed"
        )
        assert transcription.transcript == emu.scenario.candidate.answers[0]
        spoken = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
        assert spoken == emu.scenario.interviewer.questions[1]
    await client.close()


async def test_wrong_key_is_refused_at_the_handshake():
    async with Emulator(fast("default"), api_key="sk-right") as emu:
        client = AsyncOpenAI(base_url=emu.base_url, api_key="sk-wrong", max_retries=0)
        with pytest.raises(InvalidStatus) as info:
            async with client.realtime.connect(model="gpt-realtime"):
                pass
        assert info.value.response.status_code == 401
        assert b"sk-wrong" not in info.value.response.body and "sk-wrong" not in str(info.value)
        good = AsyncOpenAI(base_url=emu.base_url, api_key="sk-right")
        async with good.realtime.connect(model="gpt-realtime") as connection:
            assert (await asyncio.wait_for(connection.recv(), STEP_TIMEOUT)).type == "session.created"
        await client.close()
        await good.close()


async def test_scenario_chosen_per_connection(emu):
    client = AsyncOpenAI(base_url=emu.base_url, api_key="test")
    async with client.realtime.connect(
        model="gpt-realtime", extra_query={"scenario": "korean"}
    ) as connection:
        await _until(connection, "session.created")
        await connection.response.create(response={"output_modalities": ["text"]})
        events = await _until(connection, "response.done")
        text = next(e for e in events if e.type == "response.output_text.done").text
        assert text.startswith("안녕하세요")
    await client.close()


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "/etc/no-such-file", "../data/scenarios/default", "default.toml"]
)
async def test_a_connection_may_name_only_a_shipped_scenario(emu, name):
    async with aiohttp.ClientSession() as http:
        url = emu.realtime_url.replace("ws://", "http://")
        async with http.get(url, params={"scenario": name}) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
    assert error["param"] == "scenario" and "shipped scenario" in error["message"]
    assert "root:" not in error["message"]  # nothing of the named file comes back
