"""What a new connection is told (`interview_kit.resume`): the pure rules, one by one."""

from __future__ import annotations

import pytest

from interview_kit.resume import (
    INAUDIBLE,
    LEAD_MS,
    FunctionCallRecord,
    backoff_delays,
    conversation_items,
    heard_fraction,
    speech_to_resend,
    split_heard,
    worth_resuming,
)

TEXT = "First sentence here. Second sentence comes now. Third one is the last."


@pytest.mark.parametrize(("fraction", "heard", "rest"), [
    (0.0, "", TEXT),
    (0.1, "", TEXT),  # inside the first sentence: all of it again
    (0.3, "First sentence here.", "Second sentence comes now. Third one is the last."),
    (0.7, "First sentence here. Second sentence comes now.", "Third one is the last."),
    (1.0, TEXT, ""),
])
def test_a_cut_line_is_said_again_from_the_start_of_the_sentence_being_heard(
        fraction: float, heard: str, rest: str) -> None:
    assert split_heard(TEXT, fraction) == (heard, rest)


def test_sentences_end_at_full_width_marks_too() -> None:
    assert split_heard("첫 문장입니다. 두 번째 문장입니다.", 0.8) == ("첫 문장입니다.", "두 번째 문장입니다.")
    assert split_heard("最初の文です。次の文です。", 0.9) == ("最初の文です。", "次の文です。")


def test_heard_fraction_scales_by_the_transcript_when_the_audio_was_not_all_received() -> None:
    assert heard_fraction(1000, 4000, finished=True, text_received=10, text_total=10) == 0.25
    # half the text's transcript came with 2 s of audio: the line is ~4 s long, 1 s of it heard
    assert heard_fraction(1000, 2000, finished=False, text_received=5, text_total=10) == 0.25
    assert heard_fraction(0, 2000, finished=False, text_received=5, text_total=10) == 0.0
    assert heard_fraction(3000, 2000, finished=True, text_received=10, text_total=10) == 1.0


def test_the_conversation_is_told_in_order_with_calls_placed_by_time() -> None:
    turns = [
        {"role": "interviewer", "text": "Question one?", "start": 0.0},
        {"role": "candidate", "text": "Answer one.", "start": 2.0},
        {"role": "candidate", "text": None, "transcription_failed": True, "start": 5.0},
        {"role": "candidate", "text": "", "start": 7.0},  # transcript still to come: its audio goes again
        {"role": "interviewer", "text": "", "start": 9.0, "cut": True},  # cut before a whole sentence
        {"role": "interviewer", "text": "Thank you.", "start": 12.0},
    ]
    calls = [FunctionCallRecord(10.0, "call_1", "end_interview", "{}", '{"ok": true}')]
    items = [e["item"] for e in conversation_items(turns, calls)]
    assert [(i["type"], i.get("role")) for i in items] == [
        ("message", "assistant"), ("message", "user"), ("message", "user"),
        ("function_call", None), ("function_call_output", None), ("message", "assistant")]
    assert items[0]["content"] == [{"type": "output_text", "text": "Question one?"}]
    assert items[1]["content"] == [{"type": "input_text", "text": "Answer one."}]
    assert items[2]["content"][0]["text"] == INAUDIBLE
    assert items[3] == {"type": "function_call", "call_id": "call_1", "name": "end_interview",
                        "arguments": "{}"}
    assert items[4]["call_id"] == "call_1"


def test_only_speech_is_sent_again_with_a_lead_for_the_vad() -> None:
    silence, speech = bytes(960), (b"\x00\x20" * 480)  # 20 ms each
    chunks = [(silence, i * 20.0, i * 20.0 + 20) for i in range(100)]
    assert speech_to_resend(chunks) == []
    chunks[80] = (speech, 1600.0, 1620.0)
    resent = speech_to_resend(chunks)
    assert resent[0][1] == 1600.0 - LEAD_MS and resent[-1][2] == 2000.0


def test_which_closes_are_worth_resuming() -> None:
    assert all(worth_resuming(code, "server") for code in (1001, 1006, 1011, 1012, 1013, 1014))
    assert not any(worth_resuming(code, "server") for code in (1000, 1002, 1008, 4000, 4001))
    assert worth_resuming(1011, "client") and worth_resuming(1006, "unknown")


def test_backoff_doubles_up_to_its_cap() -> None:
    assert backoff_delays(6, 0.5, 8.0) == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
