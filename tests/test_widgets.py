"""The notebook panel at the Python level: real sessions against the thread-hosted emulator.

ipywidgets work headless, so the tests press the panel's own buttons (`button.click()`) while
pytest-asyncio's loop plays the kernel's loop, and read back what the panel shows.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from interview_kit import widgets
from interview_kit.analysis import load_session, voice_to_voice
from interview_kit.flow import PHASE_ORDER
from interview_kit.widgets import InterviewPanel, LiveView

# Every phase of the happy path but `awaiting_report`, which is skipped when the report is ready
# before the acknowledgement has played.
REQUIRED_PHASES = [str(p) for p in PHASE_ORDER if str(p) != "awaiting_report"]
FOLDER_FILES = ("session.json", "events.jsonl", "transcript.json", "report.json")

FAST_SCENARIO = """
name = "panel-fast"
speed = 20.0
report_delay = 0.2

[interviewer]
greeting = "Hello, welcome."
questions = [
  "Tell me about a project you are proud of.",
  "How do you handle a disagreement?",
  "What would you like to learn next?",
]
closing = "Thank you, goodbye."

[candidate]
answers = [
  "I rebuilt our data pipeline and made it much faster.",
  "I listen first and then we test both ideas on real data.",
  "Statistics, because our decisions depend on experiments.",
]
pause = 0.4

[latency]
response_created = 0.1
first_audio = 0.1
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> str:
    path = tmp_path / "panel-fast.toml"
    path.write_text(FAST_SCENARIO, encoding="utf-8")
    return str(path)


def make_panel(tmp_path: Path, scenario: str, **kwargs: object) -> InterviewPanel:
    """A panel on the fast scenario; its emulator in a thread (a second sooner per interview) unless
    `emulator_process` is given (the panel's default, which the first interview test uses)."""
    kwargs.setdefault("emulator_process", False)
    return InterviewPanel(scenario=scenario, speed=20.0, out_dir=tmp_path / "sessions", **kwargs)


async def wait_until(panel: InterviewPanel, predicate: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait (bounded) until the panel's live view satisfies `predicate`, checked on every record."""
    reached = asyncio.Event()
    panel.add_listener(lambda _record: reached.set() if predicate() else None)
    if not predicate():
        async with asyncio.timeout(limit):
            await reached.wait()


def read_events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]


def assert_folder_complete(folder: Path, outcome: str) -> None:
    for name in FOLDER_FILES:
        assert (folder / name).is_file(), f"{name} missing from {folder}"
    meta = json.loads((folder / "session.json").read_text(encoding="utf-8"))
    assert meta["outcome"] == outcome
    events = read_events(folder)
    assert events[-1]["type"] == "session.ended"
    assert events[-1]["data"]["outcome"] == outcome
    json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
    json.loads((folder / "report.json").read_text(encoding="utf-8"))


def shown_text(widget: object) -> str:
    """Every string value the panel's widgets hold (what a user can see)."""
    parts = [str(getattr(widget, "value", "") or ""), str(getattr(widget, "description", "") or "")]
    for child in getattr(widget, "children", ()):
        parts.append(shown_text(child))
    return " ".join(parts)


def folder_text(folder: Path) -> str:
    return " ".join(p.read_text(encoding="utf-8", errors="replace") for p in folder.rglob("*") if p.is_file())


def in_order(seen: list[str], order: list[str]) -> bool:
    """True when `seen` visits `order`'s phases in that order (each phase once)."""
    positions = [order.index(p) for p in seen if p in order]
    return positions == sorted(positions) and len(positions) == len(set(positions))


async def test_start_runs_an_emulator_interview_to_complete(tmp_path: Path, scenario_file: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """As a user runs it: the panel's defaults, so its emulator in a process of its own."""
    panel = make_panel(tmp_path, scenario_file, emulator_process=True)
    assert InterviewPanel().emulator_process  # the default
    threads: set[str] = set()
    panel.add_listener(lambda _record: threads.update(t.name for t in threading.enumerate()))
    ticks = 0
    drawn_in: list[threading.Thread] = []
    real_timeline_png = widgets.timeline_png

    def timeline_png(folder: Path) -> bytes:
        drawn_in.append(threading.current_thread())
        return real_timeline_png(folder)

    monkeypatch.setattr(widgets, "timeline_png", timeline_png)

    async def other_cell() -> None:  # the kernel's other work keeps running meanwhile
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.05)

    other = asyncio.get_running_loop().create_task(other_cell())
    panel.start_button.click()
    assert panel.running and panel.start_button.disabled and not panel.stop_button.disabled
    result = await panel.wait(within=60)
    other.cancel()

    assert result is not None and result.outcome == "complete", panel.error
    assert panel.error is None
    assert "interview-kit-emulator" not in threads  # no emulator thread in the kernel's process
    seen = panel.live.phases_seen
    assert set(REQUIRED_PHASES) <= set(seen), seen
    assert in_order(seen, [str(p) for p in PHASE_ORDER])
    assert panel.phase == "complete"
    assert ">complete<" in panel.phases_html.value  # the current phase is the highlighted one
    assert ticks > 5
    # the live view saw the conversation and timed its turns
    lines = panel.live.transcript_lines(last=100)
    assert ("Candidate", "I rebuilt our data pipeline and made it much faster.") in lines
    assert any(who == "Interviewer" and "Tell me about a project" in text for who, text in lines)
    # the panel's gap is the analysis layer's: the same number for the same turn
    gaps = voice_to_voice(load_session(result.folder))["gap_s"].dropna()
    assert panel.live.last_gap_s == pytest.approx(gaps.iloc[-1], abs=1e-6)
    assert "last voice-to-voice gap" in panel.gap.value and "—" not in panel.gap.value
    assert "complete" in panel.status.value.lower()
    # when it ends: the folder and a timeline plot, and the controls are back
    assert_folder_complete(Path(result.folder), "complete")
    assert str(result.folder) in panel.folder_html.value
    assert bytes(panel.timeline.value)[:8] == b"\x89PNG\r\n\x1a\n"
    assert drawn_in and drawn_in[0] is not threading.main_thread()  # drawn off the kernel's loop
    assert not panel.start_button.disabled and panel.stop_button.disabled and panel.trigger_button.disabled
    assert not panel.running


async def test_stop_mid_interview_ends_cleanly_with_the_folder_complete(tmp_path: Path,
                                                                        scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file, show_timeline=False)
    panel.start_button.click()
    await wait_until(panel, lambda: any(who == "Candidate" for who, _ in panel.live.transcript_lines()))
    assert panel.phase == "interviewing"
    assert panel.start() is None  # one interview at a time: said in the panel, the run goes on
    assert "already running" in panel.error_html.value and panel.error is None and panel.running
    panel.stop_button.click()
    result = await panel.wait(within=30)

    assert result.outcome == "stopped"
    assert panel.error is None
    assert "complete" not in panel.live.phases_seen
    assert "stopped" in panel.status.value.lower()
    # the session ended: the phase chain no longer shows it as interviewing (issue 13)
    assert ">interviewing<" not in panel.phases_html.value and ">stopped<" in panel.phases_html.value
    assert_folder_complete(Path(result.folder), "stopped")
    assert str(result.folder) in panel.folder_html.value


async def test_trigger_assessment_starts_the_flow_early(tmp_path: Path, scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file, show_timeline=False)
    panel.start_button.click()
    await wait_until(panel, lambda: any(who == "Candidate" for who, _ in panel.live.transcript_lines()))
    panel.trigger_button.click()
    result = await panel.wait(within=60)

    assert result.outcome == "complete", panel.error
    assert panel.live.triggers == ["button"]
    events = read_events(Path(result.folder))
    triggers = [e["data"]["source"] for e in events if e["type"] == "assessment.trigger"]
    assert triggers == ["button"]
    answers = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert 1 <= len(answers) < 3  # the scenario had three answers to give; it was cut short
    assert set(REQUIRED_PHASES) <= set(panel.live.phases_seen)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_bad_base_url_shows_an_error_in_the_panel(tmp_path: Path, scenario_file: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-FAKE-panel-4242"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    panel = make_panel(tmp_path, scenario_file, target="url", base_url=url)
    panel.start_button.click()
    result = await panel.wait(within=30)

    assert result is not None and result.outcome == "failed"
    host_port = url.split("//")[1].split("/")[0]
    assert panel.error and "could not connect" in panel.error.lower() and host_port in panel.error
    assert "Traceback" not in panel.error_html.value and "Error" in panel.error_html.value
    assert not panel.running and not panel.start_button.disabled
    assert_folder_complete(Path(result.folder), "failed")
    assert secret not in shown_text(panel.widget)
    assert secret not in folder_text(Path(result.folder))
    # said once (the error line, not again as a "problem"), and no phase was visited: it never connected
    assert panel.problems.value == ""
    assert "✓ interviewing" not in panel.phases_html.value and ">failed<" in panel.phases_html.value


async def test_a_malformed_base_url_is_refused_before_anything_runs(tmp_path: Path,
                                                                     scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file, target="url", base_url="localhost:8000")
    panel.start_button.click()
    assert await panel.wait(within=10) is None
    assert panel.error and "http://" in panel.error
    assert not (tmp_path / "sessions").exists()  # nothing half-made


async def test_hosted_api_without_a_key_says_what_to_set(tmp_path: Path, scenario_file: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    panel = make_panel(tmp_path, scenario_file, target="hosted")
    assert panel.base_url.value == "https://api.openai.com/v1"
    panel.start_button.click()
    await panel.wait(within=10)
    assert panel.error and "OPENAI_API_KEY" in panel.error
    assert not panel.running


async def test_microphone_without_a_device_says_what_to_install(tmp_path: Path,
                                                                  scenario_file: str) -> None:
    from interview_kit.audio import AudioDeviceError, check_input_device

    try:
        check_input_device()
    except AudioDeviceError:
        pass
    else:
        pytest.skip("this machine has a microphone")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    panel = make_panel(tmp_path, scenario_file, target="url", base_url=url, candidate="microphone")
    panel.start_button.click()
    assert await panel.wait(within=20) is None  # refused before connecting: no folder
    assert panel.error and ("portaudio" in panel.error.lower() or "microphone" in panel.error.lower())
    assert "Traceback" not in panel.error_html.value
    assert not (tmp_path / "sessions").exists()


async def test_mute_silences_the_candidate_input(tmp_path: Path, scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file, show_timeline=False)
    panel.start_button.click()
    await wait_until(panel, lambda: panel.phase == "interviewing")
    panel.mute_button.value = True
    assert panel.muted and panel.audio_input is not None and panel.audio_input.muted
    panel.stop_button.click()
    result = await panel.wait(within=30)
    assert result.outcome == "stopped"


async def test_stop_while_starting_runs_nothing(tmp_path: Path, scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file)
    panel.start_button.click()
    panel.stop_button.click()  # before the emulator is up
    assert await panel.wait(within=30) is None
    assert panel.error is None and "before the interview started" in panel.status.value
    assert not (tmp_path / "sessions").exists()
    assert not panel.start_button.disabled


def test_start_without_a_running_loop_explains_itself() -> None:
    panel = InterviewPanel()
    panel.trigger_assessment()
    assert "no interview is running" in panel.error_html.value and panel.error is None
    panel.start_button.click()
    assert panel.task is None
    assert panel.error and "event loop" in panel.error


def test_panel_shows_in_one_line() -> None:
    bundle = InterviewPanel()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


# --- the live view from hand-written records -------------------------------------------------------

def test_live_view_health_gap_transcript_from_records() -> None:
    view = LiveView()
    vad = {"type": "server_vad", "prefix_padding_ms": 300, "silence_duration_ms": 500}
    records = [
        {"t": 0.0, "dir": "local", "type": "phase", "phase": "interviewing",
         "data": {"from": None, "to": "interviewing", "reason": "start"}},
        {"t": 0.1, "dir": "in", "type": "session.updated",
         "data": {"session": {"audio": {"input": {"turn_detection": vad}}}}},
        {"t": 1.0, "dir": "out", "type": "input_audio_buffer.append", "data": {"audio_start_ms": 960,
                                                                                "audio_end_ms": 1000}},
        {"t": 2.0, "dir": "out", "type": "input_audio_buffer.append", "data": {"audio_start_ms": 1960,
                                                                                "audio_end_ms": 2000}},
        {"t": 2.1, "dir": "in", "type": "input_audio_buffer.speech_stopped", "data": {"audio_end_ms": 2000}},
        {"t": 2.2, "dir": "in", "type": "conversation.item.input_audio_transcription.completed",
         "item_id": "item_1", "data": {"transcript": "My answer."}},
        {"t": 2.3, "dir": "in", "type": "response.created", "response_id": "resp_1",
         "data": {"response": {"id": "resp_1", "metadata": None}}},
        {"t": 2.5, "dir": "in", "type": "response.output_audio_transcript.delta", "response_id": "resp_1",
         "data": {"delta": "Next "}},
        {"t": 2.6, "dir": "in", "type": "response.output_audio_transcript.delta", "response_id": "resp_1",
         "data": {"delta": "question?"}},
        {"t": 2.9, "dir": "local", "type": "playback.started", "response_id": "resp_1", "data": {}},
        {"t": 3.0, "dir": "local", "type": "ping", "data": {"rtt_ms": 12.4}},
        {"t": 3.5, "dir": "local", "type": "ping", "data": {"timeout": True}},
        {"t": 4.0, "dir": "local", "type": "loop.stall", "data": {"duration_ms": 4950.0, "started": 3.9}},
        {"t": 4.1, "dir": "local", "type": "loop.stall", "data": {"duration_ms": 60.0, "started": 4.0}},
        {"t": 4.2, "dir": "local", "type": "connection.closed",
         "data": {"code": 1011, "reason": "keepalive ping timeout", "by": "server"}},
    ]
    for record in records:
        view.update(record)
    # audio_end_ms 2000 counts the VAD's 500 ms silence window: the speech ended at 1500 ms, halfway
    # between the appends ending at 1000 ms (t=1) and 2000 ms (t=2), so at t=1.5; played at 2.9
    assert view.last_gap_s == pytest.approx(2.9 - 1.5)
    assert view.transcript_lines() == [("Candidate", "My answer."), ("Interviewer", "Next question?")]
    health = view.health_text()
    assert "12 ms" in health and "1 without pong" in health and "4950 ms" in health
    assert "1011 keepalive ping timeout (by server)" in health
    assert view.phase == "interviewing" and view.last_t == 4.2


def test_live_view_ignores_what_it_does_not_know() -> None:
    view = LiveView()
    assert view.update({"t": 1.0, "type": "something.new", "data": {"x": 1}}) is False
    assert view.update({"type": "phase", "data": None}) is False
    assert view.update({"type": "playback.started", "response_id": "r", "data": {}}) is False
    assert view.last_gap_s is None and view.phase is None


def test_live_gap_equals_the_analysis_gap_on_a_recorded_log(tmp_path: Path) -> None:
    """One definition: replaying a log through the live view gives voice_to_voice's gap (here 1.5 s:
    prefix 200 ms and silence 400 ms, see test_analysis_metrics)."""
    from analysis_helpers import complete_session, ev, write_folder

    update = ev(0.3, "in", "session.updated", type="session.updated", session={"audio": {"input": {
        "turn_detection": {"type": "server_vad", "prefix_padding_ms": 200, "silence_duration_ms": 400}}}})
    lines = sorted([*complete_session(), update], key=lambda x: x["t"])
    view = LiveView()
    for line in lines:
        view.update(line)
    analysed = voice_to_voice(load_session(write_folder(tmp_path, "s", lines)))
    assert analysed["gap_s"].dropna().tolist() == pytest.approx([1.5])
    assert view.last_gap_s == pytest.approx(1.5)


def test_the_assessment_lines_are_labelled_in_the_transcript() -> None:
    """The purpose echoed on response.created arrives before the turn's first words: it is kept."""
    panel = InterviewPanel()
    records = [
        {"t": 1.0, "dir": "in", "type": "response.created", "response_id": "r1",
         "data": {"response": {"id": "r1", "metadata": {"purpose": "question"}}}},
        {"t": 1.1, "dir": "in", "type": "response.output_audio_transcript.delta", "response_id": "r1",
         "data": {"delta": "Tell me more."}},
        {"t": 5.0, "dir": "in", "type": "response.created", "response_id": "r2",
         "data": {"response": {"id": "r2", "metadata": {"purpose": "ack"}}}},
        {"t": 5.1, "dir": "in", "type": "response.output_audio_transcript.delta", "response_id": "r2",
         "data": {"delta": "Preparing your assessment."}},
    ]
    for record in records:
        panel._on_record(record)
    assert [t.purpose for t in panel.live.turns] == ["question", "ack"]
    assert panel.live.transcript_rows() == [("Interviewer", None, "Tell me more."),
                                            ("Interviewer", "ack", "Preparing your assessment.")]
    panel._render()
    assert "<i>(ack)</i>" in panel.transcript.value and "(question)" not in panel.transcript.value


def test_after_the_session_ends_mid_interview_its_outcome_is_the_current_step() -> None:
    """Stop (or an end the flow does not know) leaves the flow in `interviewing`: the chain then shows
    `interviewing` as visited and the session's outcome as where it is."""
    panel = InterviewPanel()
    panel._on_record({"t": 0.0, "dir": "local", "type": "phase", "phase": "interviewing",
                      "data": {"from": None, "to": "interviewing", "reason": "start"}})
    assert ">interviewing<" in panel.phases_html.value
    panel._on_record({"t": 3.0, "dir": "local", "type": "session.ended", "data": {"outcome": "stopped"}})
    assert panel.phase == "interviewing"  # the flow's own phase is still what it was
    assert ">interviewing<" not in panel.phases_html.value and "✓ interviewing" in panel.phases_html.value
    assert ">stopped<" in panel.phases_html.value
    # an end of the flow's own stays the highlighted one
    done = InterviewPanel()
    for phase in ("interviewing", "complete"):
        done._on_record({"t": 1.0, "dir": "local", "type": "phase", "data": {"to": phase}})
    done._on_record({"t": 2.0, "dir": "local", "type": "session.ended", "data": {"outcome": "complete"}})
    assert ">complete<" in done.phases_html.value


def _refuse_to_open(monkeypatch: pytest.MonkeyPatch, calls: list[dict]) -> None:
    """Replace `launch.open_interview` by one that records its arguments and refuses to set up."""
    import contextlib

    from interview_kit import launch

    @contextlib.asynccontextmanager
    async def refusing(base: object, **choices: object):  # type: ignore[no-untyped-def]
        calls.append(choices)
        await asyncio.sleep(0)
        raise launch.SetupError("stubbed set-up")
        yield  # pragma: no cover

    monkeypatch.setattr(launch, "open_interview", refusing)


async def test_start_clears_the_previous_transcript_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    panel = InterviewPanel()
    panel._on_record({"t": 1.0, "dir": "in", "type": "conversation.item.input_audio_transcription.completed",
                      "item_id": "item_1", "data": {"transcript": "An old answer."}})
    panel._render()
    assert "An old answer." in panel.transcript.value
    _refuse_to_open(monkeypatch, [])
    panel.start_button.click()
    assert "An old answer." not in panel.transcript.value  # before the new interview has said anything
    await panel.wait(within=10)
    assert panel.error == "stubbed set-up"


async def test_the_panel_and_the_cli_demo_open_interviews_through_the_same_function(
        tmp_path: Path, scenario_file: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One set-up: the panel's Start and `interview-kit demo` both call `launch.open_interview`."""
    from interview_kit.cli import main

    calls: list[dict] = []
    _refuse_to_open(monkeypatch, calls)
    panel = make_panel(tmp_path, scenario_file, assessment_mode="after-ack")
    panel.start_button.click()
    assert await panel.wait(within=10) is None
    assert panel.error == "stubbed set-up" and not panel.running
    # the CLI runs its own event loop: in a thread, as from a terminal
    code = await asyncio.to_thread(main, ["demo", "--scenario", scenario_file, "--speed", "20",
                                          "--assessment-mode", "after-ack", "--out", str(tmp_path / "s")])
    assert code == 2 and "stubbed set-up" in capsys.readouterr().err
    panel_call, demo_call = calls
    for call in (panel_call, demo_call):  # the same interview, chosen in two places
        assert call["emulator"] is True and call["candidate"] == "simulated"
        assert call["scenario"] == scenario_file and call["speed"] == 20.0
        assert call["settings"]["assessment_mode"] == "after-ack"


def test_live_view_places_speech_with_the_one_input_clock() -> None:
    """`LiveView.speech_time` is `inputclock.input_time` over the appends it saw."""
    from interview_kit.inputclock import input_time

    view = LiveView()
    ends, times = [40.0, 80.0, 120.0, 200.0], [0.5, 0.54, 0.6, 0.7]
    for end, t in zip(ends, times, strict=True):
        view.update({"t": t, "dir": "out", "type": "input_audio_buffer.append",
                     "data": {"audio_start_ms": end - 40, "audio_end_ms": end}})
    view.update({"t": 0.8, "dir": "in", "type": "input_audio_buffer.append", "data": {"audio_end_ms": 999}})
    for position in (0.0, 40.0, 60.0, 150.0, 200.0):
        assert view.speech_time(position) == pytest.approx(input_time(ends, times, position), abs=1e-6)
    assert view.speech_time(201.0) is None and input_time(ends, times, 201.0) is None  # not sent yet


def test_live_view_turns_are_the_transcript_turns() -> None:
    from interview_kit.transcript import Turn

    view = LiveView()
    view.update({"t": 1.0, "dir": "in", "type": "response.output_audio_transcript.delta", "response_id": "r1",
                 "data": {"delta": "Hello."}})
    view.update({"t": 2.0, "dir": "in", "type": "conversation.item.input_audio_transcription.completed",
                 "item_id": "i1", "data": {"transcript": "Hi."}})
    first, second = view.turns
    assert isinstance(first, Turn) and isinstance(second, Turn)
    assert (first.role, first.response_id, first.text) == ("interviewer", "r1", "Hello.")
    assert (second.role, second.item_id, second.text) == ("candidate", "i1", "Hi.")


# --- issue 13: the panel's fixes, the static copy, the browser audio choice ------------------------

def test_the_health_line_says_the_limit_reconnects_recording_and_audio_latency() -> None:
    view = LiveView()
    view.update({"t": 0.0, "dir": "local", "type": "session.started", "phase": "interviewing",
                 "data": {"config": {"max_minutes": 45.0, "record_audio": True}}})
    health = view.health_text()
    assert "limit 45 min" in health and "recording audio" in health and "reconnected" not in health
    for t in (1.0, 2.0):
        view.update({"t": t, "dir": "local", "type": "connection.lost", "data": {}})
        view.update({"t": t + 0.5, "dir": "local", "type": "connection.resumed", "data": {"attempt": 1}})
    view.update({"t": 3.0, "dir": "local", "type": "audio.latency",
                 "data": {"mic_to_kernel_ms": 12.4, "kernel_to_speaker_ms": 88.0}})
    health = view.health_text()
    assert "reconnected 2 times" in health
    assert "mic→kernel 12 ms" in health and "kernel→speaker 88 ms" in health
    quiet = LiveView()
    quiet.update({"t": 0.0, "type": "session.started", "data": {"config": {"max_minutes": None,
                                                                          "record_audio": False}}})
    assert "limit" not in quiet.health_text() and "recording" not in quiet.health_text()


def test_the_transcript_box_keeps_its_last_line_in_sight() -> None:
    """A reversed flex column starts scrolled to its end: the newest line is the one in view."""
    panel = InterviewPanel()
    for i in range(30):
        panel._on_record({"t": float(i), "dir": "in", "type": "conversation.item.input_audio_transcription"
                          ".completed", "item_id": f"item_{i}", "data": {"transcript": f"Answer {i}."}})
    panel._render()
    box = panel.transcript.value
    assert "flex-direction:column-reverse" in box and "overflow-y:auto" in box
    assert box.rstrip().endswith("Answer 29.</div></div>")  # the last line is the box's end


def test_the_candidate_picker_offers_the_browser_the_kernel_devices_and_the_simulated_candidate() -> None:
    panel = InterviewPanel(target="emulator", candidate="browser")
    assert [value for _label, value in panel.candidate.options] == ["browser", "microphone", "simulated"]
    assert panel.browser_audio.layout.display == "" and panel.speed.layout.display == "none"
    panel.candidate.value = "simulated"
    assert panel.browser_audio.layout.display == "none" and panel.speed.layout.display == ""
    assert InterviewPanel(target="hosted").candidate.value == "browser"  # works local and remote


async def test_the_browser_microphone_must_be_switched_on_first(tmp_path: Path, scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file, candidate="browser")
    panel.start_button.click()
    assert await panel.wait(within=30) is None
    assert panel.error and "click" in panel.error and "microphone" in panel.error
    assert not (tmp_path / "sessions").exists()


async def test_a_static_copy_of_the_end_survives_without_the_widgets(
        tmp_path: Path, scenario_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Shown in a notebook, the panel keeps a plain HTML and PNG copy of how the interview ended in the
    cell's outputs (updated in place), which a saved and reopened notebook still shows."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    panel = make_panel(tmp_path, scenario_file)
    with capture_output() as shown:
        panel._ipython_display_()
        assert [o.update for o in shown.outputs][:3] == [False, False, False]  # widget, summary, timeline
        result = await panel.run(within=60)
        assert result is not None and result.outcome == "complete"
        ended = list(shown.outputs)
        _refuse_to_open(monkeypatch, [])
        panel.start_button.click()  # the next Start empties the copy at once
        restarted = list(shown.outputs)
        await panel.wait(within=10)
    assert "application/vnd.jupyter.widget-view+json" in ended[0].data
    summary, timeline = ended[-2], ended[-1]
    assert summary.update and timeline.update
    text = summary.data["text/html"]
    assert "Interview complete" in text and str(result.folder) in text and "✓" not in text
    assert "I rebuilt our data pipeline" in text  # the whole transcript
    assert timeline.data["image/png"][:4] == "iVBO"  # a PNG (base64), not a widget
    assert panel.timeline.layout.display == "none"  # the timeline is shown once: in the static copy
    assert restarted[-2].data["text/html"] == "" and "image/png" not in restarted[-1].data


def _from_a_comm_thread(call: Callable[[], object]) -> None:
    """`call` as ipykernel 7 makes it under JupyterLab 4.6's default "comms over subshells": on the
    subshell's own thread, inside that thread's own running loop."""
    async def deliver() -> None:
        call()

    thread = threading.Thread(target=asyncio.run, args=(deliver(),), name="subshell")
    thread.start()
    thread.join(10)


async def test_buttons_clicked_on_a_comm_thread_drive_the_interview_on_the_kernels_loop(
        tmp_path: Path, scenario_file: str) -> None:
    panel = make_panel(tmp_path, scenario_file)  # made in a cell: on the kernel's loop
    _from_a_comm_thread(panel.start_button.click)
    await wait_until(panel, lambda: panel.live.phase == "interviewing")
    assert panel.task is not None and panel.task.get_loop() is asyncio.get_running_loop()
    _from_a_comm_thread(panel.trigger_button.click)
    result = await panel.wait(within=60)
    assert result is not None and result.outcome == "complete"
    assert result.trigger_source == "button"
