"""What recording costs the event loop, per 40 ms chunk, and what measuring the gaps costs afterwards.

Ten minutes of both sides (15,000 candidate chunks, 15,000 interviewer chunks of 40 ms) fed to a
`SessionRecorder` as the session does (`sent` for the input, `heard` for the output, on a clock that
advances 40 ms per chunk; the bench pauses, unmeasured, whenever 1 MB waits for the writer thread, since
it feeds far faster than real time). Side by side, in the same process: writing the same chunks with
`wave` directly on the calling thread (what a recorder without its writer thread would cost the loop,
header patch included). Then `read_speech` over the resulting folder (both WAVs, 10 min each).

    .venv/bin/python bench/audio_recorder.py [--minutes 10] [--dir /tmp/x]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

from interview_kit.analysis.audio_gaps import read_speech
from interview_kit.audio.recorder import SessionRecorder
from interview_kit.voice import synthesize

CHUNK = 960  # 40 ms


def percentiles(costs: list[float]) -> str:
    us = sorted(c * 1e6 for c in costs)
    p = lambda q: us[min(len(us) - 1, int(q * len(us)))]  # noqa: E731
    return f"mean {statistics.fmean(us):7.1f} us  p50 {p(0.5):7.1f}  p99 {p(0.99):7.1f}  max {us[-1]:8.1f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench-rec-"))
    n = int(args.minutes * 60 / 0.04)
    speech = synthesize("a reasonably long answer " * 40, 150)
    pcm = np.frombuffer(speech, dtype="<i2")
    chunks = [pcm[(k * CHUNK) % (len(pcm) - CHUNK):][:CHUNK].tobytes() for k in range(200)]

    # baseline: wave on the calling thread
    direct: list[float] = []
    with wave.open(str(root / "direct.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        for k in range(n):
            t = time.perf_counter()
            w.writeframes(chunks[k % 200])
            direct.append(time.perf_counter() - t)

    clock = [0.0]
    recorder = SessionRecorder(root / "session", t0=0.0, clock=lambda: clock[0])
    loop_side: list[float] = []
    for k in range(n):
        clock[0] = (k + 1) * 0.04
        t = time.perf_counter()
        recorder.heard("r", chunks[(k + 7) % 200], k * 0.04)
        recorder.sent(chunks[k % 200])
        loop_side.append((time.perf_counter() - t) / 2)
        if recorder._writer.backlog > 1_000_000:  # fed faster than real time: let the disk catch up
            while recorder._writer.backlog > 100_000:
                time.sleep(0.001)
    t = time.perf_counter()
    recorder.close()
    drain = time.perf_counter() - t
    (root / "session" / "session.json").write_text('{"config": {"speed": 1.0}}')

    t = time.perf_counter()
    speech_found = read_speech(root / "session")
    analyse = time.perf_counter() - t

    print(f"{n} chunks of 40 ms per side ({args.minutes:g} min), files in {root}")
    print(f"  wave.writeframes on the loop : {percentiles(direct)}")
    print(f"  recorder, loop side          : {percentiles(loop_side)}  "
          f"(ratio of means {statistics.fmean(loop_side) / statistics.fmean(direct):.2f})")
    print(f"  close (writer drains)        : {drain * 1000:.0f} ms")
    print(f"  read_speech (both tracks)    : {analyse:.2f} s, "
          f"{sum(len(s) for s in speech_found.segments.values())} segments, status {speech_found.status}")


if __name__ == "__main__":
    main()
