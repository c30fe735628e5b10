"""The JSONL event log: no audio, no secrets, flushed while the loop is blocked, whole on exit."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from interview_kit.eventlog import (
    FIELD_ORDER,
    REDACTED,
    EventLog,
    base64_size,
    redact,
    strip_userinfo,
    url_secrets,
    write_json,
)

SECRET = "sk-FAKE-eventlog-42"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


class FakeClock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_fields_in_documented_order_and_nones_omitted(tmp_path: Path) -> None:
    clock, wall = FakeClock(100.0), FakeClock(1_700_000_000.0)
    with EventLog(tmp_path / "events.jsonl", clock=clock, wall=wall) as log:
        assert log.t0 == 100.0
        clock.t, wall.t = 101.5, 1_700_000_001.5
        full = log.record("in", "response.done", response_id="resp_1", item_id="item_1", phase="ack_speaking",
                          data={"type": "response.done"}, nbytes=7)
        bare = log.record("local", "phase")
        earlier = log.record("local", "playback.ended", t=1.0, data={"played_ms": 10})
    written = lines(tmp_path / "events.jsonl")
    assert written == [full, bare, earlier]
    assert list(written[0]) == list(FIELD_ORDER)
    assert written[0]["t"] == 1.5 and written[0]["wall"] == 1_700_000_001.5
    assert list(written[1]) == ["t", "wall", "dir", "type"]
    # an explicit t gets the wall time of that moment, not of the call
    assert written[2]["t"] == 1.0 and written[2]["wall"] == pytest.approx(1_700_000_001.0)


def test_audio_payloads_become_byte_counts(tmp_path: Path) -> None:
    pcm = bytes(range(256)) * 19  # 4864 bytes
    b64 = base64.b64encode(pcm).decode()
    with EventLog(tmp_path / "e.jsonl") as log:
        delta = log.record("in", "response.output_audio.delta", response_id="r",
                           data={"type": "response.output_audio.delta", "response_id": "r", "delta": b64})
        append = log.record("out", "input_audio_buffer.append",
                            data={"type": "input_audio_buffer.append", "audio": b64, "audio_start_ms": 0,
                                  "audio_end_ms": 101})
        nested = log.record("out", "conversation.item.create", data={
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user",
                     "content": [{"type": "input_audio", "audio": b64, "transcript": "hello"},
                                 {"type": "input_text", "text": "hi"}]}})
        text_delta = log.record("in", "response.output_audio_transcript.delta", data={"delta": "Hello"})
        config = log.record("out", "session.update", data={"session": {"audio": {"output": {"voice": "x"}}}})
        broken = log.record("in", "response.output_audio.delta", data={"delta": "not base64!!"})
    raw = (tmp_path / "e.jsonl").read_text()
    assert b64[:40] not in raw
    assert delta["bytes"] == len(pcm) and "delta" not in delta["data"]
    assert append["bytes"] == len(pcm) and "audio" not in append["data"]
    assert append["data"]["audio_end_ms"] == 101  # the stream position stays
    part = nested["data"]["item"]["content"][0]
    assert nested["bytes"] == len(pcm) and "audio" not in part and part["transcript"] == "hello"
    assert text_delta["data"]["delta"] == "Hello" and "bytes" not in text_delta  # a transcript is not audio
    assert config["data"]["session"]["audio"] == {"output": {"voice": "x"}}  # audio *config* is kept
    assert broken["bytes"] == 9 and "delta" not in broken["data"]  # invalid: still logged, best-effort size


@given(st.binary(max_size=3000))
def test_base64_size_matches_decoded_length(data: bytes) -> None:
    assert base64_size(base64.b64encode(data).decode()) == len(data)


def test_long_strings_are_cut_with_a_marker(tmp_path: Path) -> None:
    with EventLog(tmp_path / "e.jsonl") as log:
        rec = log.record("in", "response.done", data={"text": "a" * 2000, "short": "b" * 500,
                                                      "list": ["c" * 600]})
    assert rec["data"]["short"] == "b" * 500
    assert rec["data"]["text"].startswith("a" * 500) and "cut 1500 chars" in rec["data"]["text"]
    assert len(rec["data"]["text"]) < 600
    assert "cut 100 chars" in rec["data"]["list"][0]


def test_credential_keys_and_registered_secrets_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    with EventLog(path, secrets=[SECRET]) as log:
        rec = log.record("local", "connection.opened", data={
            "headers": {"Authorization": f"Bearer {SECRET}", "OpenAI-Beta": "realtime=v1", "X-Api-Key": "k1"},
            "config": {"api_key": "other-secret-value", "client_secret": {"value": "ek_1"}, "password": None},
            "url": f"wss://host/v1/realtime?key={SECRET}",
            "nested": [[f"...{SECRET}..."]],
            "long": "x" * 490 + SECRET + "y" * 100,  # the cut must not leave half a secret behind
            SECRET: "as a key",
        })
        log.add_secret("later-secret-42")
        log.record("local", "error", data={"message": "failed with later-secret-42"})
        log.record("local", "x", response_id=f"id-{SECRET}")
    raw = path.read_text()
    for leaked in (SECRET, "other-secret-value", "ek_1", "k1\"", "later-secret-42", SECRET[:20]):
        assert leaked not in raw
    assert rec["data"]["headers"]["Authorization"] == REDACTED
    assert rec["data"]["headers"]["OpenAI-Beta"] == "realtime=v1"
    assert rec["data"]["config"] == {"api_key": REDACTED, "client_secret": REDACTED, "password": None}
    assert rec["data"]["url"] == f"wss://host/v1/realtime?key={REDACTED}"
    assert raw.count(REDACTED) >= 8


def test_flushed_by_the_thread_while_the_event_loop_is_blocked(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"

    async def blocked_loop(log: EventLog) -> int:
        log.record("local", "report.started")
        # the original bug: a synchronous call on the loop; nothing else runs here for a while
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            time.sleep(0.02)  # noqa: ASYNC251 - blocking the loop is the point
            if path.read_text():  # visible to a reader (the analysis, a tail -f) while still blocked
                return len(lines(path))
        return 0

    with EventLog(path, flush_interval=0.05) as log:
        assert asyncio.run(blocked_loop(log)) == 1


def test_close_is_idempotent_and_late_records_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    log = EventLog(path)
    log.record("local", "session.started")
    log.close()
    log.close()
    assert log.closed
    log.record("local", "report.ready", data={"duration_s": 1.0})  # a report finishing after the end
    assert [r["type"] for r in lines(path)] == ["session.started", "report.ready"]


@pytest.mark.parametrize("ending", ["exception", "sys_exit", "os_exit_after_flush"])
def test_complete_on_any_exit_path(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "e.jsonl"
    endings = {
        "exception": "raise RuntimeError('crash')",
        "sys_exit": "sys.exit(3)",
        # os._exit skips atexit: only the flush thread can have saved the lines
        "os_exit_after_flush": "time.sleep(0.5); os._exit(4)",
    }
    script = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from interview_kit.eventlog import EventLog
        log = EventLog(Path({str(path)!r}), flush_interval=0.05)
        for i in range(200):
            log.record("local", "tick", data={{"i": i}})
        {endings[ending]}
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert [r["data"]["i"] for r in lines(path)] == list(range(200))


def test_listeners_get_each_record_and_a_failing_one_is_dropped(tmp_path: Path, caplog) -> None:
    seen: list[dict] = []

    def broken(rec: dict) -> None:
        raise ValueError("listener bug")

    with EventLog(tmp_path / "e.jsonl") as log:
        log.add_listener(seen.append)
        log.add_listener(broken)
        first = log.record("local", "a")
        log.record("local", "b")
        assert log.listeners == [seen.append]
    assert seen[0] is first and [r["type"] for r in seen] == ["a", "b"]
    assert "listener" in caplog.text
    assert len(lines(tmp_path / "e.jsonl")) == 2


def test_concurrent_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    with EventLog(path, flush_interval=0.01) as log:
        def writer(n: int) -> None:
            for i in range(300):
                log.record("local", "w", data={"writer": n, "i": i, "pad": "p" * (i % 50)})
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=30)
    written = lines(path)
    assert len(written) == 1200
    for n in range(4):
        assert [r["data"]["i"] for r in written if r["data"]["writer"] == n] == list(range(300))


class Config(BaseModel):
    model: str
    api_key: str | None
    out: Path


def test_write_json_is_atomic_and_redacted(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "session.json"
    write_json(path, {"old": True})
    obj = {"config": Config(model="gpt", api_key=SECRET, out=tmp_path), "note": f"key {SECRET}",
           "name": "한국어"}
    write_json(path, obj, secrets=[SECRET])
    text = path.read_text(encoding="utf-8")
    assert SECRET not in text and "한국어" in text and '\n  "config"' in text  # UTF-8, indent 2
    data = json.loads(text)
    assert data["config"] == {"model": "gpt", "api_key": REDACTED, "out": str(tmp_path)}
    assert data["note"] == f"key {REDACTED}"
    assert [p.name for p in path.parent.iterdir()] == ["session.json"]  # no temporary file left


def test_redact_leaves_the_original_untouched() -> None:
    original = {"Authorization": "Bearer x", "items": [{"text": SECRET}]}
    copy = redact(original, [SECRET])
    assert copy == {"Authorization": REDACTED, "items": [{"text": REDACTED}]}
    assert original["items"][0]["text"] == SECRET


def test_urls_lose_their_credentials_and_a_key_variables_name_stays() -> None:
    url = "https://bob:hunter2-pw@proxy.example:8443/v1"
    assert strip_userinfo(url) == "https://proxy.example:8443/v1"
    assert strip_userinfo(f"could not connect to {url}: refused") == \
        "could not connect to https://proxy.example:8443/v1: refused"
    assert strip_userinfo("mail bob@example.com") == "mail bob@example.com"  # no URL, no change
    assert "hunter2-pw" in url_secrets(url) and url_secrets("https://example.com/v1") == []
    cleaned = redact({"api_key_env": "OPENAI_API_KEY", "api_key": "sk-real-123", "x-api-key": "v"})
    assert cleaned == {"api_key_env": "OPENAI_API_KEY", "api_key": REDACTED, "x-api-key": REDACTED}
