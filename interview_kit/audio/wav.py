"""Audio files: reading a candidate's recording (WAV or raw PCM, in the toolkit's format only), and writing
what was heard as a WAV on the session's timeline.
"""

from __future__ import annotations

import time
import wave
from collections import deque
from collections.abc import Callable
from pathlib import Path

from interview_kit.audio.format import BYTES_PER_SAMPLE, CHANNELS, SAMPLE_RATE


class AudioFormatError(ValueError):
    """An audio file that is not PCM16 mono 24 kHz; the message names the file and how to convert it."""


def read_pcm_file(path: Path | str) -> bytes:
    """PCM16 mono 24 kHz samples of a ``.wav`` or raw ``.pcm`` file, or a clear `AudioFormatError`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    convert = f"convert it with: ffmpeg -i {path.name} -ac 1 -ar {SAMPLE_RATE} -c:a pcm_s16le out.wav"
    suffix = path.suffix.lower()
    if suffix == ".pcm":
        data = path.read_bytes()
        if len(data) % BYTES_PER_SAMPLE:
            raise AudioFormatError(
                f"{path}: raw PCM16 ({SAMPLE_RATE} Hz mono) needs an even number of bytes, has {len(data)}"
            )
        return data
    if suffix != ".wav":
        raise AudioFormatError(f"{path}: expected a .wav or raw PCM16 24 kHz mono .pcm file; {convert}")
    try:
        with wave.open(str(path), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            if (channels, width, rate) != (CHANNELS, BYTES_PER_SAMPLE, SAMPLE_RATE):
                raise AudioFormatError(
                    f"{path}: {rate} Hz, {channels} channel(s), {8 * width}-bit; need {SAMPLE_RATE} Hz mono "
                    f"16-bit PCM; {convert}"
                )
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioFormatError(f"{path}: not a PCM WAV file ({exc}); {convert}") from None


class HeardAudioWav:
    """A WAV of what was heard, on the clock's timeline: each chunk starts at the clock time it began to
    play (silence fills the gaps between responses), and is written only once it has been heard, so that
    audio cut short by a barge-in ends in the file where it stopped being heard.

    `rate` is samples heard per clock second (24 kHz times the output's speed); the file's first sample
    is the clock time at which it was opened.
    """

    def __init__(self, path: Path | str, *, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(path), "wb")
        wav.setnchannels(CHANNELS)
        wav.setsampwidth(BYTES_PER_SAMPLE)
        wav.setframerate(SAMPLE_RATE)
        self.path = path
        self.rate = rate
        self._wav: wave.Wave_write | None = wav
        self._origin = clock()  # clock time of the WAV's first sample
        self._samples = 0  # samples written so far
        self._scheduled: deque[tuple[float, bytes]] = deque()  # (start, pcm) not yet written

    def schedule(self, start: float, pcm: bytes) -> None:
        """`pcm` starts being heard at clock time `start` (after everything scheduled before it)."""
        self._scheduled.append((start, bytes(pcm)))

    def write_heard(self, until: float, *, drop_rest: bool = False) -> None:
        """Append every scheduled sample heard by `until` (with the silence before it). With `drop_rest`,
        also the heard part of a chunk still playing, and forget everything after `until` (never heard)."""
        assert self._wav is not None, "the WAV is closed"
        rate = self.rate
        while self._scheduled:
            start, pcm = self._scheduled[0]
            n = len(pcm) // BYTES_PER_SAMPLE
            end = start + n / rate
            if end <= until:
                take = n
            elif drop_rest:
                take = max(0, min(n, int((until - start) * rate)))
            else:
                break
            first = round((start - self._origin) * rate)
            if first > self._samples:
                self._wav.writeframes(bytes((first - self._samples) * BYTES_PER_SAMPLE))
                self._samples = first
            if take:
                self._wav.writeframes(pcm[: take * BYTES_PER_SAMPLE])
                self._samples += take
            self._scheduled.popleft()
        if drop_rest:
            self._scheduled.clear()

    def close(self, at: float) -> None:
        """Write what was heard by `at`, drop the rest, and close the file. Safe to call more than once."""
        if self._wav is None:
            return
        self.write_heard(at, drop_rest=True)
        self._wav.close()
        self._wav = None
