"""An energy voice-activity detector on the input stream's own clock.

Frames are 20 ms of PCM16 24 kHz mono. A frame is speech when its RMS (as a fraction of full scale)
is at least ``threshold * 0.1``: the default threshold 0.5 means RMS >= 0.05 (about -26 dBFS); the
synthetic voice of `interview_kit.voice` has RMS ~0.24, room noise is far below. Positions are
milliseconds of audio appended since the connection opened, so detection does not depend on how fast
the client sends it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interview_kit.audio.format import SAMPLE_RATE

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
RMS_PER_THRESHOLD = 0.1  # speech when rms / 32768 >= threshold * RMS_PER_THRESHOLD


@dataclass(frozen=True)
class VadEvent:
    """`kind` is "started" (at = audio_start_ms, prefix padding applied) or "stopped" (at = audio_end_ms)."""

    kind: str
    at_ms: int


class EnergyVad:
    """Feed it appended audio; it returns speech start/stop events with stream positions in ms.

    `audio_end_ms` of a stop is where the silence window closed (the last speech frame's end plus
    ``silence_duration_ms``), as the hosted API reports it.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 500,
    ) -> None:
        self.configure(threshold, prefix_padding_ms, silence_duration_ms)
        self.position_ms = 0  # stream position of the next whole frame
        self._rest = b""
        self.in_speech = False
        self._last_speech_end_ms = 0

    def configure(self, threshold: float, prefix_padding_ms: int, silence_duration_ms: int) -> None:
        self.threshold = float(threshold)
        self.prefix_padding_ms = int(prefix_padding_ms)
        self.silence_duration_ms = int(silence_duration_ms)
        level = self.threshold * RMS_PER_THRESHOLD * 32768.0
        self._min_sum_sq = level * level * FRAME_SAMPLES  # compare sums of squares: no sqrt per frame

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Process appended audio (any length); return the events it completes, in order."""
        data = self._rest + pcm if self._rest else pcm
        whole = len(data) - len(data) % FRAME_BYTES
        self._rest = data[whole:]
        if not whole:
            return []
        frames = (
            np.frombuffer(data, dtype="<i2", count=whole // 2).astype(np.float32).reshape(-1, FRAME_SAMPLES)
        )
        speech = np.einsum("ij,ij->i", frames, frames) >= self._min_sum_sq
        events: list[VadEvent] = []
        pos = self.position_ms
        # The speech test is vectorised above; this walk over the per-frame verdicts is plain Python.
        for i, is_speech in enumerate(speech.tolist()):
            start = pos + i * FRAME_MS
            if is_speech:
                if not self.in_speech:
                    self.in_speech = True
                    events.append(VadEvent("started", max(0, start - self.prefix_padding_ms)))
                self._last_speech_end_ms = start + FRAME_MS
            elif self.in_speech and start + FRAME_MS - self._last_speech_end_ms >= self.silence_duration_ms:
                self.in_speech = False
                events.append(VadEvent("stopped", self._last_speech_end_ms + self.silence_duration_ms))
        self.position_ms = pos + len(speech) * FRAME_MS
        return events

    def reset(self) -> None:
        """Forget any speech in progress (after a clear, a manual commit or turning detection off);
        the stream position is kept."""
        self.in_speech = False
