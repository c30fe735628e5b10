"""The server VAD's padding taken out of its segment positions: where the candidate's speech really
starts and ends inside a VAD segment. One definition, used by the analysis tables
(`tables.speech_segments`) and the notebook panel's live gap (`widgets.LiveView`).

This detects no speech (the emulator's energy VAD is `interview_kit.emulator.vad`): it reads the
positions the server's VAD reported. As the hosted Realtime API documents (and the emulator does the
same), a segment's `audio_start_ms` includes the VAD's `prefix_padding_ms` and its `audio_end_ms`
includes the `silence_duration_ms` the VAD waited before deciding the turn was over. The speech itself
runs from audio_start_ms + prefix to audio_end_ms - silence, with both settings taken from the latest
`session.update`/`session.updated`/`session.created` that carries turn detection (0 before any).
Pure Python: no pandas, cheap to import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from interview_kit.records import Rec

SETTINGS_EVENTS = frozenset({Rec.SESSION_UPDATE, Rec.SESSION_UPDATED, Rec.SESSION_CREATED})


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def turn_detection(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The turn_detection settings in a session.update/updated/created event's data (GA or beta shape)."""
    session = _map(data.get("session"))
    found = _map(_map(_map(session.get("audio")).get("input")).get("turn_detection"))
    return found or _map(session.get("turn_detection")) or None


def _ms(value: Any) -> float:
    """A setting in ms; 0 for anything that is not a finite number (a setting is never NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0


@dataclass
class VadWindow:
    """The VAD's padding settings as they stand at a point of the log; feed it every record in order."""

    prefix_ms: float = 0.0
    silence_ms: float = 0.0

    def follow(self, event_type: Any, data: Any) -> bool:
        """Take the settings of a session event (keys it leaves out keep their value); True if
        `event_type` was a session settings event at all (so the caller can skip it)."""
        if event_type not in SETTINGS_EVENTS:
            return False
        detection = turn_detection(_map(data))
        if detection is not None:
            if "prefix_padding_ms" in detection:
                self.prefix_ms = _ms(detection.get("prefix_padding_ms"))
            if "silence_duration_ms" in detection:
                self.silence_ms = _ms(detection.get("silence_duration_ms"))
        return True

    def speech_start_ms(self, audio_start_ms: float) -> float:
        """Input-stream position of the first speech of a segment that `speech_started` placed here."""
        return audio_start_ms + self.prefix_ms

    def speech_end_ms(self, audio_end_ms: float) -> float:
        """Input-stream position of the last speech of a segment that `speech_stopped` placed here."""
        return audio_end_ms - self.silence_ms
