"""`launch.open_interview` with the caller's own audio: the browser candidate brings its microphone and
speakers, and the session uses exactly those, in real time, with no scripted candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from interview_kit import launch
from interview_kit.audio import AudioInput, AudioOutput, SilenceInput, VirtualOutput
from interview_kit.config import SessionConfig
from interview_kit.launch import CandidateSource, SetupError

SERVER = {"base_url": "http://127.0.0.1:9/v1"}  # never reached: opening an interview connects nothing


async def test_the_browser_candidate_brings_its_own_audio_and_answers_in_real_time(tmp_path: Path) -> None:
    asked: list[int] = []
    mic, speakers = SilenceInput(1.0), VirtualOutput(None, speed=1.0)

    def browser(chunk_ms: int) -> tuple[AudioInput, AudioOutput]:
        asked.append(chunk_ms)
        return mic, speakers

    config = SessionConfig(out_dir=str(tmp_path))
    async with launch.open_interview(config, emulator=False, candidate="browser", speed=10.0, settings=SERVER,
                                     audio=browser) as opened:
        assert opened.input is mic and opened.output is speakers
        assert opened.session._input is mic and opened.session._output is speakers
        assert opened.session._candidate is None  # a person answers
        assert opened.config.speed == 1.0  # a person speaks in real time, whatever speed was asked
    assert len(asked) == 1 and asked[0] > 0


@pytest.mark.parametrize(("candidate", "audio"), [("browser", None), ("simulated", lambda _ms: None)])
async def test_only_the_browser_candidate_brings_audio(candidate: str, audio: object) -> None:
    with pytest.raises(SetupError, match="browser candidate"):
        async with launch.open_interview(SessionConfig(), emulator=False, candidate=candidate,
                                         settings=SERVER, audio=audio):  # type: ignore[arg-type]
            pass


def test_who_answers_in_real_time() -> None:
    assert [c.is_person for c in CandidateSource] == [False, True, True]
