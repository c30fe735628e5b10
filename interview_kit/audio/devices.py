"""The sound-card boundary: import ``sounddevice`` lazily, check that a PCM16 24 kHz mono stream can be
opened, and turn every failure into an `AudioDeviceError` that says what to install and what to use
instead, so that everything else runs on machines without PortAudio.
"""

from __future__ import annotations

from typing import Any

from interview_kit.audio.format import CHANNELS, SAMPLE_DTYPE, SAMPLE_RATE

DEVICE_CLOSE_TIMEOUT = 2.0  # seconds a device's abort/close may take (PortAudio can hang) before we move on

_INSTALL_HINT = (
    "install PortAudio: `apt-get install libportaudio2` (Debian/Ubuntu) or `brew install portaudio` (macOS)"
)
OUTPUT_FALLBACK = "without a sound card, leave out --speakers (a VirtualOutput plays by the clock)"
INPUT_FALLBACK = "without a microphone, use a file (FileInput) or silence (SilenceInput) as input"


class AudioDeviceError(RuntimeError):
    """No usable sound device or no PortAudio; the message says what to install and what the fallback is."""


def import_sounddevice(fallback: str) -> Any:
    """Import sounddevice, turning a missing PortAudio into an `AudioDeviceError` that says what to do."""
    try:
        import sounddevice
    except OSError:
        raise AudioDeviceError(f"the PortAudio library was not found; {_INSTALL_HINT}; {fallback}") from None
    except ImportError:
        raise AudioDeviceError(
            f"the sounddevice package is not installed (`pip install sounddevice`), and it needs PortAudio: "
            f"{_INSTALL_HINT}; {fallback}"
        ) from None
    return sounddevice


def check_output_device(device: int | str | None = None) -> None:
    """Raise `AudioDeviceError` unless a PCM16 24 kHz mono output stream can be opened on `device`."""
    sd = import_sounddevice(OUTPUT_FALLBACK)
    try:
        sd.check_output_settings(device=device, channels=CHANNELS, dtype=SAMPLE_DTYPE, samplerate=SAMPLE_RATE)
    except Exception as exc:
        raise AudioDeviceError(f"no usable audio output device ({exc}); {OUTPUT_FALLBACK}") from None


def check_input_device(device: int | str | None = None) -> None:
    """Raise `AudioDeviceError` unless a PCM16 24 kHz mono input stream can be opened on `device`."""
    sd = import_sounddevice(INPUT_FALLBACK)
    try:
        sd.check_input_settings(device=device, channels=CHANNELS, dtype=SAMPLE_DTYPE, samplerate=SAMPLE_RATE)
    except Exception as exc:
        raise AudioDeviceError(f"no usable microphone ({exc}); {INPUT_FALLBACK}") from None
