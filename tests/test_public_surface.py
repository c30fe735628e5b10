"""The public surface changes only on purpose: the names a researcher's code imports from
`interview_kit` and `interview_kit.analysis` are listed here, each resolves to the object its module
defines, and importing the package alone loads none of the heavy libraries."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import interview_kit
import interview_kit.analysis as analysis

PACKAGE_NAMES = [
    "AssessmentFlow", "AssessmentMode", "CloseInfo", "ConfigError", "ConnectError", "Dir",
    "InMemoryTransport", "InterviewSession", "Outcome", "Phase", "Purpose", "RealtimeTransport", "Rec",
    "ReplayResult", "ReplayTransport", "Scenario", "ScenarioError", "SessionConfig", "SessionResult",
    "SetupError", "TriggerSource", "WebsocketTransport", "load_scenario", "open_interview",
]

ANALYSIS_NAMES = [
    "LoadProblem", "Session", "SessionLoadError", "Sessions", "TranscriptError", "assessment_gaps",
    "compare_prompts", "compare_prompts_async", "load_session", "load_sessions", "load_transcripts",
    "offline_assessor", "parse_events_file", "phase_durations", "plot_assessment_gaps", "plot_latency",
    "plot_prompt_scores", "plot_timeline", "prompt_agreement", "prompt_table", "repeat_spread",
    "summary", "timeouts", "voice_to_voice",
    "LeftOut", "agreement", "median_ci", "medians", "reconnects", "report_table", "stand_in_note", "styled",
    "bland_altman", "plot_bland_altman",
]


def test_the_package_exports_exactly_these_names() -> None:
    assert interview_kit.__all__ == sorted(PACKAGE_NAMES)


def test_the_analysis_exports_exactly_these_names() -> None:
    assert analysis.__all__ == sorted(ANALYSIS_NAMES)


@pytest.mark.parametrize(("package", "name"), [(interview_kit, n) for n in PACKAGE_NAMES]
                         + [(analysis, n) for n in ANALYSIS_NAMES])
def test_each_public_name_is_its_modules_object(package: object, name: str) -> None:
    value = getattr(package, name)
    home = importlib.import_module(package._EXPORTS[name])  # type: ignore[attr-defined]
    assert getattr(home, name) is value
    assert name in dir(package)


def test_an_unknown_name_is_a_clear_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Sesion'"):
        interview_kit.Sesion  # noqa: B018


def test_importing_the_package_loads_no_heavy_library() -> None:
    heavy = ("websockets", "openai", "numpy", "pandas", "matplotlib", "aiohttp")
    code = "import sys, interview_kit, interview_kit.analysis; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            timeout=60).stdout.split()
    assert not [m for m in loaded if m.split(".")[0] in heavy]
