"""The silences between turns measured from the recorded audio, beside the ones the event log implies.

Every other latency in the analysis comes from event timestamps. A session that records its audio
(``audio/candidate.wav``, ``audio/interviewer.wav``: `interview_kit.audio.recorder`, on the session
clock) can be checked against what was actually audible: each track's speech is found from its signal
(`speech_segments`), and each turn's `gap_audio_s` is the silence from the end of the other speaker's
speech to the start of this one's (`audio_gaps`). `bland_altman` and `plot_bland_altman` show how well
the two measures agree (docs/audio-gaps.md says how to read the figure).

Speech detection, per track, on 10 ms frames: the frame's energy in dB relative to full scale, with
hysteresis. A segment is a run of frames at or above the *offset* threshold that holds at least one
frame at or above the *onset* threshold; segments closer than `min_silence_s` are joined (a speaker's
own pauses: stop closures, breaths, the synthetic voice's 80 ms between words) and segments shorter
than `min_speech_s` dropped (clicks). Both thresholds rise with the track's noise floor (its 10th
percentile frame energy) so that a noisy microphone is not speech throughout.
See `SpeechThresholds` for the values and why. Both edges of a segment sit where the energy crosses the
offset threshold; each is then refined to the sample: the first (last) sample whose amplitude reaches
the offset level, within a frame of the frame edge. A gap is thus measured between like edges, to a
few samples on a clean track and within one frame (10 ms) on a noisy one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interview_kit.audio.format import SAMPLE_RATE
from interview_kit.audio.recorder import (
    AUDIO_DIR,
    CANDIDATE,
    CANDIDATE_FILE,
    INTERVIEWER,
    INTERVIEWER_FILE,
    RECORDING_FILE,
    track_data,
)

log = logging.getLogger(__name__)

__all__ = [
    "AudioSpeech",
    "BlandAltman",
    "SpeechThresholds",
    "add_audio_gaps",
    "agreement_by_session",
    "audio_gaps",
    "bland_altman",
    "disagreements",
    "frame_db",
    "plot_bland_altman",
    "read_speech",
    "speech_segments",
]

FULL_SCALE = 32768.0
SILENT_DB = -120.0  # the energy of a frame of digital silence (instead of -inf)
DISAGREE_S = 0.05  # a gap measured from the audio and from events that differ by more: worth a look
MATCH_S = 0.5  # a turn's start and its speech onset in the audio further apart than this: not matched
GAP_COLUMNS = ("gap_audio_s", "audio_start", "audio_prev_end")


@dataclass(frozen=True)
class SpeechThresholds:
    """Speech detection settings (defaults: spoken dialogue through a headset or a laptop microphone).

    - `onset_db` -40 dBFS: conversational speech into a microphone sits around -30 to -15 dBFS per 10 ms
      frame; a frame this loud is speech, not room noise (-60 to -50 dBFS for a quiet room).
    - `offset_db` -50 dBFS: speech continues while its energy stays above this, 10 dB below the onset,
      so a fading word ending is kept whole and one soft frame does not end a turn (the hysteresis).
    - `noise_margin_db` 12 / 6: with a noisier track, onset and offset rise to its noise floor (the
      10th percentile of its frame energies: a track is silent, or filled with digital silence, far more
      than a tenth of the time) plus 12 and 6 dB, so steady background noise never counts as speech.
    - `min_silence_s` 0.15: pauses shorter than this inside one speaker's speech (stop closures run to
      ~100 ms) do not split it. Only the same speaker's segments are joined: the two speakers are on
      separate tracks, so a short gap between them is never bridged.
    - `min_speech_s` 0.05: shorter bursts are clicks or breaths, not speech.
    """

    onset_db: float = -40.0
    offset_db: float = -50.0
    noise_margin_db: tuple[float, float] = (12.0, 6.0)
    min_silence_s: float = 0.15
    min_speech_s: float = 0.05
    frame_s: float = 0.01

    def levels(self, db: np.ndarray) -> tuple[float, float]:
        """(onset, offset) in dBFS for a track whose frame energies are `db`."""
        floor = float(np.percentile(db, 10)) if db.size else SILENT_DB
        onset = max(self.onset_db, floor + self.noise_margin_db[0])
        offset = max(self.offset_db, floor + self.noise_margin_db[1])
        return onset, min(offset, onset)


def frame_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """Energy of each `frame`-sample frame in dB relative to full scale (a full-scale square wave is 0 dB;
    digital silence `SILENT_DB`). A last partial frame counts over its own samples. (One pass over the
    samples in float32 with float64 sums: ten minutes of audio in well under 0.1 s.)"""
    x = np.asarray(samples)
    n = len(x)
    if n == 0:
        return np.empty(0)
    full = n // frame
    frames = x[: full * frame].reshape(full, frame).astype(np.float32)
    power = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / frame
    if n > full * frame:
        rest = x[full * frame:].astype(np.float64)
        power = np.append(power, float(np.mean(rest * rest)))
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10(power / (FULL_SCALE * FULL_SCALE))
    return np.maximum(db, SILENT_DB)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indexes of the runs of True in `mask`."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def speech_segments(samples: np.ndarray, rate: float = SAMPLE_RATE,
                    thresholds: SpeechThresholds | None = None) -> np.ndarray:
    """Speech segments of a PCM16 track, as an (n, 2) array of [start, end) seconds of the file
    (`rate` samples a second). See the module docstring for the rule."""
    th = thresholds or SpeechThresholds()
    frame = max(1, round(th.frame_s * rate))
    db = frame_db(samples, frame)
    if db.size == 0:
        return np.empty((0, 2))
    onset, offset = th.levels(db)
    starts, ends = _runs(db >= offset)
    loud = np.concatenate(([0], np.cumsum(db >= onset)))
    keep = loud[ends] - loud[starts] > 0  # the run holds a frame at or above the onset threshold
    starts, ends = starts[keep], ends[keep]
    if starts.size:
        gap = starts[1:] - ends[:-1]
        joined = np.concatenate(([True], gap * frame / rate >= th.min_silence_s))
        starts = starts[joined]
        ends = ends[np.concatenate((joined[1:], [True]))]
        long = (ends - starts) * frame / rate >= th.min_speech_s
        starts, ends = starts[long], ends[long]
    level = 10 ** (offset / 20) * FULL_SCALE  # the offset threshold as a sample amplitude
    x = np.asarray(samples)
    edges = [_edges(x, a * frame, b * frame, frame, level) for a, b in zip(starts, ends, strict=True)]
    return np.array(edges, dtype=float).reshape(-1, 2) / rate


def _edges(x: np.ndarray, first: int, last: int, frame: int, level: float) -> tuple[int, int]:
    """A segment's frame edges refined to samples: its first and one past its last sample at or above
    `level`, looked for in the frame on each side of each edge (a frame's energy can stay under the
    threshold while its first or last samples are already speech). Frame edges if none is."""
    lo = x[max(0, first - frame): first + frame]
    loud = np.flatnonzero(np.abs(lo.astype(np.int32)) >= level)
    start = max(0, first - frame) + int(loud[0]) if loud.size else first
    hi = x[max(0, last - frame): last + frame]
    loud = np.flatnonzero(np.abs(hi.astype(np.int32)) >= level)
    end = max(0, last - frame) + int(loud[-1]) + 1 if loud.size else min(last, len(x))
    return start, max(end, start)


@dataclass
class AudioSpeech:
    """The speech of one recorded session, on the session clock (seconds of `t`).

    `status`: ``recorded`` (both tracks closed properly), ``cut`` (a track not finalised: read up to its
    end), ``off`` (the session ran with ``record_audio`` off), ``missing`` (no audio folder: an older
    session, or the files were removed), ``failed`` (the recorder could not start: `message` says why,
    from ``recording.json``), ``unreadable`` (the message says why). `duration` is the time
    both tracks cover (a gap can only be measured inside it).
    """

    status: str
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    duration: float = 0.0
    speed: float = 1.0
    message: str = ""

    @property
    def usable(self) -> bool:
        return self.status in ("recorded", "cut")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _samples(path: Path) -> np.ndarray:
    """A track's samples, read straight into an array (no copy through bytes)."""
    offset, size = track_data(path)
    return np.fromfile(path, dtype="<i2", count=size // 2, offset=offset)


_MEMO: dict[tuple[Any, ...], AudioSpeech] = {}
_MEMO_SIZE = 1024


def _memo_key(folder: Path, thresholds: SpeechThresholds | None) -> tuple[Any, ...] | None:
    """Folder, settings, and each file's size and mtime: a recording that changes is read again."""
    stats = []
    for name in (CANDIDATE_FILE, INTERVIEWER_FILE, RECORDING_FILE):
        try:
            st = (folder / AUDIO_DIR / name).stat()
        except OSError:
            return None
        stats.append((st.st_size, st.st_mtime_ns))
    return (str(folder.resolve()), thresholds or SpeechThresholds(), *stats)


def read_speech(folder: Path | str, thresholds: SpeechThresholds | None = None) -> AudioSpeech:
    """Both tracks of a session folder and their speech segments; never raises for a missing, switched
    off or damaged recording (the `status` says which). Remembered per process while the files do not
    change (a ten-minute session takes ~0.2 s to read and analyse)."""
    folder = Path(folder)
    key = _memo_key(folder, thresholds)
    if key is not None and key in _MEMO:
        return _MEMO[key]
    speech = _read_speech(folder, thresholds)
    if key is not None:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = speech
    return speech


def _read_speech(folder: Path, thresholds: SpeechThresholds | None) -> AudioSpeech:
    audio = folder / AUDIO_DIR
    info = _read_json(audio / RECORDING_FILE)
    if not (audio / CANDIDATE_FILE).is_file() or not (audio / INTERVIEWER_FILE).is_file():
        if info.get("error"):  # the recorder could not start (no room on the disk, say)
            return AudioSpeech("failed", message=str(info["error"]))
        config = _read_json(folder / "session.json").get("config") or {}
        off = isinstance(config, dict) and config.get("record_audio") is False
        return AudioSpeech("off" if off else "missing", message=f"no recording in {audio}")
    speed = info.get("speed") or (_read_json(folder / "session.json").get("config") or {}).get("speed") or 1.0
    try:
        speed = float(speed)
        rate = SAMPLE_RATE * speed  # file samples per session second
        tracks = {role: _samples(audio / name)
                  for role, name in ((CANDIDATE, CANDIDATE_FILE), (INTERVIEWER, INTERVIEWER_FILE))}
    except (OSError, ValueError) as exc:
        log.warning("%s: recording not read: %s", folder.name, exc)
        return AudioSpeech("unreadable", message=str(exc))
    segments = {role: speech_segments(x, SAMPLE_RATE, thresholds) / speed for role, x in tracks.items()}
    status = "recorded" if info.get("closed") is True else "cut"
    duration = min(len(x) for x in tracks.values()) / rate
    return AudioSpeech(status, segments, duration, speed, info.get("error") or "")


def _turn_gap(speech: AudioSpeech, role: str, start: float, match_s: float) -> tuple[float, float, float]:
    """(gap, onset, other's end) for a turn of `role` that starts at `start` by the event log."""
    nan = (math.nan, math.nan, math.nan)
    other = INTERVIEWER if role == CANDIDATE else CANDIDATE
    own, theirs = speech.segments.get(role), speech.segments.get(other)
    if own is None or theirs is None or not len(own) or not math.isfinite(start):
        return nan
    i = int(np.argmin(np.abs(own[:, 0] - start)))
    onset = float(own[i, 0])
    if abs(onset - start) > match_s or onset > speech.duration:
        return nan
    before = theirs[theirs[:, 0] < onset]
    if not len(before):
        return nan[0], onset, nan[2]
    prev_end = float(before[-1, 1])
    own_between = own[(own[:, 0] < onset) & (own[:, 0] >= prev_end)]
    if len(own_between):  # this speaker spoke again after the other stopped: not a change of speaker
        return nan[0], onset, prev_end
    return onset - prev_end, onset, prev_end


def audio_gaps(folder: Path | str, turns: pd.DataFrame, *,
               speech: AudioSpeech | None = None, thresholds: SpeechThresholds | None = None,
               match_s: float = MATCH_S) -> pd.DataFrame:
    """`gap_audio_s` for each row of `turns` (a session's turns table: `load_session(folder).turns`
    has this joined already), same index.

    A row is matched to the onset of its role's speech in the audio nearest to its `start` (the
    interviewer's ``playback.started``, the candidate's VAD speech start), if within `match_s`. Its
    `gap_audio_s` is that onset minus the end of the other speaker's latest speech that began before it
    (negative: they overlapped, as at a barge-in), and NaN when the speaker had spoken again since (not a
    change of speaker), when nothing matched, or when the session has no usable recording.
    `audio_start` / `audio_prev_end` are the two edges (session seconds).
    """
    speech = speech if speech is not None else read_speech(folder, thresholds)
    out = pd.DataFrame(np.nan, index=turns.index, columns=list(GAP_COLUMNS))
    if not speech.usable or turns.empty:
        return out
    values = [
        _turn_gap(speech, str(role), float(start), match_s)
        for role, start in zip(turns["role"], turns["start"], strict=True)
    ]
    out.loc[:, list(GAP_COLUMNS)] = np.array(values, dtype=float).reshape(-1, 3)
    return out


def add_audio_gaps(turns: pd.DataFrame, folders: Mapping[str, Path | str], *,
                   thresholds: SpeechThresholds | None = None) -> pd.DataFrame:
    """`turns` (of one session or many: its `session` column names them) with `gap_audio_s` (and
    `audio_start`, `audio_prev_end`) from each session's folder in `folders` (name -> path); NaN for
    sessions without a usable recording."""
    out = turns.copy()
    for col in GAP_COLUMNS:
        out[col] = np.nan
    if out.empty:
        return out
    names = out["session"].astype(str)
    for name, path in folders.items():
        rows = names == name
        if rows.any():
            gaps = audio_gaps(path, out.loc[rows], thresholds=thresholds)
            out.loc[rows, list(GAP_COLUMNS)] = gaps.to_numpy()
    return out


@dataclass(frozen=True)
class BlandAltman:
    """Agreement of two measures of the same gaps (`diff` = audio - events, seconds).

    `bias`: the mean difference (the events' systematic offset from what was audible) with its 95 %
    confidence interval; `lower`/`upper`: the 95 % limits of agreement, bias -/+ 1.96 SD (where 95 % of
    differences fall); `median_abs`: the median absolute difference; `over`: pairs differing by more than
    `DISAGREE_S`.
    """

    n: int
    bias: float
    sd: float
    lower: float
    upper: float
    bias_ci: tuple[float, float]
    median_abs: float
    over: int

    def __str__(self) -> str:
        if not self.n:
            return "no turn has both gaps"
        return (f"n={self.n}: audio - events = {self.bias * 1000:+.0f} ms "
                f"(95 % CI {self.bias_ci[0] * 1000:+.0f} to {self.bias_ci[1] * 1000:+.0f}), "
                f"limits of agreement {self.lower * 1000:+.0f} to {self.upper * 1000:+.0f} ms, "
                f"median |diff| {self.median_abs * 1000:.0f} ms, {self.over} over {DISAGREE_S * 1000:.0f} ms")


def _pairs(turns: pd.DataFrame, audio: str, events: str) -> tuple[np.ndarray, np.ndarray]:
    a = turns[audio].to_numpy(dtype=float)
    b = turns[events].to_numpy(dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    return a[both], b[both]


def bland_altman(turns: pd.DataFrame, audio: str = "gap_audio_s", events: str = "gap_s") -> BlandAltman:
    """`BlandAltman` over the rows of `turns` that have both columns."""
    a, b = _pairs(turns, audio, events)
    n = len(a)
    if not n:
        nan = math.nan
        return BlandAltman(0, nan, nan, nan, nan, (nan, nan), nan, 0)
    d = a - b
    bias = float(d.mean())
    sd = float(d.std(ddof=1)) if n > 1 else 0.0
    half = 1.96 * sd / math.sqrt(n)
    return BlandAltman(n, bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, (bias - half, bias + half),
                       float(np.median(np.abs(d))), int((np.abs(d) > DISAGREE_S).sum()))


def disagreements(turns: pd.DataFrame, threshold: float = DISAGREE_S, audio: str = "gap_audio_s",
                  events: str = "gap_s") -> pd.DataFrame:
    """The turns whose audio and event gaps differ by more than `threshold` s, with the difference."""
    diff = turns[audio].astype(float) - turns[events].astype(float)
    out = turns.loc[diff.abs() > threshold].copy()
    out["gap_diff_s"] = diff[out.index]
    return out


def plot_bland_altman(turns: pd.DataFrame, *, ax: Any = None, audio: str = "gap_audio_s",
                      events: str = "gap_s", title: str | None = None) -> Any:
    """The Bland-Altman figure: each turn at (mean of the two gaps, audio - events) in ms, the bias and
    the limits of agreement as lines, turns differing by more than `DISAGREE_S` marked. Returns the
    figure (a `matplotlib.figure.Figure`, no pyplot)."""
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    a, b = _pairs(turns, audio, events)
    stats = bland_altman(turns, audio, events)
    mean, diff = (a + b) / 2 * 1000, (a - b) * 1000
    far = np.abs(diff) > DISAGREE_S * 1000
    ax.scatter(mean[~far], diff[~far], s=18, color="#1f77b4", label="turns")
    if far.any():
        ax.scatter(mean[far], diff[far], s=24, color="#d62728", marker="x",
                   label=f"differ by > {DISAGREE_S * 1000:.0f} ms")
    if stats.n:
        ax.axhline(stats.bias * 1000, color="black", lw=1, label=f"bias {stats.bias * 1000:+.0f} ms")
        ax.axhline(stats.lower * 1000, color="grey", lw=1, ls="--")
        ax.axhline(stats.upper * 1000, color="grey", lw=1, ls="--",
                   label=f"95 % limits {stats.lower * 1000:+.0f} / {stats.upper * 1000:+.0f} ms")
    ax.axhline(0, color="#cccccc", lw=0.8, zorder=0)
    ax.set_xlabel("mean of the two gaps (ms)")
    ax.set_ylabel("audio - events (ms)")
    ax.set_title(title or f"Gap agreement: audio vs event log (n={stats.n})")
    ax.legend(loc="best", fontsize="small", frameon=False)
    return fig


def agreement_by_session(turns: pd.DataFrame, audio: str = "gap_audio_s",
                         events: str = "gap_s") -> pd.DataFrame:
    """`bland_altman` per session: one row each (n, bias, limits, median |diff|, over 50 ms)."""
    rows = []
    for name, group in turns.groupby("session", observed=True, sort=True):
        s = bland_altman(group, audio, events)
        rows.append({"session": name, "n": s.n, "bias_s": s.bias, "lower_s": s.lower, "upper_s": s.upper,
                     "median_abs_s": s.median_abs, "over_50ms": s.over})
    return pd.DataFrame(rows, columns=["session", "n", "bias_s", "lower_s", "upper_s", "median_abs_s",
                                       "over_50ms"])
