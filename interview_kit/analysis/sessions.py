"""The loaded forms of session folders: `Session` (one) and `Sessions` (many, stacked).

Both hold the events frame and the folders' JSON files (`session_folder`), and derive the other tables
on first use (`phases`, `turns`, `pings`, `stalls` from `tables`; `summary` and the voice-to-voice gaps
from `metrics`), so loading stays as fast as parsing. `load` builds them; nothing here reads files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from interview_kit.analysis import metrics, tables
from interview_kit.analysis.audio_gaps import add_audio_gaps
from interview_kit.analysis.session_folder import META_COLUMNS, FolderFiles, LoadProblem
from interview_kit.analysis.usable import LeftOut, RunFacts, run_speed, run_target, unusable_reason
from interview_kit.records import Rec

# What the sessions table adds to the session.json fields: the run's conditions and whether it can be
# compared with real-time interviews (`usable`; see `interview_kit.analysis.usable`).
CONDITION_COLUMNS = ("mode", "speed", "target", "usable", "unusable_reason")


class _Frames:
    """What one session and many share: the events and the tables derived from them."""

    events: pd.DataFrame
    _files: list[FolderFiles]

    @property
    def transcripts(self) -> dict[str, list[dict[str, Any]]]:
        """Session name -> its `transcript.json` turns ([] when the folder has none)."""
        return {f.name: f.transcript for f in self._files}

    @property
    def reports(self) -> dict[str, dict[str, Any] | None]:
        """Session name -> its `report.json` (None when the folder has none: a run that crashed or was
        killed before its end)."""
        return {f.name: f.report for f in self._files}

    @property
    def metas(self) -> dict[str, dict[str, Any]]:
        """Session name -> its `session.json`."""
        return {f.name: f.meta for f in self._files}

    @cached_property
    def sessions(self) -> pd.DataFrame:
        """One row per session: `session`, `folder`, the headline fields of `session.json`, and the run's
        conditions: `mode` (the assessment mode), `speed`, `target` (`emulator`, `hosted`, or the URL),
        `usable` and `unusable_reason` (see `interview_kit.analysis.usable`)."""
        rows = []
        facts = self.facts
        for f in self._files:
            meta = f.meta
            row = {"session": f.name, "folder": str(f.path)}
            row.update({k: meta.get(k) for k in META_COLUMNS})
            row["outcome"] = row["outcome"] or (facts[f.name].ended_outcome if f.name in facts else None)
            row["prompt"] = (f.report or {}).get("prompt")
            reason = unusable_reason(meta, facts.get(f.name))
            row.update(
                mode=meta.get("assessment_mode"),
                speed=run_speed(meta),
                target=run_target(meta),
                usable=reason is None,
                unusable_reason=reason,
            )
            rows.append(row)
        frame = pd.DataFrame(rows, columns=["session", "folder", *META_COLUMNS, "prompt", *CONDITION_COLUMNS])
        frame["close_code"] = pd.to_numeric(frame["close_code"], errors="coerce").astype("Int64")
        frame["speed"] = frame["speed"].astype(float)
        frame["usable"] = frame["usable"].astype(bool)
        for col in ("session", "scenario", "assessment_mode", "outcome", "mode", "target"):
            frame[col] = frame[col].astype("category")
        return frame

    @cached_property
    def facts(self) -> dict[str, RunFacts]:
        """Session name -> what its event log says about the run (`usable.RunFacts`), from the few lines
        that tell it (one vectorised pass picks them out of millions)."""
        events = self.events
        wanted = (Rec.RESPONSE_CREATED, Rec.TRIGGER, Rec.PHASE, Rec.SESSION_ENDED)
        few = events.loc[events["type"].isin(list(wanted)), ["session", "type", "data"]]
        answered: set[str] = set()
        triggered: set[str] = set()
        phases: dict[str, set[str]] = {}
        outcomes: dict[str, str] = {}
        for name, ty, d in zip(few["session"].astype(str), few["type"], few["data"], strict=True):
            d = d if isinstance(d, dict) else {}
            if ty == Rec.RESPONSE_CREATED:
                answered.add(name)
            elif ty == Rec.TRIGGER:
                triggered.add(name)
            elif ty == Rec.PHASE:
                phases.setdefault(name, set()).update(str(d[k]) for k in ("from", "to") if d.get(k))
            elif isinstance(d.get("outcome"), str):
                outcomes[name] = d["outcome"]
        return {
            f.name: RunFacts(
                answered=f.name in answered,
                triggered=f.name in triggered,
                phases=frozenset(phases.get(f.name, ())),
                ended_outcome=outcomes.get(f.name),
            )
            for f in self._files
        }

    @cached_property
    def parts(self) -> tables.EventParts:
        """The pieces several tables derive from `events` (control lines, audio clock, speech segments),
        computed once and shared."""
        return tables.EventParts(self.events)

    @cached_property
    def voice_to_voice_frame(self) -> pd.DataFrame:
        """`metrics.voice_to_voice` of these sessions, computed once (`voice_to_voice(s)` returns a copy)."""
        return metrics.voice_to_voice_table(self.parts)

    @cached_property
    def phases(self) -> pd.DataFrame:
        """One row per phase; see `tables.phases_table`."""
        return tables.phases_table(self.events)

    @cached_property
    def turns(self) -> pd.DataFrame:
        """One row per interviewer and candidate turn with its voice-to-voice latency parts; see
        `tables.turns_table` and `metrics.voice_to_voice`."""
        turns = tables.turns_table(self.events, self.transcripts, self.parts)
        gaps = self.voice_to_voice_frame
        key = turns["session"].astype(str) + "\x00" + turns["response_id"].astype(str)
        gap_key = gaps["session"].astype(str) + "\x00" + gaps["response_id"].astype(str)
        for col in ("speech_end", "vad_s", "server_created_s", "server_audio_s", "client_s", "gap_s"):
            turns[col] = key.map(dict(zip(gap_key, gaps[col], strict=True))).astype(float)
        # `gap_audio_s`: the same silence measured from the recorded audio (NaN without a recording)
        return add_audio_gaps(turns, {f.name: f.path for f in self._files})

    @cached_property
    def connections(self) -> pd.DataFrame:
        """One row per connection (a reconnect starts a new one); see `tables.connections_table`."""
        return tables.connections_table(self.parts.ctrl)

    @cached_property
    def pings(self) -> pd.DataFrame:
        """One row per keepalive ping; see `tables.pings_table`."""
        return tables.pings_table(self.events)

    @cached_property
    def stalls(self) -> pd.DataFrame:
        """One row per event-loop stall; see `tables.stalls_table`."""
        return tables.stalls_table(self.events, self.phases)

    def summary(self) -> pd.DataFrame:
        """One row per session with the headline figures; see `metrics.summary`."""
        return metrics.summary(self)

    def medians(self, by: Any = ("scenario", "mode")) -> pd.DataFrame:
        """Every gap and phase duration's median per group, with a bootstrap 95 % interval; see
        `metrics.medians`."""
        return metrics.medians(self, by=by)


class Session(_Frames):
    """One loaded session folder: `events`, `phases`, `turns`, `pings`, `stalls` (DataFrames), plus
    `meta` (session.json), `transcript` (its turns) and `report` (report.json or None)."""

    def __init__(self, events: pd.DataFrame, files: FolderFiles) -> None:
        self.events = events
        self._files = [files]

    @property
    def name(self) -> str:
        return self._files[0].name

    @property
    def path(self) -> Path:
        return self._files[0].path

    @property
    def meta(self) -> dict[str, Any]:
        return self._files[0].meta

    @property
    def transcript(self) -> list[dict[str, Any]]:
        return self._files[0].transcript

    @property
    def report(self) -> dict[str, Any] | None:
        return self._files[0].report

    def __repr__(self) -> str:
        return (
            f"<Session {self.name}: {len(self.events)} events, outcome {self.meta.get('outcome')!r}, "
            f"scenario {self.meta.get('scenario')!r}>"
        )


class Sessions(_Frames):
    """Many loaded sessions stacked with a `session` column; `errors` lists the folders skipped, and
    `left_out` the sessions left out as unusable (`usable_only`), with why."""

    def __init__(
        self,
        events: pd.DataFrame,
        files: Sequence[FolderFiles],
        errors: Sequence[LoadProblem] = (),
        left_out: LeftOut | None = None,
    ) -> None:
        self.events = events
        self._files = list(files)
        self.errors: list[LoadProblem] = list(errors)
        self.left_out: LeftOut = left_out if left_out is not None else LeftOut(total=len(self._files))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self._files]

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[Session]:
        for f in self._files:
            yield self[f.name]

    def __getitem__(self, name: str) -> Session:
        """One session by folder name."""
        for f in self._files:
            if f.name == name:
                events = self.events.iloc[self._rows.get(name, [])].reset_index(drop=True)
                events["session"] = events["session"].cat.set_categories([name])
                return Session(events, f)
        raise KeyError(f"no session {name!r}; loaded: {', '.join(self.names) or 'none'}")

    @cached_property
    def _rows(self) -> dict[str, Any]:
        """Session name -> its row positions in `events`, found once (iterating stays linear)."""
        return {str(k): v for k, v in self.events.groupby("session", observed=True).indices.items()}

    def select(self, names: Sequence[str] | None = None, **equals: Any) -> Sessions:
        """The sessions whose `session.json` fields, or the run's conditions of the sessions table
        (`mode`, `speed`, `target`, `usable`), equal the given values (a list means any of them), e.g.
        ``select(scenario="slow-report", mode=["overlap", "after-ack"])``."""
        wanted = [k for k in equals if k in CONDITION_COLUMNS]
        table = self.sessions.astype({"session": str}).set_index("session") if wanted else None
        chosen = []
        for f in self._files:
            if names is not None and f.name not in names:
                continue
            row = table.loc[f.name] if table is not None else None
            if all(
                _matches(row[k] if row is not None and k in wanted else f.meta.get(k), v)
                for k, v in equals.items()
            ):
                chosen.append(f)
        keep = [f.name for f in chosen]
        events = self.events[self.events["session"].isin(keep)].reset_index(drop=True)
        events["session"] = events["session"].cat.set_categories(keep)
        left = self.left_out
        matching = {  # the left-out sessions this selection would have taken
            name: why
            for name, why in left.reasons.items()
            if (names is None or name in names)
            and all(_matches(_condition(left.metas.get(name, {}), k), v) for k, v in equals.items())
        }
        left_out = LeftOut(len(chosen) + len(matching), matching, {n: left.metas[n] for n in matching})
        return Sessions(events, chosen, self.errors, left_out)

    def usable_only(self, where: str = "sessions") -> Sessions:
        """These sessions without the unusable ones (`sessions.usable` False: sped up, unfinished, a
        start-up failure, or never assessed), with `left_out` saying how many and why (also logged,
        naming `where`). Returns `self` when every session is usable."""
        table = self.sessions
        bad = table[~table["usable"]]
        if bad.empty:
            return self
        names = set(bad["session"].astype(str))
        reasons = {
            **self.left_out.reasons,
            **dict(zip(bad["session"].astype(str), bad["unusable_reason"], strict=True)),
        }
        metas = {**self.left_out.metas, **{f.name: f.meta for f in self._files if f.name in names}}
        keep = [f.name for f in self._files if f.name not in names]
        chosen = self.select(names=keep)
        chosen.left_out = LeftOut(self.left_out.total, reasons, metas)
        chosen.left_out.log(where)
        return chosen

    def __repr__(self) -> str:
        skipped = f", {len(self.errors)} skipped" if self.errors else ""
        left = f", {len(self.left_out)} left out as unusable" if self.left_out.reasons else ""
        return f"<Sessions: {len(self)} sessions, {len(self.events)} events{skipped}{left}>"


def _condition(meta: Any, key: str) -> Any:
    """A session.json field, or a run condition of the sessions table, of a session left out as unusable."""
    derived = {
        "mode": lambda m: m.get("assessment_mode"),
        "speed": run_speed,
        "target": run_target,
        "usable": lambda m: False,
    }
    return derived[key](meta) if key in derived else meta.get(key)


def _matches(value: Any, wanted: Any) -> bool:
    if isinstance(wanted, list | tuple | set | frozenset):
        return value in wanted
    return bool(value == wanted)


def meta_columns(frames: _Frames, frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """`frame` (with a `session` column) with session-level columns joined on: those of
    `frames.sessions`, else any top-level `session.json` field. Unknown names are left out."""
    table = frames.sessions.astype({"session": str}).set_index("session")
    metas = frames.metas
    key = frame["session"].astype(str)
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            continue
        if col in table.columns:
            out[col] = key.map(table[col].astype(object)).to_numpy()
        elif any(col in m for m in metas.values()):
            out[col] = key.map({name: m.get(col) for name, m in metas.items()}).to_numpy()
    return out
