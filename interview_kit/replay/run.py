"""Running a replay: a fresh `InterviewSession` from the recorded config, with the recorded server
(`ReplayTransport`) and assessor (`ReplayAssessor`), the user's clicks at their recorded moments, into
a folder of its own; then its decisions compared with the recording's."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interview_kit.assessment import PromptError, load_prompt
from interview_kit.config import ConfigError, SessionConfig
from interview_kit.records import Rec
from interview_kit.replay.assessor import ReplayAssessor
from interview_kit.replay.differences import TOLERANCE, Difference, compare
from interview_kit.replay.recording import Recording, ReplayError
from interview_kit.replay.summary import Summary
from interview_kit.replay.transport import ReplayTransport
from interview_kit.session import InterviewSession
from interview_kit.virtual_clock import VirtualClockLoop

log = logging.getLogger(__name__)

#: Loop seconds the replay waits, after the recording's end, for the session to close by itself
#: before stopping it (its outcome is then ``stopped``: a difference).
END_GRACE = 10.0

OnRecord = Callable[[dict[str, Any]], None]


@dataclass
class ReplayResult:
    """A replay and how it compares with its recording."""

    recording: Path
    folder: Path | None  # the replay's own session folder (None: none was written, or `removed`)
    recorded: Summary
    replayed: Summary | None
    differences: list[Difference]
    tolerance: float
    real_time: bool
    wall_s: float = 0.0  # real seconds the replay took
    removed: bool = False  # the folder was a temporary one, removed at the end (`folder` is None)
    notes: list[str] = field(default_factory=list)
    sent: list[tuple[float, str]] = field(default_factory=list)  # every frame the replayed client sent

    @property
    def agree(self) -> bool:
        return not self.differences


def replay(folder: Path | str, *, out_dir: Path | str | None = None, keep: bool = False,
           real_time: bool = False, tolerance: float = TOLERANCE, end_grace: float = END_GRACE,
           on_record: OnRecord | None = None, overrides: Mapping[str, Any] | None = None) -> ReplayResult:
    """Replay a recorded session folder and compare the replay's decisions with the recording's.

    ``out_dir``: where the replay's own session folder goes (never the recorded folder). Without it the
    replay writes into a new temporary folder and removes it at the end, unless ``keep``: one folder
    per replay would pile up. ``real_time``: pace by the wall clock instead of a fast-forwarding virtual
    clock. ``on_record(record)`` hears every record of the replay as it is written (to follow it, or
    stop in a debugger: on the virtual clock no time passes meanwhile). ``overrides`` changes settings
    of the recorded config (what-if; the server still does what it recorded). `ReplayError` for a
    folder that cannot be replayed.
    """
    recording = Recording.load(folder)  # a bad folder fails here, before any loop starts
    started = time.perf_counter()

    def run() -> ReplayResult:
        with asyncio.Runner(loop_factory=None if real_time else VirtualClockLoop) as runner:
            return runner.run(replay_async(recording, out_dir=out_dir, keep=keep, tolerance=tolerance,
                                           end_grace=end_grace, on_record=on_record, overrides=overrides))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result = run()
    else:  # called from a running loop (a notebook): replay on a loop of its own, in a thread
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="interview-replay") as pool:
            result = pool.submit(run).result()
    result.wall_s = round(time.perf_counter() - started, 3)
    return result


async def replay_async(recording: Recording | Path | str, *, out_dir: Path | str | None = None,
                       keep: bool = False, tolerance: float = TOLERANCE, end_grace: float = END_GRACE,
                       on_record: OnRecord | None = None,
                       overrides: Mapping[str, Any] | None = None) -> ReplayResult:
    """`replay` on the running loop (whatever its clock: a `VirtualClockLoop` fast-forwards)."""
    if not isinstance(recording, Recording):
        recording = Recording.load(recording)
    if out_dir is None:
        out, remove = Path(tempfile.mkdtemp(prefix="interview-kit-replay-")), not keep
    else:
        out, remove = _outside(Path(out_dir), recording.folder), False
    try:
        result = await _replay_into(out, recording, tolerance=tolerance, end_grace=end_grace,
                                    on_record=on_record, overrides=overrides)
    finally:
        if remove:
            shutil.rmtree(out, ignore_errors=True)
    if remove:
        log.info("replay: removed the temporary folder %s", out)
        result.folder, result.removed = None, True
    return result


def _outside(out_dir: Path, recording: Path) -> Path:
    """`out_dir`, unless it is (inside) the recorded folder: a replay never writes into a recording."""
    out, rec = out_dir.resolve(), recording.resolve()
    if out == rec or rec in out.parents:
        raise ReplayError(f"{out_dir}: the replay must not write into the recorded folder")
    return out_dir


def _config(recording: Recording, out: Path, overrides: Mapping[str, Any] | None,
            notes: list[str]) -> SessionConfig:
    """The recorded config writing into `out`, with `overrides`; a prompt this machine does not have
    is replaced by ``default`` (with a note)."""
    # A replay hears silence of the logged lengths: nothing worth recording as audio.
    settings: dict[str, Any] = {"out_dir": out, "record_audio": False, **(overrides or {})}
    prompt = settings.get("prompt", recording.config.prompt)
    try:
        load_prompt(prompt)
    except PromptError as exc:
        notes.append(f"prompt {recording.config.prompt!r} is not available here ({exc}); replayed with "
                     "'default' (the fallback summary's language may differ)")
        settings["prompt"] = "default"
    try:
        return recording.config.with_overrides(settings)
    except ConfigError as exc:
        raise ReplayError(str(exc)) from None


async def _replay_into(out: Path, recording: Recording, *, tolerance: float, end_grace: float,
                       on_record: OnRecord | None, overrides: Mapping[str, Any] | None) -> ReplayResult:
    loop = asyncio.get_running_loop()
    notes = list(recording.notes)
    config = _config(recording, out, overrides, notes)
    transport = ReplayTransport(recording)
    assessor = ReplayAssessor(recording.report_plan)
    scenario = recording.session.get("scenario")
    session = InterviewSession(config, transport=transport, assessor=assessor,
                               scenario_name=scenario if isinstance(scenario, str) else None,
                               wall_clock=lambda: recording.wall_at(session.elapsed))
    timers: list[asyncio.TimerHandle] = []

    def user_action(kind: str) -> None:
        try:
            if kind == "button":
                session.trigger_assessment("button")
            else:
                session.stop()
        except RuntimeError:  # the replayed session is over already
            pass

    def end_of_recording() -> None:
        if transport.close_info is None:
            message = (f"the replay was still running {end_grace:g} s after the recording's end "
                       f"({recording.end_t:.3f} s): stopped")
            log.info("%s", message)
            notes.append(message)
            session.stop()

    def listen(rec: dict[str, Any]) -> None:
        if rec["type"] == Rec.SESSION_STARTED and not timers:  # the session's t = 0: set the clock
            origin = loop.time() - rec["t"]
            transport.start_clock(origin)
            timers.extend(loop.call_at(origin + t, user_action, kind) for t, kind in recording.actions)
            timers.append(loop.call_at(origin + recording.end_t + end_grace, end_of_recording))
        assessor.on_record(rec)
        if on_record is not None:
            try:
                on_record(rec)
            except Exception:  # the caller's bug must not stop the replay (the log would drop us)
                log.exception("on_record raised")

    session.add_listener(listen)
    limit = recording.end_t + end_grace + config.report_timeout + 60.0
    try:
        await asyncio.wait_for(session.run(), limit)
    except TimeoutError:
        notes.append(f"the replay did not end within {limit:g} s of loop time")
    finally:
        for timer in timers:
            timer.cancel()
        assessor.close()
    replayed = None
    if session.folder is not None:
        try:
            replayed = Recording.load(session.folder).summary
        except ReplayError as exc:
            notes.append(f"the replay's own folder does not read back: {exc}")
    return ReplayResult(recording.folder, session.folder, recording.summary, replayed,
                        compare(recording.summary, replayed, tolerance=tolerance), tolerance=tolerance,
                        real_time=not isinstance(loop, VirtualClockLoop), notes=notes, sent=transport.sent)
