"""Replay of recorded session folders: the samples replay as recorded, doctored recordings are reported
as differences (exit 1), bad folders are one-line errors (exit 2). Every replay runs on the virtual
clock: a 35 s recording takes a fraction of a second."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from interview_kit import protocol as proto
from interview_kit.cli import main
from interview_kit.replay import Recording, ReplayError, ReplayTransport, format_result, replay
from interview_kit.replay.recording import frame_of
from interview_kit.transport import RealtimeTransport, TransportClosed
from interview_kit.virtual_clock import VirtualClockLoop, run_virtual

SESSIONS = Path(__file__).resolve().parents[1] / "data" / "sessions"


def sample(scenario: str, mode: str = "overlap") -> Path:
    """The sample folder of a scenario and assessment mode (sample names change when regenerated)."""
    for folder in sorted(p.parent for p in SESSIONS.glob("*/session.json")):
        info = json.loads((folder / "session.json").read_text())
        if info.get("scenario") == scenario and info.get("assessment_mode") == mode:
            return folder
    raise LookupError(f"no sample session for {scenario} / {mode}")


def copy_of(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "recording" / folder.name))


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(folder: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


# --- the samples replay as recorded -----------------------------------------------------------------


@pytest.mark.parametrize("scenario, mode", [
    ("slow-report", "blocking"),  # a 5 s report on the loop, then the server's 1011 keepalive close
    ("drop-during-summary", "overlap"),  # 1006 mid-summary
    ("stalled-server", "overlap"),  # unanswered pings, the client's own 1011
    ("default", "after-ack"),  # a whole interview, 105 s
])
def test_a_sample_replays_as_recorded(scenario, mode, tmp_path):
    folder = sample(scenario, mode)
    before = snapshot(folder)
    result = replay(folder, out_dir=tmp_path)  # on a virtual clock: a 105 s interview in a fraction of it
    assert result.agree, format_result(result, verbose=1)
    assert result.folder is not None and result.folder.parent == tmp_path
    assert snapshot(folder) == before  # the recording is never written to
    recorded, replayed = result.recorded, result.replayed
    assert replayed is not None
    assert [p.what for p in replayed.phases] == [p.what for p in recorded.phases]
    assert replayed.outcome == recorded.outcome and replayed.close.code == recorded.close.code
    assert [r.what for r in replayed.requests] == [r.what for r in recorded.requests]


def test_the_replay_is_the_same_every_time(tmp_path):
    folder = sample("slow-report", "overlap")  # the report hands its result back from a thread
    runs = [replay(folder, out_dir=tmp_path / str(n)) for n in range(3)]
    timelines = {tuple((s.what, s.t) for s in r.replayed.phases + r.replayed.requests) for r in runs}
    assert len(timelines) == 1


def test_the_blocking_report_stalls_the_replayed_loop_and_the_close_comes_after_it(tmp_path):
    folder = sample("slow-report", "blocking")
    recorded = max(r["data"]["duration_ms"] for r in Recording.load(folder).events
                   if r["type"] == "loop.stall")
    result = replay(folder, out_dir=tmp_path)
    events = [json.loads(line) for line in (result.folder / "events.jsonl").read_text().splitlines()]
    stalls = [e for e in events if e["type"] == "loop.stall"]
    assert len(stalls) == 1 and stalls[0]["data"]["duration_ms"] == pytest.approx(recorded, abs=20)
    assert recorded > 4000  # the report's 5 s call on the loop
    closed = next(e for e in events if e["type"] == "connection.closed")
    assert closed["data"] == {"code": 1011, "reason": "keepalive ping timeout", "by": "server"}
    assert "response.create summary" not in [r.what for r in result.replayed.requests]  # as recorded


def test_cli_agreement_exits_0(capsys, tmp_path):
    code, out, err = run_cli(capsys, str(sample("drop-during-summary")), "--out", str(tmp_path))
    assert code == 0, out + err  # the drop, the reconnect and the summary asked again, as recorded
    assert "summary_speaking" in out and "complete" in out and out.rstrip().splitlines()[-1].startswith(
        "agree")
    kept = list(tmp_path.iterdir())  # with --out nothing is removed
    assert len(kept) == 1 and f"replay folder: {kept[0]}\n" in out and (kept[0] / "events.jsonl").is_file()


# --- the temporary folder ---------------------------------------------------------------------------


def test_a_temporary_replay_folder_is_removed_at_the_end(capsys, tmp_path, monkeypatch):
    """Without --out the replay writes into a new temporary folder; one per replay would pile up, so it
    is gone afterwards (it was there while the replay ran)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    during: list[Path] = []

    def watch(record: dict) -> None:
        if not during:
            during.extend(tmp_path.glob("interview-kit-replay-*/*/events.jsonl"))

    result = replay(sample("stalled-server"), on_record=watch)
    assert result.agree and result.replayed is not None  # compared before the folder went
    assert len(during) == 1 and result.removed and result.folder is None
    assert list(tmp_path.iterdir()) == []
    code, out, err = run_cli(capsys, str(sample("stalled-server")))
    assert code == 0, out + err
    assert "replay folder: removed (a temporary one: --keep or --out DIR keeps it)" in out
    assert list(tmp_path.iterdir()) == []


def test_keep_keeps_the_temporary_folder_and_prints_its_path(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    code, out, err = run_cli(capsys, str(sample("stalled-server")), "--keep")
    assert code == 0, out + err
    printed = re.search(r"^replay folder: (.+)$", out, re.M)
    assert printed is not None
    kept = Path(printed.group(1))
    assert kept.parent.parent == tmp_path and kept.parent.name.startswith("interview-kit-replay-")
    assert Recording.load(kept).summary.outcome == Recording.load(sample("stalled-server")).summary.outcome


# --- doctored recordings differ ---------------------------------------------------------------------


def test_a_changed_outcome_is_a_difference(capsys, tmp_path):
    folder = copy_of(sample("drop-during-summary"), tmp_path)
    edit_json(folder / "session.json", lambda s: s.update(outcome="disconnected"))
    code, out, _ = run_cli(capsys, str(folder), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "outcome: recorded disconnected, replayed complete" in out


def test_a_changed_phase_is_a_difference(capsys, tmp_path):
    folder = copy_of(sample("slow-report", "blocking"), tmp_path)

    def change(s):
        assert s["phases"][3]["to"] == "awaiting_report"
        s["phases"][3]["to"] = "summary_sending"
        s["phases"][4]["t"] += 1.0  # and one moved by a second

    edit_json(folder / "session.json", change)
    result = replay(folder, out_dir=tmp_path / "out")
    kinds = sorted(d.kind for d in result.differences)
    assert kinds == ["phases", "timing"], kinds
    assert "phase 4: recorded summary_sending" in str(result.differences[0])
    code, out, _ = run_cli(capsys, str(folder), "--out", str(tmp_path / "out"))
    assert code == 1 and "≠ summary_sending / awaiting_report" in out and "\n  ! summary_sending" in out


def test_a_removed_server_event_is_a_difference(capsys, tmp_path):
    """Without the model's end_interview call there is no assessment: the replay goes on interviewing
    (through the recorded drop and its reconnect) until it is given up on."""
    folder = copy_of(sample("drop-during-summary"), tmp_path)
    lines = (folder / "events.jsonl").read_text().splitlines(keepends=True)

    def the_call(line: str) -> bool:
        rec = json.loads(line)
        return rec["dir"] == "in" and "end_interview" in line and rec["type"] in (
            "response.function_call_arguments.done", "response.done")

    kept = [line for line in lines if not the_call(line)]
    assert len(kept) == len(lines) - 2  # the call's arguments.done, and the response.done holding it
    (folder / "events.jsonl").write_text("".join(kept))
    code, out, _ = run_cli(capsys, str(folder), "--out", str(tmp_path / "out"))
    assert code == 1
    assert "trigger: recorded tool, replayed none" in out
    assert "phases: phases triggered, ack_generating, ack_speaking, summary_sending, summary_speaking" in out
    assert "did not happen in the replay" in out
    # ...and the ack and summary the recording's server created unasked are cancelled, never played
    assert ("response.create ack, response.create summary (from " in out
            and "replayed response.cancel, response.cancel" in out)
    assert "\n  - triggered " in out and "\n  - complete " in out  # the table marks the missing ones


def test_a_changed_report_is_a_difference(tmp_path):
    folder = copy_of(sample("default", "after-ack"), tmp_path)
    edit_json(folder / "report.json", lambda r: r.update(error="AssessmentError: boom"))
    result = replay(folder, out_dir=tmp_path / "out")
    assert [d.kind for d in result.differences] == ["report"]


# --- bad folders: exit 2, one line ------------------------------------------------------------------


def _one_line_error(capsys, *args: str) -> str:
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
    return err


def test_a_folder_without_events_is_exit_2(capsys, tmp_path):
    folder = copy_of(sample("stalled-server"), tmp_path)
    (folder / "events.jsonl").unlink()
    assert "no events.jsonl" in _one_line_error(capsys, str(folder))


def test_a_truncated_last_line_is_exit_2(capsys, tmp_path):
    folder = copy_of(sample("stalled-server"), tmp_path)
    text = (folder / "events.jsonl").read_text()
    (folder / "events.jsonl").write_text(text[: len(text) - 40])
    err = _one_line_error(capsys, str(folder))
    assert f"line {len(text.splitlines())} is not valid JSON" in err and "truncated" in err


def test_missing_and_unusable_folders_are_exit_2(capsys, tmp_path):
    assert "no such folder" in _one_line_error(capsys, str(tmp_path / "nowhere"))
    folder = copy_of(sample("stalled-server"), tmp_path)
    (folder / "session.json").write_text("{")
    assert "session.json: not valid JSON" in _one_line_error(capsys, str(folder))
    folder = copy_of(sample("drop-during-summary"), tmp_path)
    edit_json(folder / "session.json", lambda s: s["config"].update(assessment_mode="sideways"))
    assert "assessment_mode must be one of" in _one_line_error(capsys, str(folder))
    folder = sample("stalled-server")
    assert "must not write into the recorded folder" in _one_line_error(
        capsys, str(folder), "--out", str(folder / "replays"))


# --- the parts ----------------------------------------------------------------------------------------


def test_audio_deltas_come_back_as_silence_of_their_logged_size():
    recording = Recording.load(sample("stalled-server"))
    rec = next(r for r in recording.events if r["type"] == "response.output_audio.delta")
    event = proto.parse_server_event(frame_of(rec))
    assert len(proto.audio_of(event)) == rec["bytes"] == 4800 and not any(proto.audio_of(event))
    assert proto.response_id_of(event) == rec["response_id"] and proto.item_id_of(event) == rec["item_id"]
    for rec in recording.events:
        if rec["dir"] == "in":
            assert proto.parse_server_event(frame_of(rec))["type"] == rec["type"]


def test_the_transport_plays_the_server_side_back_on_the_recorded_clock():
    """The stalled-server recording's first connection: frames at their times, the pings answered as
    recorded (after their round trip, or never), then the client-side keepalive close."""
    recording = Recording.load(sample("stalled-server"))

    async def play() -> tuple[list[float], list[float | None], TransportClosed]:
        loop = asyncio.get_running_loop()
        transport = ReplayTransport(recording)
        assert isinstance(transport, RealtimeTransport)
        transport.start_clock(loop.time())
        await transport.connect()
        arrivals: list[float] = []

        async def read() -> TransportClosed:
            with pytest.raises(TransportClosed) as closed:
                while True:
                    await transport.receive()
                    arrivals.append(loop.time())
            return closed.value

        reader = asyncio.create_task(read())
        for request in ("session.update", "response.create"):  # what the recorded client sent first
            await transport.send(json.dumps({"type": request}))
        rtts = []
        for _ in range(2):
            pong = await transport.ping()
            done, _ = await asyncio.wait({pong}, timeout=1.0)
            rtts.append(pong.result() if done else None)
        assert [t for t, _ in transport.sent] == [recording.opened_t] * 2
        return arrivals, rtts, await reader

    arrivals, rtts, closed = run_virtual(play())
    assert arrivals == pytest.approx([item.t for item in recording.server_items], abs=1e-6)
    assert rtts == pytest.approx([p if p is None or p < 1.0 else None for p in recording.pings[:2]], abs=1e-6)
    info = closed.info
    assert (info.code, info.reason, info.by) == (1011, "keepalive ping timeout", "client")


def test_a_frame_that_may_answer_a_request_waits_for_it():
    """session.updated was read after the client's session.update: sent late, it still comes after."""
    recording = Recording.load(sample("stalled-server"))

    async def play() -> list[tuple[float, str]]:
        loop = asyncio.get_running_loop()
        transport = ReplayTransport(recording)
        transport.start_clock(loop.time())
        await transport.connect()
        seen: list[tuple[float, str]] = []

        async def read() -> None:
            while len(seen) < 2:
                frame = await transport.receive()
                seen.append((loop.time(), json.loads(frame)["type"]))

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.5)
        await transport.send('{"type": "session.update"}')
        await reader
        await transport.close()
        return seen

    sent_at = recording.opened_t + 0.5
    (created_at, first), updated = run_virtual(play())
    assert first == "session.created" and created_at <= sent_at and updated == (sent_at, "session.updated")


def test_a_bad_folder_raises_replay_error(tmp_path):
    (tmp_path / "session.json").write_text("{}")
    (tmp_path / "events.jsonl").write_text("")
    with pytest.raises(ReplayError, match="no events"):
        replay(tmp_path)


def test_the_virtual_clock_jumps_holds_for_threads_and_can_stall():
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualClockLoop)
        seen = [loop.time()]
        await asyncio.sleep(3600)
        seen.append(loop.time())
        await asyncio.to_thread(time.sleep, 0.05)  # the clock waits for the thread
        seen.append(loop.time())
        woke = []
        loop.call_later(1.0, lambda: woke.append(loop.time()))
        loop.advance(5.0)  # a synchronous 5 s stall: the 1 s timer fires late
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen += [loop.time(), *woke]
        return seen

    assert run_virtual(main()) == [0.0, 3600.0, 3600.0, 3605.0, 3605.0]  # (an hour would time out)


def test_a_replay_reads_expires_at_against_the_recordings_clock(tmp_path, monkeypatch):
    """Replayed later, the recorded session's expires_at is near (or past) on this machine's clock; the
    replay must read it as the recorded client did (not move to a new connection ahead of it)."""
    folder = sample("default", "after-ack")
    recording = Recording.load(folder)
    first = recording.events[0]
    assert recording.wall_at(first["t"]) == pytest.approx(first["wall"])
    expires_at = next(r["data"]["expires_at"] for r in recording.events if r["type"] == "session.expires")
    start = time.monotonic()  # this machine's clock now says: a minute before the recorded expiry
    monkeypatch.setattr(time, "time", lambda: expires_at - 60 + (time.monotonic() - start))
    result = replay(folder, out_dir=tmp_path)
    assert result.agree, format_result(result, verbose=1)
