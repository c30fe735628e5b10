"""interview_kit: spoken interviews over the OpenAI Realtime API, kept healthy and fully recorded.

    import asyncio
    from interview_kit import SessionConfig, open_interview

    async def main():  # a whole interview against the built-in emulator, a simulated candidate answering
        async with open_interview(SessionConfig(), emulator=True, scenario="default", speed=10) as opened:
            return await opened.session.run()

    result = asyncio.run(main())

The public names below are imported on first use, so that ``interview-kit --help`` and the event
log's readers do not pay for websockets, openai or numpy. (``interview_kit.replay`` is the replay
subpackage: ``from interview_kit.replay import replay``.) ``tests/test_public_surface.py`` guards
the list: a name leaves it only on purpose.
"""

from __future__ import annotations

from interview_kit.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # running an interview
    "InterviewSession": "interview_kit.session",
    "SessionResult": "interview_kit.session_ending",
    "SessionConfig": "interview_kit.config",
    "ConfigError": "interview_kit.config",
    "open_interview": "interview_kit.launch",
    "SetupError": "interview_kit.launch",
    "Scenario": "interview_kit.scenario",
    "ScenarioError": "interview_kit.scenario",
    "load_scenario": "interview_kit.scenario",
    # the seam between the session and the network
    "RealtimeTransport": "interview_kit.transport",
    "WebsocketTransport": "interview_kit.transport",
    "InMemoryTransport": "interview_kit.transport",
    "CloseInfo": "interview_kit.transport",
    "ConnectError": "interview_kit.transport",
    "ReplayTransport": "interview_kit.replay.transport",
    "ReplayResult": "interview_kit.replay.run",
    # the pure core's decisions
    "AssessmentFlow": "interview_kit.flow",
    "Phase": "interview_kit.flow",
    # the event log's vocabulary
    "Rec": "interview_kit.records",
    "Dir": "interview_kit.records",
    "Purpose": "interview_kit.records",
    "AssessmentMode": "interview_kit.records",
    "Outcome": "interview_kit.records",
    "TriggerSource": "interview_kit.records",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
