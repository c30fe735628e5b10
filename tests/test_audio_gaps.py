"""Gaps measured from the recorded audio: speech edges found to the sample on clean tracks and within one
10 ms frame on noisy ones, each turn's silence (or overlap) from the other speaker's end, missing /
switched off / cut recordings, and the agreement (Bland-Altman) with the event-derived gaps."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interview_kit.analysis.audio_gaps import (
    SpeechThresholds,
    add_audio_gaps,
    audio_gaps,
    bland_altman,
    disagreements,
    plot_bland_altman,
    read_speech,
    speech_segments,
)
from interview_kit.audio.recorder import SessionRecorder
from interview_kit.voice import SAMPLE_RATE, WORD_GAP_S, silence, synthesize

R = SAMPLE_RATE
FRAME = 0.01
CLEAN = 0.001  # on a clean track (digital silence between speech) the edges are refined to the sample


def voice(text: str, pitch: float = 140.0) -> np.ndarray:
    return np.frombuffer(synthesize(text, 150, pitch), dtype="<i2")


def track(parts: list[tuple[float, np.ndarray]], length: float) -> np.ndarray:
    """Speech placed at given seconds on a silent track."""
    x = np.zeros(round(length * R), dtype="<i2")
    for at, speech in parts:
        i = round(at * R)
        x[i: i + len(speech)] = speech
    return x


def voiced(speech: np.ndarray) -> float:
    """Seconds from the start of `speech` to its last non-zero sample (the synthetic voice ends with a
    word gap of silence)."""
    return (np.flatnonzero(speech)[-1] + 1) / R


A = voice("tell me about a project you are proud of")
B = voice("i built a scheduler for our lab and it cut waiting times in half", 120.0)
C = voice("what made it hard")
D = voice("the old system had no tests")

# (role, start): interviewer A at 0.5, candidate B after a 0.37 s gap, interviewer C after 0.45 s,
# the candidate cutting in 0.3 s before C ends (a barge-in: overlap).
T_A = 0.5
T_B = T_A + voiced(A) + 0.37
T_C = T_B + voiced(B) + 0.45
T_D = T_C + voiced(C) - 0.3
TRUE_GAPS = [math.nan, 0.37, 0.45, -0.3]


def write_session(folder: Path, *, closed: bool = True, noise_db: float | None = None) -> Path:
    """A session folder holding a recording of the conversation above, written by the recorder."""
    length = T_D + len(D) / R + 0.5
    interviewer = track([(T_A, A), (T_C, C[: round((T_D - T_C + 0.3) * R)])], length)
    candidate = track([(T_B, B), (T_D, D)], length)
    if noise_db is not None:  # a noisy microphone: white noise at that level under everything
        rng = np.random.default_rng(1)
        noise = rng.normal(0, 32768 * 10 ** (noise_db / 20), len(candidate))
        candidate = np.clip(candidate + noise, -32768, 32767).astype("<i2")
    recorder = SessionRecorder(folder, t0=0.0, clock=lambda: now[0])
    chunk = 960
    for k in range(0, len(candidate), chunk):
        now[0] = (k + chunk) / R
        recorder.heard("r", interviewer[k: k + chunk].tobytes(), k / R)
        recorder.sent(candidate[k: k + chunk].tobytes())
    if closed:
        recorder.close()
    else:  # a crash: the writer finishes what it had, the header says nothing, recording.json says open
        recorder._writer.finish(5.0)
        for name in ("candidate.wav", "interviewer.wav"):
            path = folder / "audio" / name
            data = bytearray(path.read_bytes())
            data[40:44] = struct.pack("<I", 0)
            path.write_bytes(bytes(data))
    (folder / "session.json").write_text(json.dumps({"config": {"speed": 1.0, "record_audio": True}}))
    return folder


now = [0.0]


def turns_frame(name: str = "s1") -> pd.DataFrame:
    """A turns table as the analysis builds it: starts from the event log (slightly off the audio)."""
    return pd.DataFrame({
        "session": [name] * 4,
        "role": ["interviewer", "candidate", "interviewer", "candidate"],
        "start": [T_A, T_B + 0.02, T_C, T_D + 0.03],
        "gap_s": [math.nan, math.nan, 0.47, math.nan],
    })


def test_speech_edges_are_found_within_one_frame() -> None:
    quiet = [np.frombuffer(silence(s), dtype="<i2") for s in (0.333, 0.777)]
    x = np.concatenate([quiet[0], A, quiet[1], C])
    segments = speech_segments(x)
    assert len(segments) == 2  # the 80 ms between words do not split a speaker's speech
    a_end = 0.333 + voiced(A)
    c_start = 0.333 + len(A) / R + 0.777
    expected = [(0.333, a_end), (c_start, c_start + voiced(C))]
    assert np.abs(segments - np.array(expected)).max() <= CLEAN
    gap = segments[1, 0] - segments[0, 1]
    assert abs(gap - (c_start - a_end)) <= CLEAN
    assert WORD_GAP_S < SpeechThresholds().min_silence_s


def test_each_turn_gets_the_silence_since_the_other_speaker_stopped(tmp_path: Path) -> None:
    folder = write_session(tmp_path / "s1")
    speech = read_speech(folder)
    assert speech.status == "recorded"
    gaps = audio_gaps(folder, turns_frame())
    got = gaps["gap_audio_s"].to_numpy()
    assert math.isnan(got[0])  # the opening question follows nobody
    assert np.abs(got[1:] - np.array(TRUE_GAPS[1:])).max() <= CLEAN  # -0.3: the barge-in's overlap
    assert abs(gaps["audio_start"].iloc[3] - T_D) <= CLEAN


def test_a_noisy_microphone_does_not_become_one_long_turn(tmp_path: Path) -> None:
    folder = write_session(tmp_path / "s1", noise_db=-45.0)  # above the fixed offset threshold (-50)
    gaps = audio_gaps(folder, turns_frame())["gap_audio_s"].to_numpy()
    assert np.abs(gaps[1:] - np.array(TRUE_GAPS[1:])).max() <= FRAME  # within one frame
    fixed = SpeechThresholds(noise_margin_db=(0.0, 0.0))  # without rising to the noise floor: wrong
    wrong = audio_gaps(folder, turns_frame(), thresholds=fixed)["gap_audio_s"].to_numpy()
    assert np.abs(wrong[1:] - np.array(TRUE_GAPS[1:])).max() > 5 * FRAME


def test_same_speaker_again_is_not_a_turn_gap(tmp_path: Path) -> None:
    folder = write_session(tmp_path / "s1")
    turns = pd.DataFrame({"session": ["s1"] * 2, "role": ["interviewer"] * 2, "start": [T_A, T_A + 0.2]})
    gaps = audio_gaps(folder, turns)["gap_audio_s"]
    assert gaps.isna().all()  # no onset near 0.7 s, and the opening follows nobody


def test_no_recording_gives_nan_and_says_why(tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "session.json").write_text(json.dumps({"config": {"speed": 1.0}}))
    off = tmp_path / "off"
    off.mkdir()
    (off / "session.json").write_text(json.dumps({"config": {"record_audio": False}}))
    assert read_speech(old).status == "missing"
    assert read_speech(off).status == "off"
    for folder in (old, off):
        gaps = audio_gaps(folder, turns_frame())
        assert gaps.index.equals(turns_frame().index) and gaps["gap_audio_s"].isna().all()


def test_a_cut_recording_is_read_to_where_it_stops(tmp_path: Path) -> None:
    folder = write_session(tmp_path / "s1", closed=False)
    assert read_speech(folder).status == "cut"
    got = audio_gaps(folder, turns_frame())["gap_audio_s"].to_numpy()
    assert np.abs(got[1:] - np.array(TRUE_GAPS[1:])).max() <= CLEAN


def test_add_audio_gaps_fills_each_session_from_its_folder(tmp_path: Path) -> None:
    write_session(tmp_path / "s1")
    turns = pd.concat([turns_frame("s1"), turns_frame("s2")], ignore_index=True)
    out = add_audio_gaps(turns, {"s1": tmp_path / "s1", "s2": tmp_path / "nothing-here"})
    assert out["gap_audio_s"].iloc[1:4].notna().all() and out["gap_audio_s"].iloc[4:].isna().all()
    assert list(out.columns[: len(turns.columns)]) == list(turns.columns)


def test_bland_altman_reports_bias_limits_and_disagreements() -> None:
    turns = pd.DataFrame({"session": ["s"] * 5, "gap_audio_s": [0.50, 0.62, 0.40, 0.90, np.nan],
                          "gap_s": [0.48, 0.60, 0.41, 0.80, 0.5]})
    stats = bland_altman(turns)
    d = np.array([0.02, 0.02, -0.01, 0.10])
    assert stats.n == 4 and stats.bias == pytest.approx(d.mean())
    assert stats.upper == pytest.approx(d.mean() + 1.96 * d.std(ddof=1))
    assert stats.over == 1 and stats.median_abs == pytest.approx(0.02)
    assert list(disagreements(turns)["gap_diff_s"].round(3)) == [0.1]
    assert "n=4" in str(stats)
    fig = plot_bland_altman(turns)
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections) == 4  # every pair plotted, flagged apart
    assert "n=4" in ax.get_title()
