"""Analysis of recorded sessions: pandas loaders, timing metrics, plots and prompt comparison.

    from interview_kit.analysis import load_sessions, plot_latency
    s = load_sessions("data/sessions/*").select(scenario="slow-report")
    plot_latency(s, by="assessment_mode")

Names are imported lazily so that `interview-kit --help` does not pay for pandas and matplotlib.
"""

from __future__ import annotations

from interview_kit.lazy import lazy_exports

_EXPORTS = {
    "load_session": "interview_kit.analysis.load",
    "load_sessions": "interview_kit.analysis.load",
    "parse_events_file": "interview_kit.analysis.session_folder",
    "SessionLoadError": "interview_kit.analysis.session_folder",
    "LoadProblem": "interview_kit.analysis.session_folder",
    "Session": "interview_kit.analysis.sessions",
    "Sessions": "interview_kit.analysis.sessions",
    "summary": "interview_kit.analysis.metrics",
    "voice_to_voice": "interview_kit.analysis.metrics",
    "assessment_gaps": "interview_kit.analysis.metrics",
    "phase_durations": "interview_kit.analysis.metrics",
    "timeouts": "interview_kit.analysis.metrics",
    "reconnects": "interview_kit.analysis.metrics",
    "medians": "interview_kit.analysis.metrics",
    "median_ci": "interview_kit.analysis.metrics",
    "LeftOut": "interview_kit.analysis.usable",
    "styled": "interview_kit.analysis.display",
    "report_table": "interview_kit.analysis.display",
    "plot_timeline": "interview_kit.analysis.plots",
    "plot_latency": "interview_kit.analysis.plots",
    "plot_assessment_gaps": "interview_kit.analysis.plots",
    "plot_prompt_scores": "interview_kit.analysis.plots",
    "compare_prompts": "interview_kit.analysis.prompts",
    "compare_prompts_async": "interview_kit.analysis.prompts",
    "load_transcripts": "interview_kit.analysis.prompts",
    "prompt_agreement": "interview_kit.analysis.prompts",
    "repeat_spread": "interview_kit.analysis.prompts",
    "agreement": "interview_kit.analysis.prompts",
    "stand_in_note": "interview_kit.analysis.prompts",
    "prompt_table": "interview_kit.analysis.prompts",
    "offline_assessor": "interview_kit.analysis.prompts",
    "TranscriptError": "interview_kit.analysis.prompts",
    "bland_altman": "interview_kit.analysis.audio_gaps",
    "plot_bland_altman": "interview_kit.analysis.audio_gaps",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
