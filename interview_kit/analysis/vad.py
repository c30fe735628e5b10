"""Deprecated name of `interview_kit.analysis.vad_padding` (this module never detected speech: see
`interview_kit.emulator.vad` for a VAD). Kept only while ``interview_kit/widgets.py`` imports
`VadWindow` from here; import it from `vad_padding` instead, then delete this file."""

from __future__ import annotations

from interview_kit.analysis.vad_padding import VadWindow

__all__ = ["VadWindow"]
