"""The browser microphone end to end, in a real browser: Chromium's fake microphone plays the default
scenario's answers (the project's synthetic voice, timed like the scenario: see
`browser_helpers.candidate_voice_wav`) into `BrowserAudio` in notebook 01's panel; the built-in
emulator's VAD hears them and the interview completes with the answers in transcript.json. The
interviewer plays through the page's AudioWorklet, whose "heard" reports end each response.

The kernel's loop stalls are logged from 5 ms on in this run (the notebook's config cell, changed in
the test's copy), so the longest one is measured, not hidden under the default 50 ms threshold. Beside
the interview, `machine_floor` watches an empty loop in a process of its own with the same monitor: the
machine's floor for stalls over the same seconds. The kernel's stalls, the floor's, the most CPU the
kernel's loop used during one of its stalls (its own work) and the audio latencies are printed and
written to ``figures.json`` in the test's folder. No upper bound is asserted on them (machines are
noisy); docs/notebooks.md quotes them.

Real time: about two minutes for the interview. Screenshots of each step under ``screens/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    UI_S,
    Shots,
    button,
    candidate_voice_wav,
    chromium_page,
    events,
    jupyterlab,
    machine_floor,
    open_panel,
    prepare_notebook,
    require_browser,
    the_session,
    wait_for_text,
)

pytestmark = pytest.mark.timeout(900)

LIVE_INTERVIEW_MS = 420_000  # bound on the real-time interview ending
LEAD_S = 4.0  # the WAV's silence before the candidate: from the click on the microphone to the interview
STALL_THRESHOLD_S = 0.005  # the goal: no stall over 5 ms; each one logged is counted


def test_browser_microphone_end_to_end(tmp_path: Path) -> None:
    require_browser()
    wav = tmp_path / "candidate.wav"
    candidate_voice_wav(wav, lead_s=LEAD_S)
    sessions = tmp_path / "sessions"
    prepare_notebook(tmp_path, OUT_DIR=str(sessions), SPEED=1.0, CANDIDATE="browser",
                     replace={"SessionConfig()": f"SessionConfig(stall_threshold={STALL_THRESHOLD_S})"})
    fake_media = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-audio-capture={wav}%noloop"]
    with jupyterlab(tmp_path) as lab, chromium_page(fake_media) as (page, errors):
        shots = Shots(page, tmp_path)
        open_panel(page, lab, shots)
        button(page, "Use the browser's microphone").click()
        wait_for_text(page, "microphone on", UI_S)
        shots("microphone-on")
        with machine_floor() as floor:
            button(page, "Start").click()
            wait_for_text(page, "interview running", UI_S)
            shots("interview-running")
            wait_for_text(page, "Interview complete.", LIVE_INTERVIEW_MS)
        shots("interview-complete")
        health = page.locator(".jp-OutputArea-output").get_by_text("longest stall").first.inner_text()
        assert not errors, errors

    folder = the_session(sessions)
    transcript = json.loads((folder / "transcript.json").read_text(encoding="utf-8"))
    said = [t["text"] for t in transcript["turns"] if t.get("role") == "candidate"]
    from interview_kit.scenario import load_scenario

    answers = load_scenario("default").candidate.answers
    assert len(said) >= len(answers), said
    for answer, heard in zip(answers, said, strict=False):
        assert words(answer)[:3] == words(heard)[:3], (answer, heard)
    log = events(folder)
    figures = measured(log)
    began, ended = log[0]["wall"], log[-1]["wall"]
    same_time = [s[1] for s in floor.between(began, ended)]
    longest_at = longest_stall_wall(log)
    near = [s[1] for s in floor.between(longest_at - 1.0, longest_at + 1.0)] if longest_at else []
    figures.update(floor_stalls=len(same_time), floor_longest_ms=max(same_time, default=0.0),
                   floor_near_longest_ms=max(near, default=0.0),  # the machine, within 1 s of the worst
                   floor_watched_s=floor.summary.get("watched_s"), health_line=health)
    (tmp_path / "figures.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"\nbrowser microphone run: {json.dumps(figures)}")
    assert figures["played_responses"] >= len(answers) + 1  # every question, through the page's player
    assert figures["mic_to_kernel_ms"] is not None and figures["kernel_to_speaker_ms"] is not None


def longest_stall_wall(log: list[dict[str, Any]]) -> float | None:
    """The wall time the kernel's longest stall began (None without stalls)."""
    stalls = [r for r in log if r["type"] == "loop.stall"]
    if not stalls:
        return None
    worst = max(stalls, key=lambda r: r["data"]["duration_ms"])
    return float(log[0]["wall"] - log[0]["t"] + worst["data"]["started"])


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def measured(log: list[dict[str, Any]]) -> dict[str, Any]:
    """The longest kernel loop stall (and the most CPU its loop used during one), the latest latency
    figures and the responses played."""
    stalls = [r["data"] for r in log if r["type"] == "loop.stall"]
    latency = [r["data"] for r in log if r["type"] == "audio.latency"]
    last = latency[-1] if latency else {}
    return {"longest_stall_ms": max((s["duration_ms"] for s in stalls), default=0.0),
            "stalls_logged": len(stalls), "stall_threshold_ms": STALL_THRESHOLD_S * 1000,
            "longest_stall_cpu_ms": max((s.get("cpu_ms", 0.0) for s in stalls), default=0.0),
            "mic_to_kernel_ms": last.get("mic_to_kernel_ms"),
            "kernel_to_speaker_ms": last.get("kernel_to_speaker_ms"),
            "clock_rtt_ms": last.get("clock_rtt_ms"),
            "played_responses": sum(1 for r in log if r["type"] == "playback.ended")}
