"""A synthetic voice: PCM16 24 kHz mono that lasts as long as the words would take to say.

It is not speech, but it has what the toolkit measures: duration, word rhythm, and enough energy for a
voice-activity detector to find it. The emulator's interviewer speaks with it and the simulated candidate
answers with it, so both ends of a rehearsal exercise the real audio paths.
"""

from __future__ import annotations

import zlib

import numpy as np

from interview_kit.audio.format import BYTES_PER_SAMPLE, SAMPLE_RATE

__all__ = [
    "BYTES_PER_SAMPLE",  # re-exported: the format is declared once, in interview_kit.audio.format
    "MAX_GAP_SHARE",
    "SAMPLE_RATE",
    "WORD_GAP_S",
    "pcm_seconds",
    "silence",
    "speech_duration",
    "synthesize",
    "word_timings",
]

WORD_GAP_S = 0.08  # silence between words: far shorter than any VAD silence window
MAX_GAP_SHARE = 0.25  # at fast rates the gap shrinks to this share of a word, so words stay audible


def _per_word(words_per_minute: float) -> float:
    if not words_per_minute > 0:
        raise ValueError(f"words_per_minute must be a positive number, got {words_per_minute!r}")
    return 60.0 / words_per_minute


def speech_duration(text: str, words_per_minute: float) -> float:
    """Seconds the text takes at the given rate (at least one word's worth)."""
    words = max(1, len(text.split()))
    return words * _per_word(words_per_minute)


def word_timings(text: str, words_per_minute: float) -> list[tuple[str, float, float]]:
    """Each word with its start and end in seconds, in step with `synthesize` of the same text."""
    words = text.split() or [""]
    per_word = _per_word(words_per_minute)
    return [(w, i * per_word, (i + 1) * per_word) for i, w in enumerate(words)]


def synthesize(text: str, words_per_minute: float, pitch_hz: float = 140.0) -> bytes:
    """PCM16 little-endian audio of the text: one voiced tone burst per word, deterministic per text."""
    timings = word_timings(text, words_per_minute)
    total = round(timings[-1][2] * SAMPLE_RATE)
    out = np.zeros(total, dtype=np.float32)
    rng = np.random.default_rng(zlib.crc32(text.encode("utf-8")))
    gap = min(WORD_GAP_S, MAX_GAP_SHARE * _per_word(words_per_minute))
    for _word, start, end in timings:
        a, b = int(start * SAMPLE_RATE), int(max(start, end - gap) * SAMPLE_RATE)
        if b <= a:
            continue
        t = np.arange(b - a, dtype=np.float32) / SAMPLE_RATE
        f0 = pitch_hz * float(rng.uniform(0.85, 1.2))
        phase = 2 * np.pi * f0 * t
        tone = np.sin(phase) + 0.4 * np.sin(2 * phase) + 0.2 * np.sin(3 * phase)
        envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # 10 ms ramps: no clicks
        out[a:b] = 0.35 * tone * envelope
    return (np.clip(out, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    """PCM16 silence of the given length."""
    return bytes(round(seconds * SAMPLE_RATE) * BYTES_PER_SAMPLE)


def pcm_seconds(pcm: bytes) -> float:
    """Duration of PCM16 24 kHz mono audio in seconds."""
    return len(pcm) / (SAMPLE_RATE * BYTES_PER_SAMPLE)
