"""The notebook panel: run, watch and stop an interview from JupyterLab without blocking the kernel.

`InterviewPanel` is a thin shell of ipywidgets around `InterviewSession`. The session runs as a task
on the kernel's own event loop (so other cells keep running), the panel listens to the session's
event-log records and turns them into a live view, and errors land in the panel in plain words rather
than as a traceback in the cell's output. What the live view shows is computed by `LiveView`, which
holds no widgets, so it can be checked from plain Python. The interview itself is set up by
`interview_kit.launch.open_interview`, the same function the command line's `demo` and `run` use.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from interview_kit import launch
from interview_kit.analysis.vad_padding import VadWindow
from interview_kit.audio.browser import BrowserAudio
from interview_kit.clock import call_on, running_loop
from interview_kit.config import HOSTED_BASE_URL
from interview_kit.flow import PHASE_ORDER, TERMINAL_PHASES
from interview_kit.inputclock import InputClock
from interview_kit.launch import CandidateSource, Problem, SetupError
from interview_kit.paths import data_dir
from interview_kit.records import ASSESSMENT_PURPOSES, AssessmentMode, Dir, Outcome, Rec, TriggerSource
from interview_kit.transcript import Turn

if TYPE_CHECKING:
    from interview_kit.audio import AudioInput, AudioOutput
    from interview_kit.config import SessionConfig
    from interview_kit.session import InterviewSession, SessionResult

log = logging.getLogger(__name__)


class Target(StrEnum):
    """Where the panel's interview goes (the panel's own choice; see `launch.open_interview`)."""

    EMULATOR = "emulator"  # the built-in emulator, started for the interview
    HOSTED = "hosted"  # the OpenAI API (a key in the environment)
    URL = "url"  # another OpenAI-compatible server


TARGETS: dict[str, str] = {
    "Built-in emulator": Target.EMULATOR,
    "Hosted OpenAI API": Target.HOSTED,
    "Other base URL": Target.URL,
}
BROWSER = CandidateSource.BROWSER  # the candidate at the browser microphone, the interviewer in its speakers
CANDIDATES: dict[str, str] = {"Browser microphone": BROWSER,
                              "Kernel devices": CandidateSource.MICROPHONE,
                              "Simulated (scenario)": CandidateSource.SIMULATED}
ASSESSMENT_MODES = tuple(str(mode) for mode in AssessmentMode)
REFRESH_S = 0.2  # how often the elapsed time, health and transcript are redrawn while running
TIMELINE_S = 120.0  # bound on drawing the timeline of the finished interview (seconds even when long)
STOP_GRACE_S = 60.0  # how long `wait` gives a stopped session to close and write its folder
TRANSCRIPT_TURNS = 12  # the live transcript shows the most recent turns only
TRANSCRIPT_HEIGHT_PX = 260  # the transcript box scrolls past this, kept at its last line
# The purposes of the assessment's own lines, labelled in the live transcript (questions are not).
LABELLED_PURPOSES = ASSESSMENT_PURPOSES
# What each set-up problem's fix is in the panel (the command line names its own flags instead).
_SETUP_HINTS = {
    Problem.NO_KEY: " (or pick the built-in emulator)",
    Problem.NO_AUDIO: "; pick the browser microphone, or the simulated candidate (no audio device)",
}


def _shipped_names(kind: str) -> list[str]:
    """Names of the shipped scenarios or prompts, for the pickers (empty if none are shipped)."""
    try:
        return sorted(p.stem for p in data_dir(kind).glob("*.toml"))
    except FileNotFoundError:
        return []


@dataclass
class LiveView:
    """The live state of one interview, rebuilt from the session's event-log records.

    The voice-to-voice gap is the analysis layer's (`analysis.metrics.voice_to_voice`): from the
    candidate's last speech (the server's `speech_stopped` `audio_end_ms` less the VAD's silence window,
    `analysis.vad_padding.VadWindow`, mapped onto the session clock through the input appends by
    `inputclock.InputClock`) to the first played sample of the next response created after it.

    `turns` are `transcript.Turn`s in the order they were first heard of, with their text so far; an
    interviewer turn is keyed by its `response_id`, a candidate turn by its `item_id`.
    """

    phase: str | None = None
    phases_seen: list[str] = field(default_factory=list)
    last_ping_ms: float | None = None
    ping_timeouts: int = 0
    longest_stall_ms: float = 0.0
    close_code: int | None = None
    close_reason: str | None = None
    close_by: str | None = None
    turns: list[Turn] = field(default_factory=list)
    last_gap_s: float | None = None
    last_t: float = 0.0
    errors: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    outcome: str | None = None
    connected: bool = False  # the connection opened at least once (before that no phase was visited)
    max_minutes: float | None = None  # the interview's limit, from the session's config
    recording_audio: bool = False  # the session keeps the audio (config `record_audio`)
    reconnects: int = 0  # connections resumed after a loss
    mic_to_kernel_ms: float | None = None  # the browser audio's latest latency figures (`audio.latency`)
    kernel_to_speaker_ms: float | None = None
    _input_clock: InputClock = field(default_factory=InputClock)  # the appends sent: input ms -> session s
    _speech_end_t: float | None = None  # the candidate's last speech end not yet answered, session clock
    _client_speech_end_t: float | None = None
    _answering: dict[str, float] = field(default_factory=dict)  # response id -> the speech end it answers
    _vad: VadWindow = field(default_factory=VadWindow)  # the VAD settings as of the latest session event
    _purposes: dict[str, str] = field(default_factory=dict)  # response id -> purpose (metadata echo)

    def update(self, record: Mapping[str, Any]) -> bool:
        """Fold one event-log record into the view; True when the phase changed (worth a redraw now)."""
        kind = record.get("type")
        data = record.get("data") or {}
        t = record.get("t")
        if isinstance(t, int | float):
            self.last_t = max(self.last_t, float(t))
        changed = False
        if kind == Rec.CONNECTION_OPENED:
            self.connected = True
        if self.phase is None and self.connected and record.get("phase") and kind != Rec.PHASE:
            # the flow starts in its first phase without a transition: adopt it once connected (a
            # refused connection visited no phase)
            self.phase = str(record["phase"])
            self.phases_seen.append(self.phase)
            changed = True
        if self._vad.follow(kind, data):
            return changed
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return changed
        return bool(handler(self, record, data if isinstance(data, Mapping) else {})) or changed

    # --- handlers, one per record type the view uses -------------------------------------------
    def _on_phase(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        to = data.get("to") or record.get("phase")
        if not to:
            return False
        self.phase = str(to)
        self.phases_seen.append(self.phase)
        return True

    def _on_ping(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        if data.get("timeout"):
            self.ping_timeouts += 1
        elif isinstance(data.get("rtt_ms"), int | float):
            self.last_ping_ms = float(data["rtt_ms"])
        return False

    def _on_stall(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        duration = data.get("duration_ms")
        if isinstance(duration, int | float):
            self.longest_stall_ms = max(self.longest_stall_ms, float(duration))
        return False

    def _on_closed(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        self.close_code = data.get("code")
        self.close_reason = data.get("reason") or None
        self.close_by = data.get("by")
        return False

    def _on_error(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        message = data.get("message")
        nested = data.get("error")
        if not message and isinstance(nested, Mapping):  # a server `error` event: {"error": {"message"}}
            message = nested.get("message")
        if message:
            self.errors.append(str(message))
        return False

    def _on_started(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        config = data.get("config")
        if isinstance(config, Mapping):
            limit = config.get("max_minutes")
            self.max_minutes = float(limit) if isinstance(limit, int | float) else None
            self.recording_audio = bool(config.get("record_audio")) and config.get("speed", 1) == 1
        return False

    def _on_resumed(self, _record: Mapping[str, Any], _data: Mapping[str, Any]) -> bool:
        self.reconnects += 1
        return False

    def _on_latency(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        for name in ("mic_to_kernel_ms", "kernel_to_speaker_ms"):
            if isinstance(data.get(name), int | float):
                setattr(self, name, float(data[name]))
        return False

    def _on_trigger(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        self.triggers.append(str(data.get("source", "?")))
        return False

    def _on_ended(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        self.outcome = data.get("outcome")
        return True

    def _on_append(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        end, t = data.get("audio_end_ms"), record.get("t")
        if record.get("dir") == Dir.OUT and isinstance(end, int | float) and isinstance(t, int | float):
            self._input_clock.appended(float(end), float(t))
        return False

    def speech_time(self, position_ms: float) -> float | None:
        """Session time at which the input stream reached `position_ms` (`inputclock.input_time` over
        the `out` appends seen so far, the analysis layer's rule); None if not yet sent."""
        return self._input_clock.to_session(position_ms)

    def _on_speech_stopped(self, _record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        """The server's VAD placed the end of the candidate's speech (`audio_end_ms`, which counts the
        VAD's silence window in): the gap starts at the speech's end, as in the analysis."""
        end_ms = data.get("audio_end_ms")
        speech_end_ms = self._vad.speech_end_ms(float(end_ms)) if isinstance(end_ms, int | float) else None
        mapped = self.speech_time(speech_end_ms) if speech_end_ms is not None else None
        self._speech_end_t = mapped if mapped is not None else self._client_speech_end_t
        return False

    def _on_candidate_ended(self, record: Mapping[str, Any], _data: Mapping[str, Any]) -> bool:
        """The client-side end of the candidate's voice: the fallback when no append maps the server's."""
        t = record.get("t")
        if isinstance(t, int | float):
            self._client_speech_end_t = float(t)
        return False

    def _on_playback_started(self, record: Mapping[str, Any], _data: Mapping[str, Any]) -> bool:
        t, rid = record.get("t"), record.get("response_id")
        speech_end = self._answering.pop(str(rid), None) if rid else None
        if speech_end is not None and isinstance(t, int | float):
            self.last_gap_s = max(0.0, float(t) - speech_end)
        return False

    def _on_transcript_delta(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        turn = self._turn("interviewer", record.get("response_id") or data.get("response_id"))
        turn.text += str(data.get("delta", ""))
        return False

    def _on_transcript_done(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        if isinstance(data.get("transcript"), str):
            self._turn("interviewer", record.get("response_id") or data.get("response_id")).text = data[
                "transcript"]
        return False

    def _on_candidate_text(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        if isinstance(data.get("transcript"), str):
            self._turn("candidate", record.get("item_id") or data.get("item_id")).text = data["transcript"]
        return False

    def _on_response_created(self, record: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
        response = data.get("response")
        metadata = response.get("metadata") if isinstance(response, Mapping) else None
        rid = (response.get("id") if isinstance(response, Mapping) else None) or record.get("response_id")
        if rid and self._speech_end_t is not None:  # the first response after the speech answers it
            self._answering[str(rid)] = self._speech_end_t
            self._speech_end_t = None
        if rid and isinstance(metadata, Mapping) and metadata.get("purpose"):
            # kept by id: the turn itself starts with its first transcript delta, after this event
            self._purposes[str(rid)] = str(metadata["purpose"])
            for turn in self.turns:
                if turn.response_id == rid and turn.role == "interviewer":
                    turn.purpose = self._purposes[str(rid)]
        return False

    def _turn(self, role: str, key: Any) -> Turn:
        """The turn of this response (interviewer) or item (candidate); a new one for an unknown or
        missing id."""
        key = str(key) if key else None
        interviewer = role == "interviewer"
        if key is not None:
            for turn in reversed(self.turns):
                if turn.role == role and (turn.response_id if interviewer else turn.item_id) == key:
                    return turn
        turn = Turn(role, response_id=key if interviewer else None, item_id=None if interviewer else key,
                    purpose=self._purposes.get(key) if interviewer and key else None,
                    order=self.last_t)
        self.turns.append(turn)
        return turn

    # --- what the panel renders ------------------------------------------------------------------
    def transcript_lines(self, last: int = TRANSCRIPT_TURNS) -> list[tuple[str, str]]:
        """The most recent non-empty turns as (speaker, text)."""
        return [(speaker, text) for speaker, _purpose, text in self.transcript_rows(last)]

    def transcript_rows(self, last: int = TRANSCRIPT_TURNS) -> list[tuple[str, str | None, str]]:
        """The most recent non-empty turns as (speaker, purpose, text); purpose only for the
        assessment's own lines (ack, summary, fallback, goodbye), None for questions and the candidate."""
        rows = [("Interviewer" if t.role == "interviewer" else "Candidate",
                 t.purpose if t.purpose in LABELLED_PURPOSES else None, t.text.strip())
                for t in self.turns if t.text.strip()]
        return rows[-last:]

    def health_text(self) -> str:
        ping = "—" if self.last_ping_ms is None else f"{self.last_ping_ms:.0f} ms"
        if self.ping_timeouts:
            ping += f" ({self.ping_timeouts} without pong)"
        close = "—"
        if self.close_code is not None:
            close = f"{self.close_code}" + (f" {self.close_reason}" if self.close_reason else "")
            close += f" (by {self.close_by})" if self.close_by else ""
        parts = [f"last ping {ping}", f"longest stall {self.longest_stall_ms:.0f} ms", f"close {close}"]
        if self.max_minutes is not None:
            parts.append(f"limit {self.max_minutes:g} min")
        if self.reconnects:
            parts.append(f"reconnected {self.reconnects} time{'s' if self.reconnects > 1 else ''}")
        if self.recording_audio:
            parts.append("recording audio")
        if self.mic_to_kernel_ms is not None:
            parts.append(f"mic→kernel {self.mic_to_kernel_ms:.0f} ms")
        if self.kernel_to_speaker_ms is not None:
            parts.append(f"kernel→speaker {self.kernel_to_speaker_ms:.0f} ms")
        return " · ".join(parts)


_HANDLERS: dict[str, Callable[[LiveView, Mapping[str, Any], Mapping[str, Any]], bool]] = {
    Rec.PHASE: LiveView._on_phase,
    Rec.PING: LiveView._on_ping,
    Rec.LOOP_STALL: LiveView._on_stall,
    Rec.CONNECTION_CLOSED: LiveView._on_closed,
    Rec.ERROR: LiveView._on_error,  # the toolkit's own (dir "local") and the server's (dir "in")
    Rec.TRIGGER: LiveView._on_trigger,
    Rec.SESSION_ENDED: LiveView._on_ended,
    Rec.INPUT_APPEND: LiveView._on_append,
    Rec.SPEECH_STOPPED: LiveView._on_speech_stopped,
    Rec.CANDIDATE_SPEECH_ENDED: LiveView._on_candidate_ended,
    Rec.PLAYBACK_STARTED: LiveView._on_playback_started,
    Rec.AUDIO_TRANSCRIPT_DELTA: LiveView._on_transcript_delta,
    Rec.AUDIO_TRANSCRIPT_DONE: LiveView._on_transcript_done,
    Rec.INPUT_TRANSCRIPT_COMPLETED: LiveView._on_candidate_text,
    Rec.RESPONSE_CREATED: LiveView._on_response_created,
    Rec.SESSION_STARTED: LiveView._on_started,
    Rec.CONNECTION_RESUMED: LiveView._on_resumed,
    Rec.AUDIO_LATENCY: LiveView._on_latency,
}


def plain_error(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    """One readable sentence for an exception, with any secret value removed."""
    if isinstance(exc, SetupError):  # a set-up problem: its sentence, and what to do in the panel
        text = str(exc) + _SETUP_HINTS.get(exc.problem, "")
    elif type(exc).__name__ == "AudioDeviceError":  # a device that passed the check but would not open
        text = launch.audio_problem(exc) + _SETUP_HINTS[Problem.NO_AUDIO]
    elif isinstance(exc, FileNotFoundError | ValueError) or type(exc).__name__ in {
            "ScenarioError", "AssessmentError"}:
        text = str(exc) or type(exc).__name__
    elif isinstance(exc, TimeoutError):
        text = f"timed out{': ' + str(exc) if str(exc) else ''}"
    elif isinstance(exc, OSError):
        text = f"network or file error: {exc.strerror or exc}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class InterviewPanel:
    """Controls and a live view for one interview at a time; show it with `InterviewPanel()` in a cell.

    `config` is the base `SessionConfig` (defaults if None); keyword settings pre-set the controls.
    Start runs the session as a task on the running loop; `await panel.wait()` (or `await panel.run()`)
    waits for the end without blocking the kernel's other work. `emulator_process`: the built-in
    emulator runs in a process of its own (the default: in the kernel's, its speech synthesis stalled
    the interview's loop at every assessment; see `interview_kit.emulator.process`), or, False, in a
    thread (starts about a second sooner).
    """

    def __init__(
        self,
        config: SessionConfig | None = None,
        *,
        target: str = Target.EMULATOR,
        scenario: str = "default",
        base_url: str | None = None,
        prompt: str | None = None,
        assessment_mode: str | None = None,
        candidate: str | None = None,
        speed: float | None = None,
        out_dir: str | Path | None = None,
        show_timeline: bool = True,
        emulator_process: bool = True,
    ) -> None:
        from interview_kit.config import SessionConfig

        self.config = config if config is not None else SessionConfig()
        if target not in TARGETS.values():
            raise ValueError(f"target must be one of {', '.join(TARGETS.values())}, got {target!r}")
        if candidate is not None and candidate not in CANDIDATES.values():
            raise ValueError(f"candidate must be one of {', '.join(CANDIDATES.values())}, got {candidate!r}")
        if assessment_mode is not None and assessment_mode not in ASSESSMENT_MODES:
            raise ValueError(f"assessment_mode must be one of {', '.join(ASSESSMENT_MODES)}, "
                             f"got {assessment_mode!r}")
        self.show_timeline = show_timeline
        self.emulator_process = emulator_process
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.live = LiveView()
        self.session: InterviewSession | None = None
        self.result: SessionResult | None = None
        self.error: str | None = None
        self.task: asyncio.Task[SessionResult | None] | None = None
        self._started_at: float | None = None
        self._stop_requested = False
        self._session_over = False  # the running task only draws the finished interview's timeline
        self._input: AudioInput | None = None
        self._dirty = False
        self._secrets: tuple[str, ...] = ()
        self._listeners: list[Callable[[Mapping[str, Any]], None]] = []
        self._static: list[tuple[Any, Any]] = []  # display handles of the static copy (summary, timeline)
        self._timeline_png: bytes | None = None
        self._build_widgets(target, scenario, base_url, prompt, assessment_mode, candidate, speed)

    # --- widgets -----------------------------------------------------------------------------------
    def _build_widgets(self, target: str, scenario: str, base_url: str | None, prompt: str | None,
                       mode: str | None, candidate: str | None, speed: float | None) -> None:
        cfg = self.config
        scenarios = _shipped_names("scenarios") or [scenario]
        if scenario not in scenarios:  # a path to a scenario file is fine too
            scenarios = [*scenarios, scenario]
        prompts = _shipped_names("prompts") or [prompt or cfg.prompt]
        prompt = prompt or cfg.prompt
        if prompt not in prompts:
            prompts = [*prompts, prompt]
        layout = w.Layout(width="auto")
        style = {"description_width": "110px"}
        self.target = w.Dropdown(options=list(TARGETS.items()), value=target, description="Target",
                                 style=style)
        self.scenario = w.Dropdown(options=scenarios, value=scenario, description="Scenario", style=style)
        default_url = base_url or (cfg.base_url if target == Target.URL else HOSTED_BASE_URL)
        self.base_url = w.Text(value=default_url, description="Base URL", style=style,
                               layout=w.Layout(width="420px"))
        self.prompt = w.Dropdown(options=prompts, value=prompt, description="Prompt", style=style)
        mode = mode or cfg.assessment_mode
        self.mode = w.Dropdown(options=list(ASSESSMENT_MODES), value=mode, description="Assessment",
                               style=style)
        candidate = candidate or (BROWSER if target == Target.HOSTED else CandidateSource.SIMULATED)
        self.candidate = w.Dropdown(options=list(CANDIDATES.items()), value=candidate,
                                    description="Candidate",
                                    style=style)
        self.speed = w.BoundedFloatText(value=float(speed) if speed else float(cfg.speed), min=0.1,
                                        max=100.0, step=1.0, description="Speed", style=style,
                                        tooltip="audio clock factor (emulator/simulated candidate only)")
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.trigger_button = w.Button(description="Trigger assessment", button_style="warning",
                                       icon="flag-checkered", disabled=True, layout=layout)
        self.mute_button = w.ToggleButton(value=False, description="Mute microphone",
                                          icon="microphone-slash", disabled=True, layout=layout)
        self.phases_html = w.HTML()
        self.health = w.HTML()
        self.gap = w.HTML()
        self.elapsed = w.HTML()
        self.status = w.HTML(value="Ready.")
        self.error_html = w.HTML()
        self.problems = w.HTML()
        self.transcript = w.HTML(layout=w.Layout(border="1px solid #ddd", padding="4px"))
        self.folder_html = w.HTML()
        self.timeline = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.timeline.layout.display = "none"
        self.browser_audio = BrowserAudio(on_note=self._on_audio_note)

        # The controls reach the interview on its loop, the kernel's: JupyterLab 4.6 sends widget
        # messages to a kernel subshell by default, whose thread runs a loop of its own (`_at_home`).
        self._home = running_loop()
        self.start_button.on_click(lambda _b: self._at_home(self.start))
        self.stop_button.on_click(lambda _b: self._at_home(self.stop))
        self.trigger_button.on_click(lambda _b: self._at_home(self.trigger_assessment))
        self.mute_button.observe(lambda change: self._at_home(self._on_mute, change), names="value")
        self.target.observe(self._on_target, names="value")
        self.candidate.observe(self._sync_controls, names="value")
        self._on_target({"new": target})

        settings = w.VBox([w.HBox([self.target, self.scenario]), self.base_url,
                           w.HBox([self.prompt, self.mode]), w.HBox([self.candidate, self.speed]),
                           self.browser_audio])
        buttons = w.HBox([self.start_button, self.stop_button, self.trigger_button, self.mute_button])
        live = w.VBox([self.status, self.error_html, self.phases_html, self.health, self.problems,
                       w.HBox([self.elapsed, w.HTML("&nbsp;·&nbsp;"), self.gap]), self.transcript])
        self.widget = w.VBox([settings, buttons, live, self.folder_html, self.timeline])
        self._render()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The panel's widget view (outside IPython's display, which uses `_ipython_display_`)."""
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        """Show the panel, and below it a static copy of how the interview ended (empty until then).

        Widgets live in the kernel: a saved notebook reopened later shows "model not found" where the
        panel was. The static copy is plain HTML and a PNG in the cell's outputs, updated in place when
        an interview ends, so the saved notebook keeps the outcome, transcript and timeline.
        """
        from IPython.display import HTML, display

        display(self.widget)
        self._static.append((display(HTML(""), display_id=True), display(HTML(""), display_id=True)))
        self.timeline.layout.display = "none"  # the timeline is shown once: in the static copy
        self._update_static()

    def _update_static(self, *, final: bool | None = None) -> None:
        """Fill the static copy under every display of the panel with the final state (`final`; None: if
        an interview has ended), or empty it (an interview starts)."""
        if not self._static:
            return
        from IPython.display import HTML, Image

        if final is None:
            final = not self.running and (self.result is not None or self.error is not None)
        summary = HTML(self.static_html() if final else "")
        png = self._timeline_png if final else None
        timeline = Image(data=png, format="png") if png else HTML("")
        for summary_handle, timeline_handle in self._static:
            summary_handle.update(summary)
            timeline_handle.update(timeline)

    def static_html(self) -> str:
        """The final state as plain HTML (outcome, error, phases, health, folder, transcript): what the
        static copy shows, readable without the widgets."""
        live = self.live
        rows = [f"<b>{who}</b>{f' <i>({purpose})</i>' if purpose else ''}<b>:</b> {html.escape(text)}"
                for who, purpose, text in live.transcript_rows(last=10_000)]
        phases = " → ".join(html.escape(p) for p in dict.fromkeys(live.phases_seen))
        if live.outcome and live.outcome not in live.phases_seen:
            phases += f"{' → ' if phases else ''}<b>{html.escape(str(live.outcome))}</b>"
        parts = [f"<b>Saved copy of the interview panel</b> ({html.escape(_strip_tags(self.status.value))})"]
        if self.error:
            parts.append(f"<b>Error:</b> {html.escape(self.error)}")
        if phases:
            parts.append(f"Phases: {phases}")
        parts.append(html.escape(live.health_text()))
        if self.folder is not None:
            parts.append(f"Session folder: <code>{html.escape(str(self.folder))}</code>")
        body = "<br>".join(parts)
        if rows:
            body += (f"<details><summary>Transcript ({len(rows)} turns)</summary>"
                     f"{'<br>'.join(rows)}</details>")
        return f'<div class="ik-static">{body}</div>'

    def _on_target(self, change: Mapping[str, Any]) -> None:
        target = change["new"]
        if target == Target.HOSTED:
            self.base_url.value = HOSTED_BASE_URL
        elif target == Target.URL and self.base_url.value == HOSTED_BASE_URL:
            self.base_url.value = "http://127.0.0.1:8000/v1"
        if target == Target.EMULATOR and self.candidate.value == CandidateSource.MICROPHONE:
            self.candidate.value = CandidateSource.SIMULATED
        self._sync_controls()

    def _sync_controls(self, _change: Mapping[str, Any] | None = None) -> None:
        """Show only the settings that matter: a scenario for the emulator or a simulated candidate, a
        URL for a server, the speed only where a simulated clock exists."""
        emulator = self.target.value == Target.EMULATOR
        simulated = self.candidate.value == CandidateSource.SIMULATED
        self.scenario.layout.display = "" if emulator or simulated else "none"
        self.speed.layout.display = "" if simulated else "none"  # a person speaks in real time
        self.base_url.layout.display = "none" if emulator else ""
        self.browser_audio.layout.display = "" if self.candidate.value == BROWSER else "none"
        self.candidate.disabled = self.running

    def _at_home(self, func: Callable[..., Any], *args: Any) -> None:
        """Call a control on the loop the panel was made on (the kernel's), from whichever thread the
        widget message arrived on: the interview, its session and its tasks belong to that loop, and
        `await panel.wait()` in a cell waits there too."""
        call_on(self._home, func, *args)

    def _on_mute(self, change: Mapping[str, Any]) -> None:
        if self._input is not None:
            self._input.muted = bool(change["new"])

    # --- public controls -----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """An interview is on (its timeline may still be drawn after it; a new Start may go ahead)."""
        return self.task is not None and not self.task.done() and not self._session_over

    @property
    def audio_input(self) -> AudioInput | None:
        """The candidate's audio input of the running (or last) interview; Mute silences it."""
        return self._input

    @property
    def phase(self) -> str | None:
        """The assessment phase the running (or last) interview is in."""
        return self.live.phase

    @property
    def folder(self) -> Path | None:
        """The session folder of the running or last interview, once it exists."""
        if self.result is not None:
            return Path(self.result.folder)
        folder = getattr(self.session, "folder", None)
        return Path(folder) if folder else None

    def start(self) -> asyncio.Task[SessionResult | None] | None:
        """Start an interview with the current settings as a task on the running event loop."""
        if self.running:
            self._show_error("An interview is already running; stop it first.", sticky=False)
            return None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._show_error("Start needs a running event loop: use it in a notebook, "
                             "or `await panel.run()`.")
            return None
        self._reset()
        self.task = loop.create_task(self._run(), name="interview-panel")
        return self.task

    async def run(self, within: float | None = None) -> SessionResult | None:
        """Start an interview and wait for its end; returns the `SessionResult` (None if it never ran)."""
        if self.start() is None:
            return None
        return await self.wait(within)

    async def wait(self, within: float | None = None) -> SessionResult | None:
        """Wait for the running interview to end and return its result. If it is still running after
        `within` seconds it is stopped (cleanly, folder complete) and waited for a little longer."""
        task = self.task
        if task is None:
            return self.result
        done, _ = await asyncio.wait({task}, timeout=within)
        if not done:
            self.stop()
            await asyncio.wait({task}, timeout=STOP_GRACE_S)
        return self.result

    def stop(self) -> None:
        """Stop the interview cleanly: the session closes and still writes its whole folder."""
        self._stop_requested = True
        if self.running:
            self.status.value = "Stopping…"
        if self.session is not None and self.running:
            self._call(self.session.stop)

    def trigger_assessment(self) -> None:
        """Start the assessment flow now, as the researcher's button (source "button")."""
        if self.session is None or not self.running:
            why = "it has not started yet" if self.running else "no interview is running"
            self._show_error(f"Nothing to assess: {why}.", sticky=False)
            return
        self._call(self.session.trigger_assessment, source=TriggerSource.BUTTON)

    @property
    def muted(self) -> bool:
        return bool(self.mute_button.value)

    @muted.setter
    def muted(self, value: bool) -> None:
        self.mute_button.value = bool(value)

    def settings(self) -> dict[str, Any]:
        """The settings the next Start will use, as plain values."""
        return {"target": self.target.value, "scenario": self.scenario.value, "base_url": self.base_url.value,
                "prompt": self.prompt.value, "assessment_mode": self.mode.value,
                "candidate": self.candidate.value, "speed": float(self.speed.value)}

    # --- the run -------------------------------------------------------------------------------------
    def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call a session control, reporting a failure in the panel instead of the cell's output."""
        try:
            func(*args, **kwargs)
        except Exception as exc:  # a control must never spill a traceback into the notebook
            log.debug("panel control failed", exc_info=True)
            self._show_error(plain_error(exc, self._secrets))

    def _reset(self) -> None:
        self.live = LiveView()
        self.session = self.result = self.error = self._input = None
        self._stop_requested = False
        self._session_over = False
        self._started_at = time.monotonic()
        self.error_html.value = self.folder_html.value = self.problems.value = ""
        self.timeline.layout.display = "none"
        self.timeline.value = b""
        self._timeline_png = None
        self.status.value = "Starting…"
        self._set_running(True)
        self._dirty = True  # the previous interview's transcript goes now, not at the first new record
        self._render()
        self._update_static(final=False)

    async def _run(self) -> SessionResult | None:
        """Open the target, run the session to its end, then show the folder and timeline; never raises."""
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            key = self.config.resolve_api_key()
            self._secrets = (key,) if key else ()
            async with self._open_interview() as interview:
                if self._stop_requested:  # Stop pressed while the emulator was starting: nothing ran
                    self.status.value = "Stopped before the interview started."
                    return None
                self._input = interview.input
                self._input.muted = self.muted
                self.session = session = interview.session
                session.add_listener(self._on_record)
                self.status.value = "Running."
                self.result = await session.run()
        except asyncio.CancelledError:
            self.status.value = "Cancelled."
            raise
        except Exception as exc:
            log.debug("interview failed to run", exc_info=True)
            self._show_error(plain_error(exc, self._secrets))
        finally:
            ticker.cancel()
            self._session_over = True
            self._set_running(False)
            self._finish()
        result = self.result
        if result is not None and self.show_timeline:
            await self._show_timeline(Path(result.folder))
        if self.task is asyncio.current_task():  # not overtaken by a new Start meanwhile
            self._update_static(final=True)
        return result

    def _open_interview(self) -> contextlib.AbstractAsyncContextManager[launch.OpenedInterview]:
        """The chosen interview, set up by `launch.open_interview` as the command line's are."""
        s = self.settings()
        chosen: dict[str, Any] = {"assessment_mode": s["assessment_mode"], "prompt": s["prompt"]}
        if self.out_dir is not None:
            chosen["out_dir"] = self.out_dir
        emulator = s["target"] == Target.EMULATOR
        if not emulator:
            chosen["base_url"] = s["base_url"].strip().rstrip("/")
        audio: launch.AudioFactory | None = None
        if s["candidate"] == BROWSER:
            browser = self.browser_audio

            def audio(chunk_ms: int) -> tuple[AudioInput, AudioOutput]:
                if not browser.ready:  # (called before the emulator starts: nothing to undo)
                    raise SetupError(browser.describe_state())
                return browser.new_interview(chunk_ms=chunk_ms)
        # a person speaks in real time: the Speed control (hidden then) does not apply
        person = CandidateSource(s["candidate"]).is_person
        return launch.open_interview(
            self.config, emulator=emulator, candidate=s["candidate"], scenario=s["scenario"],
            speed=1.0 if person else s["speed"] or None, settings=chosen, audio=audio,
            emulator_process=self.emulator_process)

    def _on_audio_note(self, kind: str, data: dict[str, Any]) -> None:
        """The browser audio's latency figures: into the running session's event log (the live view
        takes them from there), else straight into the live view."""
        session = self.session
        if session is not None and self.running:
            session.note(kind, data)
        else:
            self.live.update({"type": kind, "dir": Dir.LOCAL, "data": data})

    def add_listener(self, cb: Callable[[Mapping[str, Any]], None]) -> None:
        """`cb(record)` for every event-log record of every interview this panel runs, after the live
        view has taken it in (for a custom live plot, or to wait for a moment of the interview)."""
        self._listeners.append(cb)

    def _on_record(self, record: Mapping[str, Any]) -> None:
        """Session listener: cheap per record; the phase list is redrawn at once, the rest on the tick."""
        if self.live.update(record):
            self._render_phases()
        self._dirty = True
        for cb in list(self._listeners):
            try:
                cb(record)
            except Exception:  # a broken listener must not break the live view or the session
                log.warning("panel listener %r raised; removed", cb, exc_info=True)
                self._listeners.remove(cb)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            self._render()

    def _set_running(self, running: bool) -> None:
        self.start_button.disabled = running
        self.stop_button.disabled = not running
        self.trigger_button.disabled = not running
        self.mute_button.disabled = not running
        for control in (self.target, self.scenario, self.base_url, self.prompt, self.mode, self.speed):
            control.disabled = running
        self.candidate.disabled = running

    def _show_error(self, message: str, *, sticky: bool = True) -> None:
        """Show a plain-words error; `sticky` ones are the run's own (kept in `error`), the others are
        about a button pressed at the wrong moment and leave the run's state alone."""
        if sticky:
            self.error = message
        self.error_html.value = f'<div style="color:#b00020"><b>Error:</b> {html.escape(message)}</div>'
        self._render_problems()

    def _finish(self) -> None:
        """Show the outcome and the folder (the timeline follows, drawn off the loop)."""
        result = self.result
        if self.live.outcome is None and self.live.phase is not None:  # it ran but recorded no end
            self.live.outcome = str(result.outcome) if result is not None else Outcome.FAILED
        self._render()
        if result is None:
            folder = self.folder
            if folder is not None:  # it ran, then stopped on an error: what it recorded is still there
                self.status.value = "The interview ended on an error."
                self.folder_html.value = f"Session folder: <code>{html.escape(str(folder))}</code>"
            elif not self.status.value.startswith("Stopped"):
                self.status.value = "Not started."
            return
        outcome = str(result.outcome)
        not_heard = ", ".join(result.not_heard) or "a line"
        words = {Outcome.COMPLETE: "Interview complete.",
                 Outcome.COMPLETE_DEGRADED: f"Interview complete, but not heard: {not_heard}.",
                 Outcome.STOPPED: "Interview stopped; its folder is complete.",
                 Outcome.DISCONNECTED: "The connection dropped.", Outcome.FAILED: "The interview failed."}
        self.status.value = f"<b>{html.escape(words.get(outcome, outcome))}</b>"
        if outcome in (Outcome.FAILED, Outcome.DISCONNECTED) and not self.error:
            details = self.live.errors[-1:]
            if result.close_code is not None:
                reason = f": {result.close_reason}" if result.close_reason else ""
                details.append(f"close code {result.close_code}{reason}")
            if self.live.longest_stall_ms >= 1000:
                details.append(f"the event loop stalled for {self.live.longest_stall_ms / 1000:.1f} s")
            detail = "; ".join(details) or "see events.jsonl in the session folder"
            self._show_error(f"{words[outcome][:-1]} ({detail}).")
        self.folder_html.value = f"Session folder: <code>{html.escape(str(result.folder))}</code>"

    async def _show_timeline(self, folder: Path) -> None:
        """Load and draw the folder in a thread: for a long session that takes seconds, which on the
        kernel's loop would freeze every other cell and widget meanwhile."""
        try:
            png = await asyncio.wait_for(asyncio.to_thread(timeline_png, folder), TIMELINE_S)
        except Exception as exc:  # the plot is a convenience; the folder is what matters
            log.debug("timeline plot failed", exc_info=True)
            self.folder_html.value += f"<br><i>No timeline plot: {html.escape(plain_error(exc))}</i>"
            return
        if self.task is not asyncio.current_task():
            return  # a new interview started while this one's timeline was drawn
        self._timeline_png = png
        self.timeline.value = png
        self.timeline.layout.display = "none" if self._static else ""

    # --- rendering -------------------------------------------------------------------------------------
    def _render(self) -> None:
        self._render_phases()
        live = self.live
        self.health.value = html.escape(live.health_text())
        gap = "—" if live.last_gap_s is None else f"{live.last_gap_s * 1000:.0f} ms"
        self.gap.value = f"last voice-to-voice gap {gap}"
        elapsed = live.last_t
        if self.running and self._started_at is not None:
            elapsed = max(elapsed, time.monotonic() - self._started_at)
        self.elapsed.value = f"elapsed {elapsed:.1f} s"
        self._render_problems()
        if self._dirty:
            self._dirty = False
            rows = [f"<b>{who}</b>{f' <i>({purpose})</i>' if purpose else ''}<b>:</b> {html.escape(text)}"
                    for who, purpose, text in live.transcript_rows()]
            self.transcript.value = transcript_box("<br>".join(rows) or "<i>(no speech yet)</i>")

    def _render_problems(self) -> None:
        """Problems the session handled and went on from; not one the error line already says (a refused
        connection is the run's error, said once)."""
        errors = self.live.errors
        if not errors or (self.error is not None and errors[-1] in self.error):
            self.problems.value = ""
            return
        count = f" ({len(errors)} so far)" if len(errors) > 1 else ""
        self.problems.value = (f'<span style="color:#8a6d00">last problem{count}: '
                               f"{html.escape(errors[-1][:300])}</span>")

    def _render_phases(self) -> None:
        """The phases in order: the current one highlighted, the visited ones ticked. Once the session
        has ended where the flow has no end of its own (Stop mid-interview), its outcome is current."""
        order = [str(p) for p in PHASE_ORDER]
        current = self.live.phase
        if self.live.outcome is not None and current not in TERMINAL_PHASES:
            current = str(self.live.outcome)
        if current and current not in order:
            order.append(current)
        seen = set(self.live.phases_seen)
        items = []
        for name in order:
            if name == current:
                color = {Outcome.FAILED: "#b00020", Outcome.DISCONNECTED: "#b00020",
                         Outcome.STOPPED: "#555555"}.get(name, "#0b6e4f")
                items.append(f'<span style="background:{color};color:white;padding:1px 5px;'
                             f'border-radius:3px"><b>{name}</b></span>')
            elif name in seen:
                items.append(f'<span style="color:#0b6e4f">✓ {name}</span>')
            else:
                items.append(f'<span style="color:#999">{name}</span>')
        self.phases_html.value = "Phase: " + " → ".join(items)



def _strip_tags(text: str) -> str:
    """The words of a status line that may carry <b> tags."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def transcript_box(inner_html: str, height_px: int = TRANSCRIPT_HEIGHT_PX) -> str:
    """The transcript's scroll box, pinned to its last line: a reversed flex column starts scrolled to
    the end, in every browser and without JavaScript, so new lines never land out of sight below."""
    return (f'<div class="ik-transcript" style="max-height:{height_px}px;overflow-y:auto;display:flex;'
            f'flex-direction:column-reverse"><div>{inner_html}</div></div>')


def timeline_png(folder: str | Path, dpi: int = 90) -> bytes:
    """The session's timeline plot (the analysis layer's `plot_timeline`) as PNG bytes, for an Image
    widget: an image survives in the saved notebook, where a live figure would not."""
    from interview_kit.analysis import load_session, plot_timeline

    fig = plot_timeline(load_session(folder))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
