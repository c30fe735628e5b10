"""The candidate's microphone and the interviewer's voice in the browser that shows the notebook.

`BrowserAudio` is an anywidget: its JavaScript (``browser.js``, with the AudioWorklets of
``browser_worklet.js``, both shipped in this package: no build step, no CDN) asks for the microphone
after a click, with the browser's echo cancellation, noise suppression and auto gain on, resamples it to
24 kHz PCM16 in an AudioWorklet and sends 20 ms chunks to the kernel as binary comm buffers; it plays
the interviewer's audio through a second AudioWorklet with a small jitter buffer and reports, for every
chunk, the moment its first sample is heard. So it works wherever JupyterLab does: on a laptop, and on
a server or JupyterHub whose kernel has no sound card.

For the session it is one more audio input and output: `BrowserAudio.input` is an `AudioInput`
(`BrowserMicrophone`) and `BrowserAudio.output` an `AudioOutput` (`BrowserSpeakers`), with the same
interfaces as the sound card's and the virtual ones. (Two objects, not one: an input's `close()` is
synchronous, an output's is a coroutine, and a widget's `close()` closes its comm.)

Clocks: the browser stamps what it sends with its own clock (``performance.timeOrigin + now()``, ms); the
kernel keeps the offset to its loop clock from sync round trips (the one with the shortest round trip
wins), so "heard at" lands on the session's clock even when the browser runs on another machine, and
the latency figures (microphone to kernel, kernel to speaker) are measured, not guessed. They are
reported through `on_note` as ``audio.latency`` records (the panel writes them to ``events.jsonl``).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from interview_kit.audio.format import BYTES_PER_SAMPLE, DEFAULT_CHUNK_MS, SAMPLE_RATE
from interview_kit.audio.inputs import AudioInput
from interview_kit.audio.outputs import AudioOutput
from interview_kit.audio.tracker import PlaybackEvent
from interview_kit.clock import call_on, loop_time, running_loop
from interview_kit.records import Rec

log = logging.getLogger(__name__)

BROWSER_CHUNK_MS = 40  # audio per message from the page: 25 comm messages a second (each costs the kernel
# a message dispatch and two status messages; 20 ms would double that for 20 ms less delay)
JITTER_MS = 60  # audio the browser buffers before it starts a response (absorbs the comm's jitter)
SYNC_INTERVAL_S = 2.0  # how often the kernel measures the clock offset to the browser
NOTE_INTERVAL_S = 5.0  # how often the latency figures are reported while audio flows
WINDOW = 100  # latency samples the figures are the median of
NOTE = Callable[[str, dict[str, Any]], None]

_HERE = Path(__file__).parent


class _Clock:
    """The browser's clock on the kernel's: offset = browser ms - kernel ms, from sync round trips."""

    def __init__(self) -> None:
        self.offset_ms: float | None = None
        self.rtt_ms: float | None = None
        self._samples: deque[tuple[float, float]] = deque(maxlen=20)  # (rtt, offset)

    def synced(self, kernel_sent_ms: float, browser_ms: float, kernel_now_ms: float) -> None:
        rtt = kernel_now_ms - kernel_sent_ms
        if rtt < 0:
            return
        self._samples.append((rtt, browser_ms - (kernel_sent_ms + kernel_now_ms) / 2))
        self.rtt_ms, self.offset_ms = min(self._samples)  # the tightest round trip is the best estimate

    def to_kernel_s(self, browser_ms: float) -> float | None:
        """A browser time as kernel loop time in seconds; None before the first sync."""
        if self.offset_ms is None:
            return None
        return (browser_ms - self.offset_ms) / 1000


class BrowserMicrophone(AudioInput):
    """The browser's microphone as an `AudioInput`: chunks as they arrive from the page, re-cut to
    `chunk_ms`. Real time only (speed 1). Audio that arrives while no session reads is dropped: it is
    the past. `muted` is the widget's mute (the page sends silence then; the audio never leaves it)."""

    def __init__(self, audio: BrowserAudio, *, chunk_ms: int = DEFAULT_CHUNK_MS) -> None:
        self._audio = audio
        super().__init__(speed=1.0, chunk_ms=chunk_ms)
        self._queue: asyncio.Queue[bytes] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.chunks_received = 0

    @property  # type: ignore[override]
    def muted(self) -> bool:
        return bool(self._audio.muted)

    @muted.setter
    def muted(self, value: bool) -> None:
        self._audio.muted = bool(value)

    def _received(self, pcm: bytes) -> None:
        """Called on the kernel's loop for each chunk from the page."""
        self.chunks_received += 1
        if self._queue is not None and not self._closed:
            self._queue.put_nowait(pcm)

    def close(self) -> Any:
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.put_nowait(b"")  # wakes `chunks()` at once
        return super().close()

    async def chunks(self) -> AsyncIterator[bytes]:
        self._closed = False
        self._loop = self._audio.home = asyncio.get_running_loop()
        queue = self._queue = asyncio.Queue()
        self._audio._listening(True)

        def quiet(seconds: float) -> None:
            if seconds in (3.0, 30.0):
                log.warning("the browser's microphone sent nothing for %.0f s (%s)", seconds,
                            self._audio.describe_state())

        try:
            async for chunk in self._chunks_from(queue, quiet):
                yield chunk
        finally:
            self._audio._listening(False)
            self.close()


class BrowserSpeakers(AudioOutput):
    """The browser's speakers as an `AudioOutput`: each chunk goes to the page with its kernel time; the
    page reports when its first sample is heard (output latency included) and the tracker takes that,
    so ``playback.started``/``ended`` and a barge-in's truncation count what was really heard."""

    def __init__(self, audio: BrowserAudio, on_event: PlaybackEvent | None = None) -> None:
        super().__init__(on_event, speed=1.0, clock=loop_time)
        self._audio = audio
        self._seq = 0
        self._sent: dict[int, tuple[str, bytes, float]] = {}  # seq -> (response id, pcm, kernel time sent)
        self._firsts: set[int] = set()  # the seqs that start a response (nothing queued before them)

    async def start(self) -> None:
        await super().start()
        self._closed = False
        self._audio.home = asyncio.get_running_loop()
        self._audio._playing(True)

    async def close(self) -> None:
        if self._closed:
            return
        at = self._clock()
        self._truncate_active(at)
        self._audio._post({"type": "flush"})
        self._sent.clear()
        self._audio._playing(False)
        await super().close()

    def enqueue(self, response_id: str, pcm: bytes) -> None:
        n = self._samples(response_id, pcm)
        if not n:
            return
        pcm = bytes(pcm[: n * BYTES_PER_SAMPLE])
        self._seq += 1
        now = self._clock()
        if not self.tracker.received_ms(response_id):
            self._firsts.add(self._seq)
        self._sent[self._seq] = (response_id, pcm, now)
        self.tracker.queued(response_id, n)
        self._audio._post({"type": "play", "rid": response_id, "seq": self._seq, "kt": now * 1000}, [pcm])

    def finish(self, response_id: str) -> None:
        super().finish(response_id)
        self._audio._post({"type": "finish", "rid": response_id})

    def interrupt(self) -> tuple[str | None, int]:
        at = self._clock()
        result = self._truncate_active(at)
        self._audio._post({"type": "flush"})
        self._sent.clear()
        self._firsts.clear()
        return result

    def _heard(self, seq: int, browser_ms: float) -> float | None:
        """The page started playing chunk `seq`, its first sample heard at `browser_ms` (browser clock).
        Returns the kernel-to-speaker delay in ms for a response's first chunk (later ones also wait
        behind the audio before them, which says nothing about the path), else None."""
        sent = self._sent.pop(seq, None)
        first = seq in self._firsts
        self._firsts.discard(seq)
        at = self._audio.clock.to_kernel_s(browser_ms)
        if sent is None or at is None:
            return None
        rid, pcm, sent_at = sent
        self.tracker.played(rid, len(pcm) // BYTES_PER_SAMPLE, at, pcm)
        return (at - sent_at) * 1000 if first else None


class BrowserAudio(anywidget.AnyWidget):
    """The browser's microphone and speakers, for one interview at a time (see the module docstring).

    Show it (or the panel that holds it), click its button once to let the page use the microphone,
    then give `input` and `output` to the session. `on_note(kind, data)` receives the latency figures.
    """

    _esm = _HERE / "browser.js"
    _css = """
    .ik-browser-audio { display: flex; align-items: center; gap: 8px; margin: 4px 0; flex-wrap: wrap; }
    .ik-meter { width: 120px; height: 8px; background: #eee; border-radius: 4px; overflow: hidden; }
    .ik-meter-bar { width: 0%; height: 100%; background: #0b6e4f; transition: width 60ms linear; }
    .ik-status.ik-error { color: #b00020; }
    .ik-status.ik-muted { color: #8a6d00; }
    """
    _worklet = traitlets.Unicode((_HERE / "browser_worklet.js").read_text(encoding="utf-8")).tag(sync=True)
    muted = traitlets.Bool(False).tag(sync=True)
    jitter_ms = traitlets.Int(JITTER_MS).tag(sync=True)
    chunk_ms = traitlets.Int(BROWSER_CHUNK_MS).tag(sync=True)
    #: the page's side: "idle" (not clicked yet), "asking", "live", "denied", "insecure", "error"
    state = traitlets.Unicode("idle").tag(sync=True)
    message = traitlets.Unicode("").tag(sync=True)
    #: what the kernel is doing with the audio, shown on the page: "", "listening", "interview"
    activity = traitlets.Unicode("").tag(sync=True)
    #: the page that owns the audio (a second view of the widget stays quiet)
    owner = traitlets.Unicode("").tag(sync=True)

    def __init__(self, *, on_note: NOTE | None = None, chunk_ms: int = DEFAULT_CHUNK_MS,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_note = on_note
        self.clock = _Clock()
        self.input = BrowserMicrophone(self, chunk_ms=chunk_ms)
        self.output = BrowserSpeakers(self)
        self.mic_to_kernel: deque[float] = deque(maxlen=WINDOW)
        self.kernel_to_speaker: deque[float] = deque(maxlen=WINDOW)
        self._listening_now = False
        self._playing_now = False
        self._sync_task: asyncio.Task[None] | None = None
        self._last_note = 0.0
        #: the loop the interview's audio lives on (where it was made, then where the session reads and
        #: plays it); the page's messages are handled there, whichever thread receives them
        self.home: asyncio.AbstractEventLoop | None = running_loop()
        self.on_msg(self._on_page_msg)

    # --- what the session uses ------------------------------------------------------------------
    def new_interview(self, *, chunk_ms: int = DEFAULT_CHUNK_MS) -> tuple[BrowserMicrophone, BrowserSpeakers]:
        """A fresh input and output for the next interview (a session's output starts once)."""
        self.input = BrowserMicrophone(self, chunk_ms=chunk_ms)
        self.output = BrowserSpeakers(self)
        self.mic_to_kernel.clear()
        self.kernel_to_speaker.clear()
        return self.input, self.output

    @property
    def ready(self) -> bool:
        """True once the page has the microphone and its audio running."""
        return self.state == "live"

    def describe_state(self) -> str:
        """The page's state in words (for an error or a log line)."""
        words = {"idle": "the browser's microphone has not been switched on: click its button in the panel",
                 "asking": "the browser is asking for the microphone",
                 "live": "the browser's microphone is on",
                 "denied": "the browser was not allowed to use the microphone",
                 "insecure": "the page is not a secure context (open JupyterLab on localhost or over HTTPS)",
                 "error": "the browser's audio failed"}
        text = words.get(self.state, self.state)
        return f"{text}: {self.message}" if self.message and self.state != "live" else text

    def latency(self) -> dict[str, float | None]:
        """The median latency figures so far, in ms (None until measured)."""
        def median(values: deque[float]) -> float | None:
            return round(statistics.median(values), 1) if values else None
        return {"mic_to_kernel_ms": median(self.mic_to_kernel),
                "kernel_to_speaker_ms": median(self.kernel_to_speaker),
                "clock_rtt_ms": None if self.clock.rtt_ms is None else round(self.clock.rtt_ms, 1)}

    # --- the kernel's side of the conversation with the page ------------------------------------
    def _listening(self, on: bool) -> None:
        self._listening_now = on
        self._activity()

    def _playing(self, on: bool) -> None:
        self._playing_now = on
        self._activity()
        if on:
            self._start_sync()
        elif self._sync_task is not None:
            self._sync_task.cancel()
            self._sync_task = None
            self._note(force=True)

    def _activity(self) -> None:
        self.activity = "interview" if self._playing_now else ("listening" if self._listening_now else "")

    def _start_sync(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = loop.create_task(self._sync_forever(), name="browser-audio-sync")

    async def _sync_forever(self) -> None:
        while True:
            self._post({"type": "sync", "k": loop_time() * 1000})
            await asyncio.sleep(SYNC_INTERVAL_S if self.clock.offset_ms is not None else 0.2)
            self._note()

    def _post(self, content: dict[str, Any], buffers: list[bytes] | None = None) -> None:
        """A message to the page (dropped when no page is connected: nothing is waiting for it)."""
        if self.comm is None:
            return
        try:
            self.send({**content, "owner": self.owner}, buffers)
        except Exception:  # a closed comm: the page went away; the interview goes on without it
            log.debug("message to the browser not sent", exc_info=True)

    def _on_page_msg(self, _widget: Any, content: Mapping[str, Any], buffers: list[Any]) -> None:
        """A message from the page, handed to the audio's home loop. ipykernel calls this on the thread
        that received it: the kernel's own loop, or, with JupyterLab's default "comms over subshells"
        (4.6, ipykernel 7), a subshell's thread with a loop of its own; asyncio objects must not be
        touched from there."""
        frames = [bytes(b) for b in buffers]  # (the received frames are not ours to keep)
        call_on(self.home, self._page_msg, content, frames)

    def _page_msg(self, content: Mapping[str, Any], buffers: list[Any]) -> None:
        """A message from the page, on the audio's home loop."""
        if not isinstance(content, Mapping):
            return
        if content.get("owner") and self.owner and content.get("owner") != self.owner:
            return  # another view of this widget: only the one that owns the audio speaks
        kind = content.get("type")
        now_ms = loop_time() * 1000
        if kind == "mic" and buffers:
            pcm = bytes(buffers[0])
            self.input._received(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE])
            at = self.clock.to_kernel_s(float(content.get("t", 0.0)))
            if at is not None and self._listening_now:
                self.mic_to_kernel.append(now_ms - at * 1000)
        elif kind == "sync" and isinstance(content.get("k"), int | float) and isinstance(content.get("b"),
                                                                                           int | float):
            self.clock.synced(float(content["k"]), float(content["b"]), now_ms)
        elif kind == "heard" and isinstance(content.get("seq"), int) and isinstance(content.get("at"),
                                                                                   int | float):
            delay = self.output._heard(int(content["seq"]), float(content["at"]))
            if delay is not None:
                self.kernel_to_speaker.append(delay)
        elif kind == "state":
            log.info("browser audio: %s", content.get("state"))

    def _note(self, *, force: bool = False) -> None:
        """Report the latency figures (every NOTE_INTERVAL_S while audio flows, and at the end)."""
        now = loop_time()
        if self.on_note is None or (not force and now - self._last_note < NOTE_INTERVAL_S):
            return
        figures = self.latency()
        if figures["mic_to_kernel_ms"] is None and figures["kernel_to_speaker_ms"] is None:
            return
        self._last_note = now
        try:
            self.on_note(Rec.AUDIO_LATENCY, {**figures, "samples": len(self.mic_to_kernel) + len(
                self.kernel_to_speaker), "sample_rate": SAMPLE_RATE})
        except Exception:
            log.exception("the latency note's receiver raised")
