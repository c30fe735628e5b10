"""The interviewer's spoken lines, synthesised once and cut into paced base64 chunks.

Synthesis and base64 encoding are done once per (text, rate) and cached, so a hundred sessions
saying the same greeting cost one synthesis; the pacing loop only concatenates strings.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import lru_cache

from interview_kit import voice

CHUNK_MS = 100  # audio per response.output_audio.delta
CHUNK_BYTES = voice.SAMPLE_RATE * voice.BYTES_PER_SAMPLE * CHUNK_MS // 1000


@dataclass(frozen=True)
class Utterance:
    """One line as audio: base64 chunks of CHUNK_MS (the last may be shorter) and word timings."""

    text: str
    chunks: tuple[str, ...]
    chunk_seconds: tuple[float, ...]  # duration of each chunk
    words: tuple[tuple[str, float, float], ...]  # (word with its leading space, start s, end s)


@lru_cache(maxsize=128)  # ~0.3 MB of base64 per 10 s line
def utterance(text: str, words_per_minute: float) -> Utterance:
    """The cached audio of `text` spoken at `words_per_minute`."""
    pcm = voice.synthesize(text, words_per_minute)
    chunks = tuple(
        base64.b64encode(pcm[i : i + CHUNK_BYTES]).decode("ascii") for i in range(0, len(pcm), CHUNK_BYTES)
    )
    seconds = tuple(
        min(CHUNK_BYTES, len(pcm) - i) / (voice.SAMPLE_RATE * voice.BYTES_PER_SAMPLE)
        for i in range(0, len(pcm), CHUNK_BYTES)
    )
    timings = voice.word_timings(text, words_per_minute)
    words = tuple(((" " if i else "") + w, s, e) for i, (w, s, e) in enumerate(timings))
    return Utterance(text, chunks, seconds, words)


def utterance_words(text: str) -> list[str]:
    """The words of `text` as transcript deltas (each after the first with its leading space)."""
    return [(" " if i else "") + w for i, w in enumerate(text.split())]
