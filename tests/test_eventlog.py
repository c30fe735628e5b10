"""The JSONL event log: no audio, no secrets, flushed while the loop is blocked, whole on exit."""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
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


# --- the fast path: the same records and lines as the generic walk -----------------------------------

B64 = base64.b64encode(bytes(range(256)) * 10).decode()  # 2560 bytes of "audio"


class Kind(StrEnum):
    AUDIO = "response.output_audio.delta"
    PHASE = "interviewing"
    IN = "in"


Call = tuple[tuple, dict]


def both_paths(tmp_path: Path, calls: list[Call], secrets: list[str]) -> tuple[list[dict], bytes, list[str]]:
    """Write `calls` through a fast log and a generic (``fast=False``) one on the same fake clocks, assert
    that records and files are the same, and return the records, the file and the calls of the fast log
    that fell back to the generic walk (their types)."""
    from interview_kit import eventlog

    generic = eventlog.reference_record
    fallbacks: list[str] = []
    out = []
    for fast in (True, False):
        clock, wall = FakeClock(10.0), FakeClock(1_700_000_000.0)
        path = tmp_path / f"{'fast' if fast else 'generic'}.jsonl"
        if fast:
            eventlog.reference_record = lambda *a, **k: fallbacks.append(str(a[1])) or generic(*a, **k)
        try:
            with EventLog(path, secrets=secrets, clock=clock, wall=wall, fast=fast) as log:
                recs = []
                for i, (args, kwargs) in enumerate(calls):
                    clock.t, wall.t = 10.0 + i * 0.0371, 1_700_000_000.0 + i * 0.0371
                    recs.append(log.record(*args, **kwargs))
        finally:
            eventlog.reference_record = generic
        out.append((recs, path.read_bytes()))
    (fast_recs, fast_raw), (generic_recs, generic_raw) = out
    assert fast_raw == generic_raw
    assert fast_recs == generic_recs
    for a, b in zip(fast_recs, generic_recs, strict=True):
        assert list(a) == list(b)  # the field order too
    return fast_recs, fast_raw, fallbacks


def session_audio_delta(event_id: str = "event_1", rid: str = "resp_1") -> Call:
    """The call the session's audio hot path makes (payload decoded and counted by the session)."""
    return ((Kind.IN, Kind.AUDIO), {"response_id": rid, "item_id": "item_1", "phase": Kind.PHASE,
                                    "nbytes": 4800,
                                    "data": {"event_id": event_id, "output_index": 0, "content_index": 0}})


RESPONSE_DONE = {
    "type": "response.done", "event_id": "event_9",
    "response": {"object": "realtime.response", "id": "resp_1", "status": "completed", "status_details": None,
                 "output": [{"id": "item_1", "type": "message", "role": "assistant",
                             "content": [{"type": "output_audio", "transcript": "Hello " * 120,
                                          "audio": B64}]}],
                 "max_output_tokens": "inf", "usage": {"total_tokens": 288, "input_token_details": {
                     "cached_tokens": 0, "cached_tokens_details": {"text_tokens": 0}}},
                 "metadata": {"purpose": "question"}, "ratio": 0.25, "flags": [True, False, None, 1.5e-7]}}


def test_fast_path_lines_equal_the_generic_walk(tmp_path: Path) -> None:
    calls = [
        session_audio_delta(),
        session_audio_delta(f"event_{SECRET}"),  # a secret inside a fast-path event
        (("in", "response.output_audio.delta"), {"response_id": "resp_1", "data": {  # the whole wire event
            "type": "response.output_audio.delta", "event_id": "e", "response_id": "resp_1", "item_id": "i",
            "output_index": 0, "content_index": 0, "delta": B64}}),
        (("in", "response.output_audio_transcript.delta"), {"response_id": "resp_1", "data": {
            "type": "response.output_audio_transcript.delta", "delta": f"Hi, {SECRET}!", "output_index": 0,
            "at_limit": "b" * 500, "over": "b" * 501, "listed": ["b" * 500, "b" * 501]}}),
        (("in", "response.done"), {"response_id": "resp_1", "phase": "ack_speaking", "data": RESPONSE_DONE}),
        (("out", "input_audio_buffer.append"), {"data": {"type": "input_audio_buffer.append", "audio": B64,
                                                         "audio_start_ms": 0, "audio_end_ms": 101.5}}),
        (("out", "session.update"), {"data": {"session": {"audio": {"output": {"voice": "x"}}},
                                              "tools": ({"name": "end_interview"},)}}),
        (("local", "connection.opened"), {"data": {
            "headers": {"Authorization": f"Bearer {SECRET}", "X-Api-Key": "k1", "api_key": "",
                        "password": None},
            "config": {"api_key_env": "OPENAI_API_KEY", "client_secret": {"value": "ek_1"}, "apikey": 0},
            "url": f"wss://host/v1?key={SECRET}", "long": "x" * 490 + SECRET + "y" * 100,
            "list": [["c" * 600], {"delta": "word " * 130}]}}),  # a nested "delta" is not audio
        (("local", "phase"), {"phase": Kind.PHASE, "data": {"from": Kind.PHASE, "to": "triggered", "n": 3}}),
        (("local", f"type-{SECRET}"), {"response_id": f"id-{SECRET}", "item_id": SECRET, "phase": SECRET}),
        (("local", "playback.ended"), {"t": 1.25, "nbytes": 0, "data": {}}),
    ]
    recs, raw_bytes, fallbacks = both_paths(tmp_path, calls, [SECRET])
    assert fallbacks == []  # every one of these took the fast path
    raw = raw_bytes.decode()
    assert SECRET not in raw and SECRET[:20] not in raw and "ek_1" not in raw
    assert B64[:40] not in raw  # audio never reaches the file
    assert recs[0]["data"] == {"event_id": "event_1", "output_index": 0, "content_index": 0}
    assert recs[0]["bytes"] == 4800 and recs[1]["data"]["event_id"] == f"event_{REDACTED}"
    assert recs[2]["bytes"] == 2560 and "delta" not in recs[2]["data"]
    assert recs[3]["data"]["delta"] == f"Hi, {REDACTED}!" and "bytes" not in recs[3]
    cut = "b" * 500 + "…[cut 1 chars]"
    assert recs[3]["data"]["at_limit"] == "b" * 500 and recs[3]["data"]["over"] == cut
    assert recs[3]["data"]["listed"] == ["b" * 500, cut]
    part = recs[4]["data"]["response"]["output"][0]["content"][0]
    assert recs[4]["bytes"] == 2560 and "audio" not in part and "cut 220 chars" in part["transcript"]
    assert recs[5]["bytes"] == 2560 and recs[5]["data"]["audio_end_ms"] == 101.5
    opened = recs[7]["data"]
    assert opened["headers"] == {"Authorization": REDACTED, "X-Api-Key": REDACTED, "api_key": "",
                                 "password": None}
    assert opened["config"] == {"api_key_env": "OPENAI_API_KEY", "client_secret": REDACTED,
                                "apikey": REDACTED}
    assert opened["list"] == [["c" * 500 + "…[cut 100 chars]"], {"delta": "word " * 100 + "…[cut 150 chars]"}]
    assert recs[9]["type"] == f"type-{REDACTED}" and recs[9]["item_id"] == REDACTED
    assert recs[10]["t"] == 1.25 and recs[10]["bytes"] == 0 and recs[10]["data"] == {}


def test_edge_values_give_the_same_line_either_way(tmp_path: Path) -> None:
    @dataclass
    class Part:
        audio: bytes
        where: Path

    calls = [  # the first five are not plain JSON values: the fast path hands them to the generic walk
        (("local", "x"), {"data": {"part": Part(b"\0" * 10, tmp_path), "kinds": {"b", "a"}}}),
        (("local", "x"), {"data": {1: "int key"}}),
        (("local", "x"), {"data": Config(model="m", api_key=SECRET, out=tmp_path)}),
        (("local", "x"), {"response_id": 5}),
        (("local", "x"), {"data": {REDACTED: 1, SECRET: 2}}),  # two keys redacted to one name
        (("local", "x"), {"data": {"n": 10**30, "f": float("nan"), "g": 1e300 * 10}}),  # 10**30: json writes
        (("local", "x"), {"data": {"lone": "\ud800", "a" * 600: 1, "a" * 601: 2}}),
        session_audio_delta(event_id="e" * 600),  # the fixed shape, but too long: the walk cuts it
    ]
    _, raw, fallbacks = both_paths(tmp_path, calls, [SECRET])
    assert len(fallbacks) == 5
    written = [json.loads(line) for line in raw.decode().splitlines()]
    assert written[0]["bytes"] == 10 and written[0]["data"]["kinds"] == ["a", "b"]
    assert written[1]["data"] == {"1": "int key"} and written[3]["response_id"] == 5
    assert written[2]["data"]["api_key"] == REDACTED and written[4]["data"] == {REDACTED: 2}
    assert written[5]["data"]["n"] == 10**30 and written[5]["data"]["f"] != written[5]["data"]["f"]  # NaN
    assert written[6]["data"]["lone"] == "\ud800" and len(written[6]["data"]) == 3
    assert "cut 100 chars" in written[7]["data"]["event_id"]


def test_fast_path_with_several_secrets_and_none(tmp_path: Path) -> None:
    secrets = [SECRET, "FAKE-event", "another-secret-9"]  # one inside another: the longest goes first
    calls = [
        session_audio_delta(event_id="event_FAKE-event_1"),
        (("in", "response.output_audio_transcript.delta"), {"item_id": "another-secret-9", "data": {
            "delta": f"{SECRET} and FAKE-event and another-secret-9", "FAKE-event": ["another-secret-9"]}}),
    ]
    recs, raw, fallbacks = both_paths(tmp_path / "several", calls, secrets)
    assert fallbacks == [] and not any(s.encode() in raw for s in secrets)
    assert recs[1]["data"] == {"delta": f"{REDACTED} and {REDACTED} and {REDACTED}", REDACTED: [REDACTED]}
    recs, raw, fallbacks = both_paths(tmp_path / "none", calls, [])
    assert fallbacks == [] and recs[1]["item_id"] == "another-secret-9"


plain_keys = st.sampled_from(["type", "delta", "audio", "text", "api_key", "Authorization", "api_key_env",
                              "event_id", "x-api-key", "password", SECRET, "k"])
plain_text = st.one_of(st.sampled_from(["", "hello", SECRET, f"a {SECRET} b", "é한국어", B64]),
                       st.text(max_size=600))
plain_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False),
              plain_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(plain_keys, inner, max_size=5)),
    max_leaves=20)


@given(event=st.dictionaries(plain_keys, plain_values, max_size=8),
       kind=st.sampled_from(["response.output_audio.delta", "response.done", "local.thing"]),
       ids=st.sampled_from([None, "resp_1", f"r-{SECRET}"]))
def test_fast_path_equals_the_generic_walk_on_any_plain_event(tmp_path_factory, event, kind, ids) -> None:
    tmp_path = tmp_path_factory.mktemp("prop")
    call = (("in", kind), {"response_id": ids, "item_id": ids, "data": event})
    _, _, fallbacks = both_paths(tmp_path, [call], [SECRET])
    assert len(fallbacks) <= 1  # (two keys redacted or cut to one name)


def test_audio_delta_hot_path_line(tmp_path: Path) -> None:
    """The line the session writes for every audio delta: fixed shape, documented order, no audio."""
    clock, wall = FakeClock(0.0), FakeClock(1_700_000_000.0)
    with EventLog(tmp_path / "e.jsonl", secrets=[SECRET], clock=clock, wall=wall) as log:
        clock.t, wall.t = 2.0000004, 1_700_000_002.0000004
        args, kwargs = session_audio_delta()
        log.record(*args, **kwargs)
    line = (tmp_path / "e.jsonl").read_text()
    assert line == ('{"t":2.0,"wall":1700000002.0,"dir":"in","type":"response.output_audio.delta",'
                    '"response_id":"resp_1","item_id":"item_1","phase":"interviewing","bytes":4800,'
                    '"data":{"event_id":"event_1","output_index":0,"content_index":0}}\n')


AUDIO_DATA_KEYS = ("event_id", "output_index", "content_index")


def wire_delta(event_id: object = "event_1", output_index: object = 0, content_index: object = 0) -> dict:
    return {"type": "response.output_audio.delta", "event_id": event_id, "response_id": "r", "item_id": "i",
            "output_index": output_index, "content_index": content_index, "delta": B64}


@pytest.mark.parametrize("secrets", [[SECRET], [], [SECRET, "index"]])  # "index": key names redacted
def test_audio_delta_line_is_the_record_line(tmp_path: Path, secrets: list[str]) -> None:
    """`record_audio_delta` (the session's hot path) writes what `record` writes with the generic walk,
    for the usual values and for those it hands over to `record` (fallbacks)."""
    calls = [  # (event, response_id, item_id, phase)
        (wire_delta(), "resp_1", "item_1", Kind.PHASE),
        (wire_delta("event_2"), "resp_1", "item_1", Kind.PHASE),  # the same ids: the cached line
        (wire_delta("event_3"), "resp_2", "item_2", "ack_speaking"),  # new ids
        (wire_delta("event_4"), None, None, None),
        (wire_delta(f"event_{SECRET}"), f"resp_{SECRET}", f"item-{SECRET}", f"phase {SECRET}"),
        (wire_delta("e" * 501), "resp_2", "item_2", "ack_speaking"),  # cut by the walk
        (wire_delta(output_index=None), "resp_2", "item_2", "ack_speaking"),
        (wire_delta(content_index=True), "resp_2", "item_2", "ack_speaking"),
        (wire_delta(event_id=7), "resp_2", "item_2", "ack_speaking"),
        ({"type": "response.output_audio.delta"}, "resp_2", "item_2", "ack_speaking"),
        (wire_delta("event_5"), 5, "item_2", "ack_speaking"),
        (wire_delta("event_6"), "resp_2", "item_2", "ack_speaking"),
    ]
    out = []
    for fast in (True, False):
        clock, wall = FakeClock(10.0), FakeClock(1_700_000_000.0)
        path = tmp_path / f"{'fast' if fast else 'generic'}.jsonl"
        with EventLog(path, secrets=secrets, clock=clock, wall=wall, fast=fast) as log:
            recs = []
            for i, (event, rid, item, phase) in enumerate(calls):
                clock.t, wall.t = 10.0 + i * 0.0371, 1_700_000_000.0 + i * 0.0371
                if fast:
                    recs.append(log.record_audio_delta(event, response_id=rid, item_id=item, phase=phase,
                                                       nbytes=4800))
                else:
                    recs.append(log.record("in", "response.output_audio.delta", response_id=rid, item_id=item,
                                           phase=phase, nbytes=4800,
                                           data={k: event.get(k) for k in AUDIO_DATA_KEYS}))
        out.append((recs, path.read_bytes()))
    (fast_recs, fast_raw), (generic_recs, generic_raw) = out
    assert fast_raw == generic_raw
    assert fast_recs == generic_recs
    assert [list(r) for r in fast_recs] == [list(r) for r in generic_recs]
    assert B64[:40].encode() not in fast_raw
    if secrets:
        assert SECRET.encode() not in fast_raw


@pytest.mark.parametrize("x", [0.0, 1e-7, 5e-7, 1.5e-6, 2.5e-6, 0.1234565, 12.3456785, 86_399.9999995,
                               -0.0000025, 1_700_000_000.0000005, 1_764_000_000.123456, 2_251_799_813.7, 9e15,
                               1e300])
def test_times_are_rounded_to_the_microsecond_as_round(tmp_path: Path, x: float) -> None:
    """The hot rounding gives round(x * 1e6) / 1e6 exactly (half to even), also past its range."""
    clock, wall = FakeClock(0.0), FakeClock(0.0)
    with EventLog(tmp_path / "e.jsonl", clock=clock, wall=wall) as log:
        clock.t = wall.t = x
        rec = log.record("local", "x")
    assert rec["t"] == rec["wall"] == round(x * 1e6) / 1e6


def test_times_that_are_not_numbers_are_kept(tmp_path: Path) -> None:
    clock, wall = FakeClock(0.0), FakeClock(0.0)
    with EventLog(tmp_path / "e.jsonl", clock=clock, wall=wall) as log:
        clock.t, wall.t = float("inf"), float("nan")
        rec = log.record("local", "x")
    assert rec["t"] == float("inf") and rec["wall"] != rec["wall"]


def test_lines_reach_the_file_in_order_at_each_spill_flush_and_close(tmp_path: Path) -> None:
    """Encoded lines go to the file together, every `SPILL_LINES`, at each flush (the thread's too) and at
    close; `lines_written` counts those handed to it."""
    from interview_kit.eventlog import SPILL_LINES

    path = tmp_path / "e.jsonl"
    log = EventLog(path, flush_interval=3600)
    for i in range(5):
        log.record("local", "tick", data={"i": i})
    assert log.lines_written == 0
    log.flush()
    assert log.lines_written == 5 and [r["data"]["i"] for r in lines(path)] == list(range(5))
    for i in range(5, 5 + SPILL_LINES):
        log.record("local", "tick", data={"i": i})
    assert log.lines_written == 5 + SPILL_LINES  # spilled by the record that filled the queue
    log.record("local", "tick", data={"i": 5 + SPILL_LINES})
    log._lines.append(b'{"queued":"by another thread as close() runs"}\n')
    log.close()
    written = lines(path)
    assert [r["data"]["i"] for r in written[:-1]] == list(range(6 + SPILL_LINES))
    assert written[-1] == {"queued": "by another thread as close() runs"}
    assert log.lines_written == len(written)


def test_flat_data_is_copied(tmp_path: Path) -> None:
    data = {"type": "response.output_audio_transcript.delta", "delta": " hello", "output_index": 0,
            "ratio": 0.5, "final": False, "none": None}
    with EventLog(tmp_path / "e.jsonl", secrets=[SECRET]) as log:
        rec = log.record("in", "response.output_audio_transcript.delta", data=data)
    assert rec["data"] == data and rec["data"] is not data
    assert lines(tmp_path / "e.jsonl")[0]["data"] == data


# --- a log that cannot be written ---------------------------------------------------------------------


class FillingDisk:
    """The log's file on a disk with `room` bytes left: a write takes what fits, then the next one is
    refused with ENOSPC, as a real full disk does."""

    def __init__(self, real, room: int) -> None:
        self.real, self.room, self.refused = real, room, 0

    def write(self, data) -> int:
        if self.room <= 0:
            self.refused += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.room)
        self.room -= n
        return self.real.write(data[:n])

    def truncate(self, size: int) -> int:
        return self.real.truncate(size)

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()


def on_a_filling_disk(path: Path, room: int, **kwargs) -> tuple[EventLog, FillingDisk, list[str]]:
    told: list[str] = []
    log = EventLog(path, on_write_error=told.append, **kwargs)
    disk = log._file = FillingDisk(log._file, room)
    return log, disk, told


def test_a_full_disk_leaves_whole_lines_and_is_told_once(tmp_path: Path, caplog) -> None:
    log, disk, told = on_a_filling_disk(tmp_path / "e.jsonl", room=1000, flush_interval=0.01)
    seen: list[dict] = []
    log.add_listener(seen.append)
    for i in range(200):  # ~60 bytes a line: the disk fills in the middle of a line
        log.record("local", "tick", data={"i": i})
    log._flusher.join(timeout=30)
    assert not log._flusher.is_alive()  # it stopped instead of failing every interval
    refused = disk.refused
    for i in range(200, 300):
        log.record("local", "tick", data={"i": i})  # the interview goes on; nothing raises
    assert disk.refused == refused  # ... and nothing more is tried until close
    log.close()
    assert told == ["No space left on device while writing e.jsonl"]  # once, in words
    assert not [r for r in caplog.records if r.name == "interview_kit.eventlog"]  # the hook says it
    assert [r["data"]["i"] for r in seen] == list(range(300))  # listeners (the panel) see every record
    text = (tmp_path / "e.jsonl").read_bytes()
    assert text.endswith(b"\n")  # the cut line was cut back
    written = [json.loads(line)["data"]["i"] for line in text.splitlines()]
    assert written == list(range(len(written))) and 0 < len(written) < 1000 // 40
    assert log.lines_written == len(written) and log.lines_lost == 300 - len(written)
    assert isinstance(log.error, OSError) and log.error.errno == errno.ENOSPC


def test_the_last_lines_are_written_at_close_when_space_was_freed(tmp_path: Path) -> None:
    log, disk, told = on_a_filling_disk(tmp_path / "e.jsonl", room=500)
    for i in range(100):
        log.record("local", "tick", data={"i": i})
    log.flush()
    assert told and disk.refused
    disk.room = 10_000  # the folder freed its reserve for the final files
    log.record("local", "session.ended", data={"outcome": "failed"})
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "e.jsonl").read_bytes().splitlines()]
    assert lines[-1]["type"] == "session.ended"  # the last line made it; whole lines only
    assert len(told) == 1


def test_without_a_hook_a_write_error_is_logged_once_without_a_traceback(tmp_path: Path, caplog) -> None:
    log = EventLog(tmp_path / "e.jsonl")
    log._file = FillingDisk(log._file, room=0)
    for i in range(100):
        log.record("local", "tick", data={"i": i})
    log.close()
    records = [r for r in caplog.records if r.name == "interview_kit.eventlog"]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.ERROR and records[0].exc_info is None
    assert "No space left on device while writing e.jsonl" in records[0].getMessage()
    assert log.lines_written == 0 and (tmp_path / "e.jsonl").read_bytes() == b""


def test_a_hook_that_raises_is_logged_and_the_log_goes_on(tmp_path: Path, caplog) -> None:
    def broken(message: str) -> None:
        raise RuntimeError("hook broke")

    log = EventLog(tmp_path / "e.jsonl", on_write_error=broken)
    log._file = FillingDisk(log._file, room=0)
    for i in range(100):
        log.record("local", "tick", data={"i": i})
    log.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "interview_kit.eventlog"]
    assert len(messages) == 1 and "hook broke" in messages[0] and "No space left" in messages[0]


# --- the hot path's decoder ---------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [
    '{"type": "x", "a": NaN}', '{"type": "x", "a": 1e400}', '{"type": "x", "a": "\\ud800"}',
    b'\xef\xbb\xbf{"type": "x"}', '{"type": "x"}'.encode("utf-16"), '{"type": "x", "a": 1, "a": 2}',
    ' {"type": "x", "n": 18446744073709551615, "f": -0.0} \n',
])
def test_parse_server_event_decodes_what_json_decodes(frame: str | bytes) -> None:
    """orjson decodes the frames; what it refuses, json decodes as before."""
    from interview_kit.protocol import parse_server_event

    assert repr(parse_server_event(frame)) == repr(json.loads(frame))


def test_parse_server_event_turns_deep_nesting_into_a_protocol_error() -> None:
    from interview_kit.protocol import ProtocolError, parse_server_event

    with pytest.raises(ProtocolError):
        parse_server_event('{"type": "x", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")
