"""Audio in and out: speakers, a virtual (clock-paced) output, microphone, files, silence, a scripted voice.

PCM16 little-endian mono at 24 kHz everywhere (`interview_kit.audio.format`). The assessment flow
needs to know when a response has been *heard*, not received: the `PlaybackTracker` knows, per response
id, when its last sample is played (device latency included) and tells the session on its event loop.
``sounddevice`` is imported lazily, so that everything else runs on machines without PortAudio.

One concern a module:

- `format`: the audio format, declared once (sample rate, sample width, ``audio/pcm`` config)
- `tracker`: `PlaybackTracker`, ``playback.started`` / ``playback.ended``
- `outputs`: `AudioOutput`, `VirtualOutput`, `SpeakerOutput`
- `inputs`: `AudioInput`, `SilenceInput`, `FileInput`, `ScriptedVoiceInput`, `MicrophoneInput`
- `devices`: the sound card boundary: `check_output_device`, `check_input_device`, `AudioDeviceError`
- `wav`: reading audio files (`read_pcm_file`), writing what was heard (`HeardAudioWav`)
- `recorder`: both sides of a session as WAVs in its folder, on the session clock (`SessionRecorder`)

Names are imported lazily, on first use: ``from interview_kit.audio.format import SAMPLE_RATE`` (from
the pure core, say) loads the format and nothing else.
"""

from __future__ import annotations

from interview_kit.lazy import lazy_exports

_EXPORTS = {
    # format
    "SAMPLE_RATE": "interview_kit.audio.format",
    "CHANNELS": "interview_kit.audio.format",
    "BYTES_PER_SAMPLE": "interview_kit.audio.format",
    "BYTES_PER_MS": "interview_kit.audio.format",
    "DEFAULT_CHUNK_MS": "interview_kit.audio.format",
    "pcm_format": "interview_kit.audio.format",
    "samples_to_ms": "interview_kit.audio.format",
    # tracker
    "PlaybackEvent": "interview_kit.audio.tracker",
    "PlaybackTracker": "interview_kit.audio.tracker",
    "PlaybackTap": "interview_kit.audio.tracker",
    "PLAYBACK_STARTED": "interview_kit.audio.tracker",
    "PLAYBACK_ENDED": "interview_kit.audio.tracker",
    # outputs
    "AudioOutput": "interview_kit.audio.outputs",
    "VirtualOutput": "interview_kit.audio.outputs",
    "SpeakerOutput": "interview_kit.audio.outputs",
    # inputs
    "SpeechEvent": "interview_kit.audio.inputs",
    "SPEECH_STARTED": "interview_kit.audio.inputs",
    "SPEECH_ENDED": "interview_kit.audio.inputs",
    "AudioInput": "interview_kit.audio.inputs",
    "SilenceInput": "interview_kit.audio.inputs",
    "FileInput": "interview_kit.audio.inputs",
    "ScriptedVoiceInput": "interview_kit.audio.inputs",
    "MicrophoneInput": "interview_kit.audio.inputs",
    # devices
    "AudioDeviceError": "interview_kit.audio.devices",
    "DEVICE_CLOSE_TIMEOUT": "interview_kit.audio.devices",
    "check_output_device": "interview_kit.audio.devices",
    "check_input_device": "interview_kit.audio.devices",
    # wav
    "AudioFormatError": "interview_kit.audio.wav",
    "read_pcm_file": "interview_kit.audio.wav",
    "HeardAudioWav": "interview_kit.audio.wav",
    # recorder
    "SessionRecorder": "interview_kit.audio.recorder",
    "RecordingBacklogError": "interview_kit.audio.recorder",
    "RecordingSpaceError": "interview_kit.audio.recorder",
    "read_track": "interview_kit.audio.recorder",
    "track_data": "interview_kit.audio.recorder",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
