"""AssessmentFlow: every transition, every timeout, out-of-order and duplicate inputs, and property-based
sequences that never raise and never leave it stuck."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interview_kit.flow import (
    PHASE_ORDER,
    AbandonReport,
    AssessmentFlow,
    BuildReport,
    CancelResponse,
    DisableTurnTaking,
    DiscardResponse,
    EndSession,
    FlowSettings,
    FlowTimeouts,
    InterruptSpeech,
    Phase,
    ReportStart,
    ReportState,
    RequestResponse,
    SilenceCandidate,
    StartReport,
)

TIMEOUTS = FlowTimeouts(response_created=2.0, speaking=10.0, report=30.0)


def make(report_start: ReportStart = ReportStart.AT_TRIGGER) -> AssessmentFlow:
    return AssessmentFlow(FlowSettings(report_start=report_start, timeouts=TIMEOUTS))


def speak(flow: AssessmentFlow, now: float, rid: str, purpose: str, *, done_first: bool = True) -> list:
    """Created, playback started, then done and played (in either order)."""
    actions = flow.response_created(now, rid, purpose)
    actions += flow.playback_started(now + 0.1, rid)
    if done_first:
        actions += flow.response_done(now + 0.2, rid, purpose)
        actions += flow.playback_done(now + 0.3, rid)
    else:
        actions += flow.playback_done(now + 0.2, rid)
        actions += flow.response_done(now + 0.3, rid, purpose)
    return actions


def test_happy_path_overlap_report_ready_during_ack() -> None:
    flow = make()
    actions = flow.trigger(1.0, "tool")
    assert actions == [SilenceCandidate(), DisableTurnTaking(),
                       RequestResponse("ack", flow.settings.ack_text), StartReport(), BuildReport()]
    assert flow.phase is Phase.TRIGGERED and flow.report_state is ReportState.RUNNING
    assert flow.response_created(1.2, "r_ack", "ack") == []
    assert flow.phase is Phase.ACK_GENERATING
    flow.playback_started(1.5, "r_ack")
    assert flow.phase is Phase.ACK_SPEAKING
    assert flow.report_ready(2.0, "You did well.") == []  # still speaking: stored
    flow.response_done(2.5, "r_ack", "ack")
    assert flow.phase is Phase.ACK_SPEAKING  # received is not played
    assert flow.playback_done(3.0, "r_ack") == [RequestResponse("summary", "You did well.")]
    assert flow.phase is Phase.SUMMARY_SENDING
    assert speak(flow, 3.2, "r_sum", "summary") == [RequestResponse("goodbye", flow.settings.goodbye_text)]
    assert flow.phase is Phase.GOODBYE_SENDING
    assert speak(flow, 5.0, "r_bye", "goodbye", done_first=False) == [EndSession("complete")]
    assert flow.phase is Phase.COMPLETE
    visited = [Phase.INTERVIEWING] + [t.to for t in flow.transitions]
    assert visited == [p for p in PHASE_ORDER if p is not Phase.AWAITING_REPORT]
    assert [t.t for t in flow.transitions] == sorted(t.t for t in flow.transitions)
    assert flow.transitions[0].reason == "trigger:tool"
    assert flow.ignored == [] and flow.timeouts == []


def test_awaiting_report_when_ack_finishes_first() -> None:
    flow = make()
    flow.trigger(0.0, "button")
    assert speak(flow, 0.1, "a", "ack") == []
    assert flow.phase is Phase.AWAITING_REPORT
    assert flow.report_ready(4.0, "Summary.") == [RequestResponse("summary", "Summary.")]
    assert flow.phase is Phase.SUMMARY_SENDING


def test_after_ack_mode_starts_report_only_after_ack_played() -> None:
    flow = make(ReportStart.AFTER_ACK)
    actions = flow.trigger(0.0, "limit")
    assert StartReport() not in actions and flow.report_state is ReportState.NOT_STARTED
    flow.response_created(0.1, "a", "ack")
    flow.response_done(0.2, "a", "ack")
    assert flow.playback_done(0.9, "a") == [StartReport(), BuildReport()]
    assert flow.phase is Phase.AWAITING_REPORT and flow.report_started_at == 0.9


def test_report_failure_speaks_fallback_and_still_says_goodbye() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    speak(flow, 0.1, "a", "ack")
    assert flow.report_failed(1.0, "boom") == [RequestResponse("fallback", None)]
    assert flow.report_error == "boom"
    assert speak(flow, 1.1, "f", "fallback") == [RequestResponse("goodbye", flow.settings.goodbye_text)]
    assert speak(flow, 2.0, "g", "goodbye") == [EndSession("complete")]


def test_report_failure_during_ack_then_fallback_after_ack() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    flow.report_failed(0.05, "no key")
    assert speak(flow, 0.1, "a", "ack") == [RequestResponse("fallback", None)]


def test_report_timeout_abandons_and_speaks_fallback() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    speak(flow, 0.1, "a", "ack")
    assert flow.phase is Phase.AWAITING_REPORT
    assert flow.tick(29.9) == []
    actions = flow.tick(30.0)
    assert isinstance(actions[0], AbandonReport) and actions[1:] == [RequestResponse("fallback", None)]
    assert flow.report_state is ReportState.TIMED_OUT
    assert flow.timeouts[-1]["waiting_for"] == "report"
    # the late report is recorded and ignored
    assert flow.report_ready(31.0, "late") == []
    assert flow.ignored[-1]["input"] == "report_ready"


def test_report_timeout_while_ack_speaking_goes_to_fallback_when_ack_played() -> None:
    timeouts = FlowTimeouts(response_created=2.0, speaking=100.0, report=30.0)
    flow = AssessmentFlow(FlowSettings(timeouts=timeouts))
    flow.trigger(0.0, "tool")
    flow.response_created(0.1, "a", "ack")
    flow.playback_started(0.2, "a")
    assert isinstance(flow.tick(30.0)[0], AbandonReport)
    assert flow.phase is Phase.ACK_SPEAKING
    flow.response_done(30.5, "a", "ack")
    assert flow.playback_done(31.0, "a") == [RequestResponse("fallback", None)]


@pytest.mark.parametrize(
    ("setup", "phase", "deadline", "next_phase"),
    [
        ([], Phase.TRIGGERED, 2.0, Phase.AWAITING_REPORT),  # ack never created
        ([("created", "a", "ack")], Phase.ACK_GENERATING, 10.0, Phase.AWAITING_REPORT),
        ([("created", "a", "ack"), ("started", "a")], Phase.ACK_SPEAKING, 10.0, Phase.AWAITING_REPORT),
    ],
)
def test_ack_timeouts_move_on(setup: list, phase: Phase, deadline: float, next_phase: Phase) -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    for step in setup:
        if step[0] == "created":
            flow.response_created(0.0, step[1], step[2])
        else:
            flow.playback_started(0.0, step[1])
    assert flow.phase is phase
    assert flow.tick(deadline - 0.01) == []
    flow.tick(deadline)
    assert flow.phase is next_phase
    assert flow.timeouts and flow.timeouts[-1]["after_s"] == pytest.approx(deadline)


def _to_summary_sending(flow: AssessmentFlow) -> None:
    flow.trigger(0.0, "tool")
    flow.report_ready(0.05, "S")
    speak(flow, 0.1, "a", "ack")
    assert flow.phase is Phase.SUMMARY_SENDING


def test_summary_and_goodbye_timeouts() -> None:
    flow = make()
    _to_summary_sending(flow)  # entered at 0.4
    assert flow.tick(2.41) == [RequestResponse("goodbye", flow.settings.goodbye_text)]
    assert flow.phase is Phase.GOODBYE_SENDING
    assert flow.tick(4.42) == [EndSession("complete_degraded")]  # the candidate heard neither
    assert flow.phase is Phase.COMPLETE
    assert [t["waiting_for"] for t in flow.timeouts] == ["summary response.created", "goodbye played"]
    assert flow.not_heard == ["summary", "goodbye"]

    flow = make()
    _to_summary_sending(flow)
    flow.response_created(1.0, "s", "summary")
    assert flow.tick(10.99) == []
    assert flow.tick(11.0) == [RequestResponse("goodbye", flow.settings.goodbye_text)]
    flow.response_created(11.1, "g", "goodbye")
    assert flow.tick(21.1) == [EndSession("complete_degraded")]
    assert flow.not_heard == ["summary", "goodbye"]


def test_complete_needs_the_summary_and_goodbye_heard_not_the_ack() -> None:
    """An acknowledgement given up on is listed, but the candidate still heard the assessment."""
    flow = make()
    flow.trigger(0.0, "button")
    flow.tick(2.0)  # no ack created in time: on to the report, then the summary
    assert flow.not_heard == ["ack"]
    flow.report_ready(2.1, "All good.")
    speak(flow, 2.2, "s", "summary")
    assert speak(flow, 2.4, "g", "goodbye") == [EndSession("complete")]
    assert flow.not_heard == ["ack"]


def test_duplicates_and_out_of_order_are_recorded_not_raised() -> None:
    flow = make()
    assert flow.playback_done(0.0, "nobody") == []  # interview responses are not the flow's business
    # an ack before any trigger: nobody asked for it, so it is cancelled and never played
    assert flow.response_created(0.0, "x", "ack") == [
        DiscardResponse("x", "ack", "not expected in interviewing")]
    assert flow.ignored[-1]["why"].startswith("not expected")
    flow.trigger(1.0, "tool")
    assert flow.trigger(1.1, "button") == []  # second trigger
    assert flow.ignored[-1]["input"] == "trigger:button"
    flow.response_created(1.2, "a", "ack")
    assert flow.response_created(1.3, "a", "ack") == []
    assert flow.ignored[-1]["why"] == "duplicate"
    flow.response_done(1.4, "a", "ack")
    assert flow.response_done(1.5, "a", "ack") == []
    assert flow.ignored[-1]["why"] == "duplicate"
    flow.report_ready(1.6, "S")
    assert flow.report_ready(1.7, "again") == []
    assert flow.summary_text == "S"
    assert flow.playback_done(1.8, "a") == [RequestResponse("summary", "S")]
    assert flow.playback_done(1.9, "a") == []
    # a goodbye before the summary was even created is discarded
    assert flow.response_created(2.0, "g", "goodbye") == [
        DiscardResponse("g", "goodbye", "not expected in summary_sending")]
    assert flow.phase is Phase.SUMMARY_SENDING


def test_done_without_created_binds_and_completes() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    flow.report_ready(0.0, "S")
    assert flow.response_done(0.5, "a", "ack") == []
    assert flow.phase is Phase.ACK_GENERATING and flow.response_id("ack") == "a"
    assert flow.playback_done(0.6, "a") == [RequestResponse("summary", "S")]


def test_played_before_done_waits_for_done() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    flow.report_ready(0.0, "S")
    flow.response_created(0.1, "a", "ack")
    assert flow.playback_done(0.5, "a") == []
    assert flow.phase is Phase.ACK_GENERATING
    assert flow.response_done(0.6, "a", "ack") == [RequestResponse("summary", "S")]


def test_connection_lost_and_fail_are_terminal() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    assert flow.connection_lost(1.0, "1011 keepalive ping timeout") == [EndSession("disconnected")]
    assert flow.phase is Phase.DISCONNECTED and flow.finished
    assert flow.report_state is ReportState.RUNNING  # the session still finishes the report
    assert flow.fail(2.0, "x") == []
    assert flow.tick(1e9) == [AbandonReport(flow.report_error)]  # report still bounded by its timeout
    flow2 = make()
    assert flow2.fail(0.0, "bad") == [EndSession("failed")]
    assert flow2.phase is Phase.FAILED


def test_phase_durations_and_transition_records() -> None:
    flow = make()
    flow.trigger(2.0, "tool")
    flow.response_created(2.5, "a", "ack")
    durations = flow.phase_durations(end=3.0)
    assert durations == {"interviewing": 2.0, "triggered": 0.5, "ack_generating": 0.5}
    assert flow.transitions[0].as_dict() == {"t": 2.0, "from": "interviewing", "to": "triggered",
                                             "reason": "trigger:tool"}


def test_observer_hears_phases_timeouts_and_ignored() -> None:
    heard: list[tuple[str, dict]] = []
    flow = AssessmentFlow(FlowSettings(timeouts=TIMEOUTS), observer=lambda k, r: heard.append((k, r)))
    flow.trigger(0.0, "tool")
    flow.trigger(0.1, "tool")
    flow.tick(5.0)
    kinds = [k for k, _ in heard]
    assert kinds[:3] == ["assessment.trigger", "phase", "flow.ignored"] and "timeout" in kinds


# --- property-based: any input sequence -------------------------------------------------------

RIDS = st.sampled_from(["a", "s", "g", "q", "z"])
ITEMS = st.sampled_from(["i1", "i2", "i3"])
PURPOSES = st.sampled_from(["ack", "summary", "fallback", "goodbye", "auto", "question"])
INPUTS = st.one_of(
    st.tuples(st.just("trigger"), st.sampled_from(["tool", "button", "limit"])),
    st.tuples(st.just("created"), RIDS, PURPOSES),
    st.tuples(st.just("started"), RIDS),
    st.tuples(st.just("played"), RIDS),
    st.tuples(st.just("done"), RIDS, PURPOSES),
    st.tuples(st.just("ready"), st.text(max_size=5)),
    st.tuples(st.just("failed"), st.text(max_size=5)),
    st.tuples(st.just("lost"), st.text(max_size=5)),
    st.tuples(st.just("fail"), st.text(max_size=5)),
    st.tuples(st.just("tick")),
    st.tuples(st.just("pending"), ITEMS),
    st.tuples(st.just("heard"), ITEMS),
    st.tuples(st.just("untranscribed"), ITEMS),
    st.tuples(st.just("stop_waiting")),
)


def apply(flow: AssessmentFlow, now: float, step: tuple) -> list:
    kind = step[0]
    if kind == "trigger":
        return flow.trigger(now, step[1])
    if kind == "created":
        return flow.response_created(now, step[1], step[2])
    if kind == "started":
        return flow.playback_started(now, step[1])
    if kind == "played":
        return flow.playback_done(now, step[1])
    if kind == "done":
        return flow.response_done(now, step[1], step[2])
    if kind == "ready":
        return flow.report_ready(now, step[1])
    if kind == "failed":
        return flow.report_failed(now, step[1])
    if kind == "lost":
        return flow.connection_lost(now, step[1])
    if kind == "fail":
        return flow.fail(now, step[1])
    if kind == "pending":
        return flow.answer_pending(now, step[1])
    if kind == "heard":
        return flow.answer_heard(now, step[1])
    if kind == "untranscribed":
        return flow.answer_failed(now, step[1])
    if kind == "stop_waiting":
        return flow.stop_waiting_for_transcripts(now)
    return flow.tick(now)


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(0.0, 20.0), INPUTS), max_size=40),
       mode=st.sampled_from(list(ReportStart)))
def test_any_sequence_never_raises_and_always_finishes(steps: list, mode: ReportStart) -> None:
    flow = make(mode)
    now = 0.0
    actions: list = []
    for dt, step in steps:
        now += dt
        actions += apply(flow, now, step)
    actions += flow.trigger(now, "button")  # whatever happened, a trigger (or none needed) then time passes
    for _ in range(12):
        now += 100.0
        actions += flow.tick(now)
    ends = [a for a in actions if isinstance(a, EndSession)]
    assert flow.finished
    assert len(ends) == 1  # the session is ended exactly once
    # the report starts once, is built at most once, after its start, and never once it was abandoned
    report = "".join(type(a).__name__[0] for a in actions
                     if isinstance(a, StartReport | BuildReport | AbandonReport))
    assert report in ("", "S", "SB", "SA", "SBA")
    assert not flow.awaiting_transcripts
    transitions = len(flow.transitions)
    assert flow.tick(now + 1000.0) == [] and len(flow.transitions) == transitions  # nothing left pending
    for purpose in ("question", "ack", "summary", "fallback", "goodbye"):
        assert not flow.wants(purpose)  # an ended flow asks for nothing
    times = [t.t for t in flow.transitions]
    assert times == sorted(times)
    # transitions are a chain
    for before, after in zip(flow.transitions, flow.transitions[1:], strict=False):
        assert before.to is after.from_


@settings(max_examples=200, deadline=None)
@given(order=st.permutations(["a_created", "a_started", "a_done", "a_played", "ready"]))
def test_ack_inputs_in_any_order_reach_summary(order: list[str]) -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    now = 0.0
    steps = {"a_created": ("created", "a", "ack"), "a_started": ("started", "a"),
             "a_done": ("done", "a", "ack"), "a_played": ("played", "a"), "ready": ("ready", "S")}
    for step in order:
        now += 0.1
        apply(flow, now, steps[step])
    assert flow.phase is Phase.SUMMARY_SENDING
    assert flow.timeouts == []


def test_a_request_the_flow_gave_up_on_is_no_longer_wanted() -> None:
    """The session asks `wants` right before sending: a late ack/summary must never be sent."""
    flow = make()
    assert flow.wants("question") and not flow.wants("ack")
    flow.trigger(0.0, "button")
    assert flow.wants("ack") and not flow.wants("question") and not flow.wants("summary")
    flow.report_ready(0.5, "S")
    flow.tick(TIMEOUTS.response_created + 0.1)  # the ack was never created: on to the summary
    assert flow.phase is Phase.SUMMARY_SENDING
    assert not flow.wants("ack")
    assert flow.wants("summary") and not flow.wants("fallback")  # the report is ready: no fallback
    flow.response_created(3.0, "s", "summary")
    assert not flow.wants("summary")  # created already
    flow.response_done(3.1, "s", "summary")
    flow.playback_done(3.2, "s")
    assert flow.phase is Phase.GOODBYE_SENDING and flow.wants("goodbye")
    flow.connection_lost(3.3, "dropped")
    assert not flow.wants("goodbye")


def test_the_fallback_is_wanted_when_the_report_failed() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    flow.report_failed(0.1, "down")
    flow.response_created(0.2, "a", "ack")
    flow.response_done(0.3, "a", "ack")
    flow.playback_done(0.4, "a")
    assert flow.phase is Phase.SUMMARY_SENDING
    assert flow.wants("fallback") and not flow.wants("summary")


# --- the interview's rules: limits, barge-in, a trigger that cuts the interviewer off ------------------


def test_question_limit_triggers_once_the_last_answer_is_heard() -> None:
    flow = AssessmentFlow(FlowSettings(max_questions=2))
    assert flow.answer_heard(1.0) == []
    actions = flow.answer_heard(2.0)
    assert flow.phase is Phase.TRIGGERED and flow.trigger_source == "limit"
    assert RequestResponse("ack", flow.settings.ack_text) in actions
    assert flow.answer_heard(3.0) == [] and flow.answers == 2  # answers after the trigger do not count


def test_minute_limit_triggers_on_the_tick_that_reaches_it() -> None:
    flow = AssessmentFlow(FlowSettings(max_minutes=0.5))
    assert flow.tick(29.9) == [] and flow.phase is Phase.INTERVIEWING
    flow.tick(30.0)
    assert flow.phase is Phase.TRIGGERED and flow.trigger_source == "limit"


def test_barge_in_interrupts_the_interviewer_only_while_interviewing() -> None:
    flow = AssessmentFlow()
    assert flow.speech_started(1.0, "auto") == [InterruptSpeech("speech_started")]
    assert flow.speech_started(1.0, None) == []  # nothing playing: nothing to interrupt
    flow.trigger(2.0, "tool")
    assert flow.speech_started(3.0, "ack") == []  # the assessment is never interrupted


@pytest.mark.parametrize("source", ["button", "limit"])
def test_a_button_or_limit_cuts_the_interviewer_off(source: str) -> None:
    flow = AssessmentFlow()
    actions = flow.trigger(1.0, source, active_purpose="auto", playing_purpose="question")
    assert actions[:3] == [SilenceCandidate(), CancelResponse(), InterruptSpeech(f"trigger:{source}")]


def test_the_models_own_end_interview_call_is_not_cut_off() -> None:
    flow = AssessmentFlow()
    actions = flow.trigger(1.0, "tool", active_purpose="auto", playing_purpose="auto")
    assert not any(isinstance(a, CancelResponse | InterruptSpeech) for a in actions)
    assert actions[0] == SilenceCandidate()


# --- late transcripts: the report waits (bounded) for every committed answer's transcript --------------

WAIT = FlowTimeouts(response_created=2.0, speaking=10.0, report=30.0, transcripts=5.0)


def waiting(report_start: ReportStart = ReportStart.AT_TRIGGER, **settings: object) -> AssessmentFlow:
    return AssessmentFlow(FlowSettings(report_start=report_start, timeouts=WAIT, **settings))  # type: ignore[arg-type]


def test_the_report_waits_for_the_last_answers_transcript() -> None:
    """The hosted service transcribes asynchronously: the last answer's transcript may come after the
    end_interview call. The report starts at the trigger, and is built once the transcript is in."""
    flow = waiting()
    flow.answer_pending(1.0, "i1")  # speech started...
    flow.answer_pending(1.5, "i1")  # ...and committed: the same answer
    flow.answer_heard(2.0, "i1")
    flow.answer_pending(3.0, "i2")
    actions = flow.trigger(4.0, "tool")
    assert StartReport() in actions and not any(isinstance(a, BuildReport) for a in actions)
    assert flow.awaiting_transcripts and flow.report_started_at == 4.0
    assert flow.answer_heard(6.0, "i2") == [BuildReport()]
    assert not flow.awaiting_transcripts and flow.timeouts == []
    assert flow.answers == 1  # answers heard after the trigger do not count toward the limit


def test_the_wait_for_transcripts_is_bounded() -> None:
    flow = waiting()
    flow.answer_pending(1.0, "i1")
    flow.trigger(2.0, "tool")
    assert flow.tick(6.99) == []
    assert flow.tick(7.0) == [BuildReport(("i1",))]
    assert flow.timeouts[-1]["waiting_for"] == "transcripts" and flow.timeouts[-1]["after_s"] == 5.0
    assert flow.answer_heard(8.0, "i1") == []  # too late: the report is built already
    assert flow.tick(8.1) == []


def test_a_failed_transcription_settles_the_answer_and_counts_toward_the_limit() -> None:
    flow = waiting(max_questions=2)
    flow.answer_pending(1.0, "i1")
    assert flow.answer_heard(2.0, "i1") == []
    flow.answer_pending(3.0, "i2")
    actions = flow.answer_failed(4.0, "i2")
    assert flow.trigger_source == "limit" and flow.answers == 2
    assert actions[-2:] == [StartReport(), BuildReport(("i2",))]  # built at once, without i2


def test_a_failed_transcription_while_waiting_builds_the_report_without_it() -> None:
    flow = waiting()
    flow.answer_pending(1.0, "i1")
    flow.trigger(2.0, "button")
    assert flow.answer_failed(3.0, "i1") == [BuildReport(("i1",))]
    assert flow.answer_heard(3.5, "i1") == []  # settled already: recorded, ignored
    assert flow.ignored[-1]["why"] == "i1 settled already"


def test_an_answer_committed_during_the_wait_is_waited_for() -> None:
    """A button pressed mid-answer: the answer is committed when its speech stops, after the trigger."""
    flow = waiting()
    flow.trigger(1.0, "button")
    assert flow.awaiting_transcripts is False  # nothing pending at the trigger: built at once
    flow = waiting()
    flow.answer_pending(0.5, "i1")  # speech started before the trigger
    flow.trigger(1.0, "button")
    flow.answer_pending(1.6, "i2")  # (another one the server commits during the wait)
    assert flow.answer_heard(2.0, "i1") == []
    assert flow.answer_heard(2.5, "i2") == [BuildReport()]


def test_after_ack_the_wait_starts_with_the_report() -> None:
    flow = waiting(ReportStart.AFTER_ACK)
    flow.answer_pending(1.0, "i1")
    flow.trigger(2.0, "tool")
    assert not flow.awaiting_transcripts
    flow.answer_pending(2.5, "i9")  # during the acknowledgement: not an interview answer, not waited for
    flow.response_created(3.0, "a", "ack")
    flow.response_done(4.0, "a", "ack")
    assert flow.playback_done(5.0, "a") == [StartReport()]
    assert flow.phase is Phase.AWAITING_REPORT and flow.awaiting_transcripts
    assert flow.tick(9.99) == [] and flow.tick(10.0) == [BuildReport(("i1",))]


def test_the_wait_counts_inside_the_report_budget() -> None:
    timeouts = FlowTimeouts(response_created=2.0, speaking=10.0, report=3.0, transcripts=5.0)
    flow = AssessmentFlow(FlowSettings(timeouts=timeouts))
    flow.answer_pending(0.5, "i1")
    flow.trigger(1.0, "tool")
    actions = flow.tick(4.0)
    assert isinstance(actions[0], AbandonReport) and not flow.awaiting_transcripts
    assert flow.answer_heard(4.1, "i1") == []  # never built once abandoned
    assert not any(isinstance(a, BuildReport) for a in flow.tick(6.0))


@pytest.mark.parametrize("end", ["lost", "fail", "stop"])
def test_no_more_transcripts_will_come_when_the_session_ends(end: str) -> None:
    flow = waiting()
    flow.answer_pending(0.5, "i1")
    flow.trigger(1.0, "tool")
    if end == "lost":
        actions = flow.connection_lost(2.0, "dropped")
        assert actions == [BuildReport(("i1",)), EndSession("disconnected")]
    elif end == "fail":
        assert flow.fail(2.0, "broken") == [BuildReport(("i1",)), EndSession("failed")]
    else:
        assert flow.stop_waiting_for_transcripts(2.0) == [BuildReport(("i1",))]
    assert flow.stop_waiting_for_transcripts(2.1) == [] and not flow.awaiting_transcripts


def test_a_transcript_is_counted_once() -> None:
    flow = waiting(max_questions=2)
    flow.answer_heard(1.0, "i1")
    flow.answer_heard(1.1, "i1")  # the same answer again
    assert flow.answers == 1 and flow.phase is Phase.INTERVIEWING
    flow.answer_heard(1.2)  # no item id: counted, nothing to settle
    assert flow.phase is Phase.TRIGGERED


# --- a response the flow no longer wants is discarded --------------------------------------------


def test_a_late_ack_is_discarded_after_the_flow_moved_on() -> None:
    flow = make()
    flow.trigger(0.0, "tool")
    flow.tick(2.0)  # no ack created in time: on to the report
    assert flow.phase is Phase.AWAITING_REPORT
    assert flow.response_created(3.0, "late", "ack") == [
        DiscardResponse("late", "ack", "not expected in awaiting_report")]
    assert flow.response_id("ack") is None and flow.phase is Phase.AWAITING_REPORT


def test_a_superseded_summary_and_an_interviewer_turn_after_the_trigger_are_discarded() -> None:
    flow = make()
    _to_summary_sending(flow)
    flow.tick(2.41)  # the summary never came: the goodbye is asked for
    assert flow.response_created(2.5, "s", "summary") == [
        DiscardResponse("s", "summary", "not expected in goodbye_sending")]
    assert flow.response_created(2.6, "v", "auto") == [
        DiscardResponse("v", "auto", "not expected in goodbye_sending")]
    assert flow.response_created(2.7, "x", "someone-elses") == []  # not a purpose of ours
    assert flow.response_created(2.8, "g", "goodbye") == []  # the one it waits for
    assert flow.response_id("goodbye") == "g"


def test_while_interviewing_the_interviewers_turns_are_wanted_and_an_ended_flow_discards_nothing() -> None:
    flow = make()
    assert flow.response_created(0.0, "q", "question") == []
    assert flow.response_created(1.0, "v", "auto") == []
    flow.fail(2.0, "broken")
    assert flow.response_created(3.0, "w", "auto") == []
    assert flow.response_created(3.1, "a", "ack") == []


def test_a_lost_connection_pauses_the_phase_deadlines_and_resumes_the_line_in_flight() -> None:
    """Offline, the summary's speaking deadline waits (the report's budget does not need the
    connection); resumed, the unfinished summary is asked again and the deadline counts on."""
    flow = make()
    _to_summary_sending(flow)  # entered at 0.4; response_created timeout 2 s
    flow.response_created(1.0, "s1", "summary")  # speaking: deadline 1.0 + 10 s
    assert flow.connection_interrupted(2.0) == []
    assert flow.tick(30.0) == []  # far past the deadline, but offline
    actions = flow.connection_resumed(31.0, answer_in_progress=False)
    assert actions == [RequestResponse("summary", flow.summary_text, resumes="s1")]
    assert flow.phase is Phase.SUMMARY_SENDING and flow.offline_s == 29.0
    assert flow.wants("summary")  # the old binding is gone: a new response is welcome
    flow.response_created(31.5, "s2", "summary")
    assert speak(flow, 31.6, "s2", "summary") == [RequestResponse("goodbye", flow.settings.goodbye_text)]


def test_resumed_while_interviewing_asks_the_next_question_unless_an_answer_is_under_way() -> None:
    flow = make()
    flow.connection_interrupted(1.0)
    assert flow.connection_resumed(2.0, answer_in_progress=False) == [RequestResponse("question", None)]
    flow.connection_interrupted(3.0)
    assert flow.connection_resumed(4.0, answer_in_progress=True) == []
    assert flow.offline_s == 2.0
