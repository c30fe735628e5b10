"""The interview's vocabulary, declared once: what a session folder's records are called and hold.

Every name that the session writes and the panel, the runner, replay and the analysis read is here:
the record types of ``events.jsonl`` (with the shape of each local record's ``data``), the
directions, the purposes a response is asked for, the assessment modes, the outcomes and the
trigger sources. They are ``StrEnum`` members, so a record written with one compares equal to the
plain string read back from the file, and the file format does not change.

Pure: no I/O, no imports beyond the standard library.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypedDict


class Dir(StrEnum):
    """Who a record comes from: the server, the client (sent), or the toolkit itself."""

    IN = "in"
    OUT = "out"
    LOCAL = "local"


class Rec(StrEnum):
    """Record types of ``events.jsonl``: the wire events the session acts on, and every local one.

    Wire events keep the protocol's own names (``openai/types/realtime/``); local ones are the
    toolkit's. Add a new local record here, with its payload below, then write it from the session.
    """

    # wire: server -> client
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    RESPONSE_CREATED = "response.created"
    RESPONSE_DONE = "response.done"
    AUDIO_DELTA = "response.output_audio.delta"
    AUDIO_DONE = "response.output_audio.done"
    AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
    AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
    FUNCTION_CALL_ARGUMENTS_DONE = "response.function_call_arguments.done"
    SPEECH_STARTED = "input_audio_buffer.speech_started"
    SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
    INPUT_COMMITTED = "input_audio_buffer.committed"
    ITEM_ADDED = "conversation.item.added"
    ITEM_CREATED = "conversation.item.created"  # the beta protocol's name for an added item
    INPUT_TRANSCRIPT_COMPLETED = "conversation.item.input_audio_transcription.completed"
    INPUT_TRANSCRIPT_FAILED = "conversation.item.input_audio_transcription.failed"
    SERVER_ERROR = "error"
    # wire: client -> server
    SESSION_UPDATE = "session.update"
    RESPONSE_CREATE = "response.create"
    RESPONSE_CANCEL = "response.cancel"
    INPUT_APPEND = "input_audio_buffer.append"
    ITEM_CREATE = "conversation.item.create"
    ITEM_TRUNCATE = "conversation.item.truncate"
    # local: the session's own life
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    CONNECTION_OPENED = "connection.opened"
    CONNECTION_CLOSED = "connection.closed"
    CONNECTION_LOST = "connection.lost"  # an unexpected close (or a planned move to a new session)
    CONNECTION_RECONNECTING = "connection.reconnecting"  # one attempt: {attempt, delay_s}
    CONNECTION_RESUMED = "connection.resumed"  # {attempt, items_replayed, offline_s, audio_offset_ms}
    STOP_REQUESTED = "stop.requested"
    AUDIO_LATENCY = "audio.latency"  # the browser audio: {mic_to_kernel_ms, kernel_to_speaker_ms, ...}
    SESSION_EXPIRES = "session.expires"  # the server said when the session expires
    ERROR = "error"  # dir "local": an error the toolkit hit (dir "in": the server's error event)
    INVALID = "invalid"  # dir "in": a frame that is not a JSON object with a string type
    # local: the flow
    PHASE = "phase"
    TIMEOUT = "timeout"
    FLOW_IGNORED = "flow.ignored"
    TRIGGER = "assessment.trigger"
    BARGE_IN = "barge_in"
    RESPONSE_DISCARDED = "response.discarded"  # created after the flow stopped wanting it: cancelled, unheard
    # local: audio
    PLAYBACK_STARTED = "playback.started"
    PLAYBACK_ENDED = "playback.ended"
    CANDIDATE_SPEECH_STARTED = "candidate.speech_started"
    CANDIDATE_SPEECH_ENDED = "candidate.speech_ended"
    # local: the report
    REPORT_STARTED = "report.started"
    REPORT_BUILT = "report.built"  # the transcripts are in (or the wait is over): the assessor is called
    REPORT_READY = "report.ready"
    REPORT_FAILED = "report.failed"
    REPORT_LATE = "report.late"
    # local: health
    LOOP_STALL = "loop.stall"
    PING = "ping"
    # local: the response sequencer
    SEQUENCER_TIMEOUT = "sequencer.timeout"
    SEQUENCER_RETRY = "sequencer.retry"
    SEQUENCER_DROPPED = "sequencer.dropped"


class Purpose(StrEnum):
    """Why a response was asked for (sent as ``metadata.purpose``, echoed on ``response.created``)."""

    AUTO = "auto"  # nobody asked: server VAD's automatic response
    QUESTION = "question"  # the interviewer's opening, asked for by the client
    ACK = "ack"
    SUMMARY = "summary"
    FALLBACK = "fallback"
    GOODBYE = "goodbye"


INTERVIEW_PURPOSES = frozenset({Purpose.AUTO, Purpose.QUESTION})
ASSESSMENT_PURPOSES = frozenset({Purpose.ACK, Purpose.SUMMARY, Purpose.FALLBACK, Purpose.GOODBYE})


class AssessmentMode(StrEnum):
    """When and how the report runs: at the trigger off the loop (the fix), after the acknowledgement
    off the loop (the original order), or on the loop (the original bug, reproduced on purpose)."""

    OVERLAP = "overlap"
    AFTER_ACK = "after-ack"
    BLOCKING = "blocking"


class Outcome(StrEnum):
    """How a session ended (``session.json``'s ``outcome``)."""

    COMPLETE = "complete"
    COMPLETE_DEGRADED = "complete_degraded"  # assessed, but a line was not heard (session.json: not_heard)
    FAILED = "failed"
    DISCONNECTED = "disconnected"
    STOPPED = "stopped"


class TriggerSource(StrEnum):
    """What ended the interview and started the assessment."""

    TOOL = "tool"  # the model called end_interview
    BUTTON = "button"  # the researcher pressed Trigger assessment
    LIMIT = "limit"  # max_questions or max_minutes was reached


# --- payloads: the ``data`` of each local record ----------------------------------------------------


#: ``phase``: a transition of the flow ("from" is a keyword, hence the functional form).
PhaseData = TypedDict("PhaseData", {"from": str, "to": str, "reason": str})


class TimeoutData(TypedDict):
    waiting_for: str
    after_s: float


class IgnoredData(TypedDict):
    input: str
    why: str


class TriggerData(TypedDict):
    source: str


class BargeInData(TypedDict):
    played_ms: float
    why: str
    audio_end_ms: int | None  # the truncate sent (played_ms kept inside the audio received), None: none


class DiscardedData(TypedDict):
    purpose: str
    why: str


class PlaybackData(TypedDict, total=False):
    purpose: str | None
    truncated: bool  # playback.ended only: cut short by barge-in or a trigger
    samples: int


class CandidateSpeechData(TypedDict):
    audio_ms: float  # input-stream position of the speech start or end


class ReportStartedData(TypedDict):
    mode: str
    prompt: str
    model: str


class ReportBuiltData(TypedDict):
    answers_assessed: int  # candidate turns with text in the turns the report is built from
    answers_missing: list[str]  # item ids of answers without a transcript (never came, or failed)
    waited_s: float  # report.started -> built


class ReportDoneData(TypedDict, total=False):
    duration_s: float | None
    error: str | None  # report.failed and report.late


class StallData(TypedDict):
    duration_ms: float
    started: float  # session time the stall began


class PingData(TypedDict, total=False):
    rtt_ms: float
    timeout: bool


class ConnectionClosedData(TypedDict):
    code: int | None
    reason: str | None
    by: str  # client | server | unknown


class ErrorData(TypedDict):
    message: str
    where: str


class SessionExpiresData(TypedDict):
    expires_at: int  # epoch seconds, from session.created / session.updated
    expires_in_s: float  # seconds left when it was read (wall clock)


class SessionEndedData(TypedDict):
    outcome: str
