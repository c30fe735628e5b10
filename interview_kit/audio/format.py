"""The one audio format of the toolkit, declared once: PCM16 little-endian, mono, 24 kHz.

It is what the Realtime API sends and accepts as ``audio/pcm``, so the session config, the speakers,
the microphone, files, the synthetic voice and the transcript's byte arithmetic all read it from here.

Pure: no imports beyond the standard library, so the sans-I/O core may import it. (Importing this
module runs ``interview_kit/audio/__init__.py``, which is lazy for that reason: it loads nothing.)
"""

from __future__ import annotations

from typing import Any

SAMPLE_RATE = 24_000  # samples per second
CHANNELS = 1
BYTES_PER_SAMPLE = 2  # 16-bit
SAMPLE_DTYPE = "int16"  # the sample type as numpy and sounddevice spell it (little-endian on the wire)
BYTES_PER_MS = SAMPLE_RATE * CHANNELS * BYTES_PER_SAMPLE // 1000  # 48
WIRE_TYPE = "audio/pcm"  # the Realtime API's name for this format
DEFAULT_CHUNK_MS = 40  # audio per ``input_audio_buffer.append`` and per input chunk


def pcm_format() -> dict[str, Any]:
    """The ``format`` object of ``session.audio.input``/``output`` for this audio (a fresh dict)."""
    return {"type": WIRE_TYPE, "rate": SAMPLE_RATE}


def samples_to_ms(samples: int) -> int:
    """Whole ms of `samples` at 24 kHz (the unit of ``conversation.item.truncate``'s audio_end_ms)."""
    return round(samples * 1000 / SAMPLE_RATE)
