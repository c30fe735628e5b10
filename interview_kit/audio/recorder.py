"""Both sides of the interview as WAV files in the session folder, on the session clock.

`SessionRecorder` writes ``audio/candidate.wav`` (the input as handed over to be sent, chunk by chunk) and
``audio/interviewer.wav`` (the output as played: audio cut short by a barge-in ends in the file where it
stopped being heard). Both are PCM16 mono, 24 kHz, and start at the event log's t0 with silence wherever
nothing was sent or played, so that sample index / (24000 x speed) is the `t` of ``events.jsonl``.
The gaps the analysis measures from the signal (`interview_kit.analysis.audio_gaps`) rest on that.

Where the times come from:

- candidate: the input is one contiguous, paced stream (silence while muted), so the file is that
  stream, placed where its position 0 was recorded: the input's `origin` (when its `chunks()` began),
  or for an input that does not say, the first chunk's send time minus its length (a chunk is sent once
  its last sample is recorded). Every chunk follows the previous one directly: a chunk sent late by
  loop lag neither opens a hole nor shifts what follows. Audio kept during a reconnect and sent again
  on the new connection is in the file once, when it was captured.
- interviewer: the output's `PlaybackTracker` knows when each sample is heard (device latency
  included); it hands the recorder every chunk with that moment (``heard``) and every cut (``cut``,
  from a barge-in or the output closing). A chunk is written once it has been heard in full, or as far
  as it was heard when cut; what was never heard never reaches the file.

At speed > 1 (a rehearsal on the virtual clock) the audio keeps its pitch: the files hold 24 kHz audio
and one session second is `speed` seconds of file. `audio/recording.json` says so (`speed`,
`samples_per_session_second`), and the analysis divides by it.

Writes never stall the event loop: the loop only places chunks (a few microseconds each) and hands them
to a writer thread through a queue bounded in bytes. The thread writes with the standard library's
`wave` and patches the header's sizes (which flushes the file) whenever it has caught up with the
queue, i.e. after every chunk at real time, so a process killed mid-session leaves files readable up to
the last chunk written; `read_track` reads the raw frames to the end whenever the header is stale. The first
disk error (or a backlog the disk cannot absorb, or less than `MIN_FREE_BYTES` left on the disk: the
audio never takes the room the event log needs) is reported once through `on_error` and stops the
recording; nothing ever raises into the audio path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import queue
import shutil
import struct
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interview_kit.audio.format import BYTES_PER_SAMPLE, CHANNELS, SAMPLE_RATE
from interview_kit.clock import loop_time

log = logging.getLogger(__name__)

AUDIO_DIR = "audio"
CANDIDATE_FILE = "candidate.wav"
INTERVIEWER_FILE = "interviewer.wav"
RECORDING_FILE = "recording.json"
CANDIDATE = "candidate"
INTERVIEWER = "interviewer"

MAX_BACKLOG_BYTES = 8 * 1024 * 1024  # ~87 s of both tracks waiting for the disk: then recording stops
# Recording stops (or never starts) with less free space than this on the folder's disk: the audio must
# never take the room the event log and the session's final files need (a 10-minute log is ~5 MB).
MIN_FREE_BYTES = 64 * 1024 * 1024
SPACE_CHECK_BYTES = 1024 * 1024  # free space is checked again after every MB written (~10 s of audio)
CLOSE_TIMEOUT = 5.0  # seconds close() waits for the writer thread to finish the files
CONTIGUOUS_SAMPLES = 2  # interviewer chunks this close to the file's end are contiguous (rounding)
_SILENCE = bytes(SAMPLE_RATE * BYTES_PER_SAMPLE)  # one second of silence, written in pieces

#: ``on_error(exc)``: the first disk error (or backlog overflow), once, on the loop the recorder was made on.
RecordingErrorHandler = Callable[[OSError], None]


class RecordingBacklogError(OSError):
    """The disk did not keep up: more audio was waiting to be written than the recorder may hold."""


class RecordingSpaceError(OSError):
    """Too little free space left on the disk for the recording (kept for the session's other files)."""


def check_free_space(folder: Path) -> None:
    """Raise `RecordingSpaceError` when `folder`'s disk has less than `MIN_FREE_BYTES` free."""
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_BYTES:
        raise RecordingSpaceError(
            errno.ENOSPC, f"recording stopped: {free / 1e6:.1f} MB free on the disk of {folder}, kept for "
                          f"the session's own files (the recording needs {MIN_FREE_BYTES / 1e6:.0f} MB)")


@dataclass
class _Heard:
    """A chunk of interviewer audio and the sample (on the file's timeline) it is heard at."""

    rid: str
    start: int
    pcm: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.pcm) // BYTES_PER_SAMPLE


class _Writer:
    """The writer thread: one WAV per track, silence then audio appended as the jobs arrive."""

    def __init__(self, paths: dict[str, Path], on_failed: Callable[[OSError], None]) -> None:
        self._paths = paths
        self._folder = next(iter(paths.values())).parent
        self._on_failed = on_failed
        self._jobs: queue.SimpleQueue[tuple[str, int, bytes] | None] = queue.SimpleQueue()
        self._wavs: dict[str, wave.Wave_write] = {}
        self._lock = threading.RLock()  # re-entrant: an error handler may call back into the recorder
        self.backlog = 0  # bytes of audio queued, not yet written
        self.failed = False
        self.written = dict.fromkeys(paths, 0)  # samples written per track
        self._thread = threading.Thread(target=self._run, name="audio-recorder", daemon=True)

    def open(self) -> None:
        """Create the files with their headers (on the caller's thread: a bad folder fails at once)."""
        for track, path in self._paths.items():
            wav = wave.open(str(path), "wb")
            wav.setnchannels(CHANNELS)
            wav.setsampwidth(BYTES_PER_SAMPLE)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(b"")  # the header, now: an empty recording is a valid WAV
            self._wavs[track] = wav
        self._thread.start()

    def put(self, track: str, silence: int, pcm: bytes) -> bool:
        """Queue `silence` samples then `pcm` on `track`; False (and nothing queued) past the backlog."""
        with self._lock:
            if self.failed:
                return False
            if self.backlog + len(pcm) > MAX_BACKLOG_BYTES:
                self._fail(RecordingBacklogError(
                    errno.EAGAIN, f"the disk did not keep up: {self.backlog / 1e6:.1f} MB of audio waiting"))
                return False
            self.backlog += len(pcm)
        self._jobs.put((track, silence, pcm))
        return True

    def finish(self, timeout: float) -> bool:
        """Write what is queued, close the files; False if the thread did not finish in time."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
        else:
            self._close_files()
        return True

    def _run(self) -> None:
        dirty: set[str] = set()  # tracks written since their header was last patched
        unchecked = 0  # bytes written since free space was last checked
        while True:
            job = self._jobs.get()
            if job is None:
                break
            track, silence, pcm = job
            with self._lock:
                self.backlog -= len(pcm)
                if self.failed:
                    continue
            try:
                wav = self._wavs[track]
                while silence > 0:
                    piece = min(silence, SAMPLE_RATE)
                    wav.writeframesraw(_SILENCE[: piece * BYTES_PER_SAMPLE])
                    silence -= piece
                    self.written[track] += piece
                wav.writeframesraw(pcm)
                self.written[track] += len(pcm) // BYTES_PER_SAMPLE
                dirty.add(track)
                unchecked += len(pcm)
                if unchecked >= SPACE_CHECK_BYTES:
                    unchecked = 0
                    check_free_space(self._folder)
                if self._jobs.empty():  # caught up: patch the headers (and flush) so a crash loses nothing
                    for name in dirty:
                        self._wavs[name].writeframes(b"")
                    dirty.clear()
            except OSError as exc:
                with self._lock:
                    self._fail(exc)
        self._close_files()

    def _fail(self, exc: OSError) -> None:
        """Stop writing (the lock is held); report once."""
        if self.failed:
            return
        self.failed = True
        self._on_failed(exc)

    def _close_files(self) -> None:
        for wav in self._wavs.values():
            try:
                wav.close()  # patches the header's sizes
            except OSError as exc:
                with self._lock:
                    self._fail(exc)
            except Exception:  # a half-broken wave object after a disk error: the data stays readable
                log.debug("closing a recording failed", exc_info=True)
        self._wavs.clear()


class SessionRecorder:
    """Records both sides of one session into ``<folder>/audio/`` (see the module's docstring).

    `t0`: the clock time of the session's t=0 (the event log's ``t0``); `clock`: the session's clock;
    `speed`: the audio clock's multiplier (the output's and the input's). `attach` taps an input and an
    output; or feed it directly: `sent` (loop), `heard` / `cut` (any thread, as the tracker calls them).
    """

    def __init__(self, folder: Path | str, *, t0: float, speed: float = 1.0,
                 clock: Callable[[], float] = loop_time,
                 on_error: RecordingErrorHandler | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        self.dir = Path(folder) / AUDIO_DIR
        self.t0 = t0
        self.speed = speed
        self.rate = SAMPLE_RATE * speed  # samples per session second
        self.on_error = on_error
        self.error: OSError | None = None
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        with contextlib.suppress(RuntimeError):
            self._loop = asyncio.get_running_loop()
        self._lock = threading.RLock()
        self._input: Any = None  # the input attached, for its `origin`
        self._heard: list[_Heard] = []  # interviewer audio scheduled, not yet written (in time order)
        self._cursor = {CANDIDATE: 0, INTERVIEWER: 0}  # samples placed per track
        self._started = False  # the candidate's stream has been placed on the session clock
        self._origin: float | None = None  # ... from this origin of the input's
        self._closed = False  # no more audio placed
        self._finished = False  # the writer has been told to finish
        paths = {CANDIDATE: self.dir / CANDIDATE_FILE, INTERVIEWER: self.dir / INTERVIEWER_FILE}
        self._writer = _Writer(paths, self._failed)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            check_free_space(self.dir)
            self._write_info(closed=False)
            self._writer.open()
        except OSError as exc:
            self._writer.failed = True
            self._failed(exc)

    # -- wiring --------------------------------------------------------------------------------------
    def attach(self, input: Any = None, output: Any = None) -> None:
        """Tap an `AudioInput` (each chunk as it is yielded to be sent) and an `AudioOutput` (its
        tracker's heard audio and cuts)."""
        if input is not None:
            input.tap = self.sent
            self._input = input
        if output is not None:
            output.tracker.tap = self

    @property
    def recording(self) -> bool:
        """True while audio is being written (not closed, no disk error)."""
        return not self._closed and self.error is None

    def samples(self, track: str) -> int:
        """Samples placed on `track` so far (written, or queued for the writer)."""
        return self._cursor[track]

    # -- the candidate -------------------------------------------------------------------------------
    def sent(self, pcm: bytes) -> None:
        """`pcm`, the next chunk of the input stream, is being sent now (the first one places the stream
        on the session clock; the others follow it)."""
        if not self.recording:
            return
        try:
            n = len(pcm) // BYTES_PER_SAMPLE
            now = self._clock()
            origin = getattr(self._input, "origin", None)
            origin = origin if isinstance(origin, float) else None
            with self._lock:
                cursor = self._cursor[CANDIDATE]
                silence = 0
                if not self._started or origin != self._origin:  # a stream's first chunk (or a restart's)
                    start = (round((origin - self.t0) * self.rate) if origin is not None
                             else round((now - self.t0) * self.rate) - n)
                    silence = max(0, start - cursor)
                    self._started, self._origin = True, origin
                if self._writer.put(CANDIDATE, silence, bytes(pcm[: n * BYTES_PER_SAMPLE])):
                    self._cursor[CANDIDATE] = cursor + silence + n
            self._flush(now)
        except Exception:  # never into the audio path
            log.exception("recording the candidate's audio failed")

    # -- the interviewer (the PlaybackTracker's tap) -------------------------------------------------
    def heard(self, rid: str, pcm: bytes, at: float) -> None:
        """`pcm` of response `rid` is heard from clock time `at` on (now or later)."""
        if not self.recording or not pcm:
            return
        try:
            start = round((at - self.t0) * self.rate)
            n = len(pcm) - len(pcm) % BYTES_PER_SAMPLE
            with self._lock:
                self._heard.append(_Heard(rid, start, bytes(pcm[:n])))
                if len(self._heard) > 1 and self._heard[-2].start > start:
                    self._heard.sort(key=lambda h: h.start)
            self._flush(self._clock())
        except Exception:
            log.exception("recording the interviewer's audio failed")

    def cut(self, rid: str, at: float) -> None:
        """Response `rid` stopped being heard at clock time `at`: its audio after that is dropped."""
        try:
            self._cut(round((at - self.t0) * self.rate), rid)
            self._flush(self._clock())
        except Exception:
            log.exception("cutting the interviewer's recording failed")

    def _cut(self, at: int, rid: str | None) -> None:
        with self._lock:
            kept: list[_Heard] = []
            for h in self._heard:
                if rid is None or h.rid == rid:
                    if h.start >= at:
                        continue
                    h.pcm = h.pcm[: (at - h.start) * BYTES_PER_SAMPLE]
                kept.append(h)
            self._heard = kept

    def _flush(self, now: float) -> None:
        """Hand the writer every interviewer chunk heard in full by `now`."""
        until = round((now - self.t0) * self.rate)
        with self._lock:
            while self._heard and self._heard[0].end <= until and self.recording:
                h = self._heard.pop(0)
                cursor = self._cursor[INTERVIEWER]
                silence = h.start - cursor if h.start > cursor + CONTIGUOUS_SAMPLES else 0
                if h.start < cursor - CONTIGUOUS_SAMPLES:
                    log.debug("interviewer audio overlaps the recording by %d samples", cursor - h.start)
                if self._writer.put(INTERVIEWER, silence, h.pcm):
                    self._cursor[INTERVIEWER] = cursor + silence + len(h.pcm) // BYTES_PER_SAMPLE
            if not self.recording:
                self._heard.clear()

    # -- the end ---------------------------------------------------------------------------------------
    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Write what was heard by now (the rest never will be), finish the files. Idempotent; blocks at
        most `timeout` s for the disk (`aclose` waits off the loop)."""
        self._finish_placing()
        self._finish_writing(timeout)

    async def aclose(self) -> None:
        """`close`, waiting (at most `CLOSE_TIMEOUT`) for the writer thread in a worker thread, not on
        the loop."""
        self._finish_placing()
        await asyncio.to_thread(self._finish_writing, CLOSE_TIMEOUT)

    def _finish_placing(self) -> None:
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            with contextlib.suppress(Exception):
                self._cut(round((now - self.t0) * self.rate), None)
                self._flush(now)
            self._closed = True

    def _finish_writing(self, timeout: float) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = True
        done = self._writer.finish(timeout)
        if not done:
            log.warning("the audio recording did not finish writing within %.0f s", timeout)
        with contextlib.suppress(OSError):
            self._write_info(closed=done)

    def _write_info(self, *, closed: bool) -> None:
        from interview_kit.eventlog import write_json  # the folder's own atomic JSON writer

        write_json(self.dir / RECORDING_FILE, {
            "format": {"encoding": "pcm_s16le", "channels": CHANNELS, "sample_rate": SAMPLE_RATE},
            "clock": "session: sample 0 is t=0 of events.jsonl; a session second is "
                     "samples_per_session_second samples",
            "speed": self.speed,
            "samples_per_session_second": self.rate,
            "tracks": {CANDIDATE: CANDIDATE_FILE, INTERVIEWER: INTERVIEWER_FILE},
            "samples": {k: self._writer.written[k] for k in self._cursor},
            "closed": closed,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        })

    def _failed(self, exc: OSError) -> None:
        """The first disk error: remember it and report it once, on the loop when there is one."""
        if self.error is not None:
            return
        self.error = exc
        if self.on_error is None:  # (otherwise the handler says it: one line, not two)
            log.warning("audio recording stopped: %s", exc)
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                if _running(loop):
                    self._call(exc)
                else:
                    loop.call_soon_threadsafe(self._call, exc)
                return
            except RuntimeError:
                pass
        self._call(exc)

    def _call(self, exc: OSError) -> None:
        assert self.on_error is not None
        try:
            self.on_error(exc)
        except Exception:
            log.exception("the recording's error handler raised")


def _running(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


# -- reading -----------------------------------------------------------------------------------------

def track_data(path: Path | str) -> tuple[int, int]:
    """(offset, size) in bytes of the PCM16 samples of a recorded track, reading only its header. The
    recorder writes nothing after the data chunk, so when the header's data size disagrees with the file
    (a crash between a write and the header's patch, a header never patched, a file cut short) the
    samples run to the end of the file (whole samples only). Raises `ValueError` for a file that is not
    a PCM16 mono 24 kHz WAV."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(4096)
        total = f.seek(0, 2)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= min(len(head), total):
        cid, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        body = pos + 8
        if cid == b"fmt ":
            fmt = struct.unpack("<HHIIHH", head[body:body + 16])
        elif cid == b"data":
            pcm16 = (1, CHANNELS, SAMPLE_RATE, 8 * BYTES_PER_SAMPLE)
            if fmt is None or (fmt[0], fmt[1], fmt[2], fmt[5]) != pcm16:
                raise ValueError(f"{path}: not a PCM16 mono {SAMPLE_RATE} Hz WAV ({fmt})")
            available = total - body
            n = size if size == available else available
            return body, n - n % BYTES_PER_SAMPLE
        pos = body + size + (size & 1)
    raise ValueError(f"{path}: WAV file with no data chunk (cut before any audio was written?)")


def read_track(path: Path | str) -> bytes:
    """The PCM16 samples of a recorded track (see `track_data` for a header that disagrees)."""
    offset, size = track_data(path)
    with Path(path).open("rb") as f:
        f.seek(offset)
        return f.read(size)
