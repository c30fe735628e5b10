"""Loaders: typed frames, stacking, and every way a folder can be broken."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest
from analysis_helpers import complete_session, ev, write_folder

from interview_kit.analysis import SessionLoadError, event_reader, load_session, load_sessions, session_folder
from interview_kit.analysis import load as load_module


def _quiet_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean folder loads without any warning
        return load_session(path)


def test_typed_columns(tmp_path):
    s = _quiet_load(write_folder(tmp_path, "s1", complete_session()))
    ev_ = s.events
    assert list(ev_.columns) == [
        "session",
        "t",
        "wall",
        "dir",
        "type",
        "response_id",
        "item_id",
        "phase",
        "bytes",
        "audio_start_ms",
        "audio_end_ms",
        "data",
    ]
    for col in ("session", "dir", "type", "phase", "response_id", "item_id"):
        assert isinstance(ev_[col].dtype, pd.CategoricalDtype), col
    assert ev_["t"].dtype == "float64" and ev_["wall"].dtype == "float64"
    assert str(ev_["bytes"].dtype) == "Int64"
    assert set(ev_["dir"].cat.categories) == {"in", "out", "local"}
    assert ev_["t"].is_monotonic_increasing
    assert ev_.loc[ev_["type"] == "input_audio_buffer.append", "bytes"].eq(4800).all()
    assert ev_.loc[ev_["type"] == "phase", "data"].iloc[0] == {
        "from": "interviewing",
        "to": "triggered",
        "reason": "tool",
    }
    assert s.meta["scenario"] == "default" and s.report["overall"] == 4.0 and s.transcript == []
    assert len(s.events) == len(complete_session())


def test_truncated_last_line_is_read_up_to_the_break(tmp_path):
    lines = complete_session()
    folder = write_folder(tmp_path, "crashed", lines, tail='{"t": 30.0, "wall": 1764000030.0, "dir": "lo')
    with pytest.warns(RuntimeWarning, match=r"crashed.*events\.jsonl: last line .* truncated"):
        s = load_session(folder)
    assert len(s.events) == len(lines)


def test_empty_events_file(tmp_path):
    folder = write_folder(tmp_path, "empty", [])
    with pytest.warns(RuntimeWarning, match="empty"):
        s = load_session(folder)
    assert len(s.events) == 0 and next(iter(s.events.columns)) == "session"
    assert s.turns.empty and s.phases.empty and s.pings.empty and s.stalls.empty
    row = s.summary().iloc[0]
    assert row["session"] == "empty" and row["outcome"] == "complete" and row["interviewer_turns"] == 0


@pytest.mark.parametrize("missing", ["events.jsonl", "session.json"])
def test_missing_file_names_it(tmp_path, missing):
    folder = write_folder(tmp_path, "s", complete_session())
    (folder / missing).unlink()
    with pytest.raises(SessionLoadError, match=rf"s/{missing}: missing"):
        load_session(folder)


@pytest.mark.parametrize("missing", ["transcript.json", "report.json"])
def test_missing_end_of_session_file_is_a_warning_naming_it(tmp_path, missing):
    """The session writes these two at its end: without them the folder still loads."""
    folder = write_folder(tmp_path, "s", complete_session())
    (folder / missing).unlink()
    with pytest.warns(RuntimeWarning, match=rf"s/{missing}: missing"):
        s = load_session(folder)
    assert len(s.events) == len(complete_session())
    assert (s.report is None) == (missing == "report.json")
    assert s.transcript == [] and s.summary().iloc[0]["gap_median_s"] == pytest.approx(1.10)


def test_a_killed_run_loads(tmp_path):
    """kill -9 mid-interview: events.jsonl (cut mid-line) and session.json, nothing else."""
    lines = [line for line in complete_session() if line["t"] < 14.0]
    folder = write_folder(tmp_path, "killed", lines, meta={"outcome": None}, tail='{"t": 14.0, "wa')
    (folder / "transcript.json").unlink()
    (folder / "report.json").unlink()
    with pytest.warns(RuntimeWarning) as caught:
        loaded = load_sessions(tmp_path, workers=1, include_unusable=True)
    messages = " ".join(str(w.message) for w in caught)
    assert "killed/transcript.json: missing" in messages and "killed/report.json: missing" in messages
    assert "killed/events.jsonl: last line" in messages
    assert loaded.names == ["killed"] and not loaded.errors
    assert loaded.reports == {"killed": None} and loaded.transcripts == {"killed": []}
    row = loaded.summary().iloc[0]
    assert row["outcome"] == "unfinished" and row["final_phase"] == "ack_speaking"
    assert bool(loaded.phases["unfinished"].iloc[-1])
    texts = loaded.turns.loc[loaded.turns["role"] == "candidate", "text"]
    assert list(texts) == ["I built a data pipeline.", "I would learn statistics."]  # from the log itself
    with pytest.warns(RuntimeWarning):  # by default an unfinished run is left out, and said so
        default = load_sessions(tmp_path, workers=1)
    assert default.names == [] and default.left_out.reasons["killed"].startswith("unfinished")


def test_one_strange_folder_does_not_stop_the_others(tmp_path):
    """Values of the wrong type where the contract has strings or small numbers: never a crash."""
    write_folder(tmp_path, "a-good", complete_session())
    mixed = [ev(0.0, "local", "session.started"), ev(1.0, "in", "response.created", rid="1")]
    mixed.append({**ev(2.0, "in", "response.done"), "response_id": 1})  # 1 and "1": one category
    write_folder(tmp_path, "b-mixed-ids", mixed)
    huge = [ev(0.0, "local", "session.started"), {**ev(1.0, "in", "x"), "bytes": int("9" * 400)}]
    write_folder(tmp_path, "c-huge-bytes", huge)
    write_folder(tmp_path, "d-huge-t", [ev(0.0, "local", "x"), {**ev(1.0, "in", "x"), "t": int("9" * 400)}])
    with pytest.warns(RuntimeWarning, match=r"skipped: .*d-huge-t/events\.jsonl: line 2 has no numeric 't'"):
        loaded = load_sessions(tmp_path, workers=1, include_unusable=True)
    assert loaded.names == ["a-good", "b-mixed-ids", "c-huge-bytes"]
    assert [p.path.name for p in loaded.errors] == ["d-huge-t"]
    ids = loaded["b-mixed-ids"].events["response_id"]
    assert [x if isinstance(x, str) else None for x in ids] == [None, "1", "1"]
    assert list(loaded.events["response_id"].cat.categories).count("1") == 1
    assert loaded["c-huge-bytes"].events["bytes"].isna().iloc[1]  # too big to be a size: unknown
    assert len(loaded.summary()) == 3


@pytest.mark.parametrize("where", ["events", "files"])
def test_an_unexpected_error_in_one_folder_is_a_load_problem(tmp_path, monkeypatch, where):
    """Whatever fails in one folder (its events by either reader, or its JSON files), the rest load."""
    write_folder(tmp_path, "a", complete_session())
    write_folder(tmp_path, "b", complete_session())
    if where == "events":  # both readers fail on b: the fast one declines, the reference one raises
        real_fast, real_ref = event_reader.read_events_fast, session_folder.file_events
        monkeypatch.setattr(
            load_module, "read_events_fast", lambda p, sd: None if p.parent.name == "b" else real_fast(p, sd)
        )

        def fails_on_b(path, rows, stream_data):
            if path.parent.name == "b":
                raise MemoryError("out of memory")
            return real_ref(path, rows, stream_data)

        monkeypatch.setattr(session_folder, "file_events", fails_on_b)
    else:
        real_files = load_module.read_folder_files

        def files_fail_on_b(folder):
            if folder.name == "b":
                raise MemoryError("out of memory")
            return real_files(folder)

        monkeypatch.setattr(load_module, "read_folder_files", files_fail_on_b)
    with pytest.warns(RuntimeWarning, match=r"skipped: .*b: cannot be read: MemoryError: out of memory"):
        loaded = load_sessions(tmp_path, workers=1, cache=False)
    assert loaded.names == ["a"] and "MemoryError" in loaded.errors[0].error


def test_reader_threads_one_per_cpu_up_to_eight_and_never_more_than_folders(monkeypatch):
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 4)
    assert [load_module.default_workers(n) for n in (0, 1, 3, 100)] == [1, 1, 3, 4]
    monkeypatch.setattr(load_module.os, "cpu_count", lambda: 64)
    assert load_module.default_workers(1000) == 8


def test_corrupt_line_names_file_and_line(tmp_path):
    folder = write_folder(tmp_path, "s", [ev(0.0, "local", "session.started")])
    with (folder / "events.jsonl").open("a") as f:
        f.write("{not json}\n")
        f.write(json.dumps(ev(1.0, "local", "session.ended", outcome="complete")) + "\n")
    with pytest.raises(SessionLoadError, match=r"events\.jsonl: line 2 is not valid JSON"):
        load_session(folder)
    # a bad last line that was written whole (newline after it) is corruption, not a crash mid-write
    folder = write_folder(tmp_path, "t", [ev(0.0, "local", "session.started")], tail='{"t": 1.0, "ty\n')
    with pytest.raises(SessionLoadError, match=r"t/events\.jsonl: line 2 is not valid JSON"):
        load_session(folder)


@pytest.mark.parametrize(
    "line, why",
    [
        ("[1, 2]", "line 2 is not a JSON object"),
        ('{"wall": 1.0, "dir": "in", "type": "x"}', "line 2 has no numeric 't'"),
        ('{"t": 1.0, "dir": "in"}', "line 2 has no 'type'"),
        ('{"t": 1.0, "dir": ["in"], "type": "x"}', "holds a list or object"),
    ],
)
def test_malformed_lines(tmp_path, line, why):
    folder = write_folder(
        tmp_path,
        "s",
        [ev(0.0, "local", "session.started")],
        tail=line + "\n" + json.dumps(ev(2.0, "local", "session.ended")) + "\n",
    )
    with pytest.raises(SessionLoadError, match=why):
        load_session(folder)


def test_corrupt_json_files_name_the_file(tmp_path):
    folder = write_folder(tmp_path, "s", complete_session())
    (folder / "session.json").write_text("{oops", encoding="utf-8")
    with pytest.raises(SessionLoadError, match=r"session\.json: not valid JSON"):
        load_session(folder)
    folder = write_folder(tmp_path, "t", complete_session())
    (folder / "transcript.json").write_text('{"turns": 3}', encoding="utf-8")
    with pytest.raises(SessionLoadError, match=r"transcript\.json: expected"):
        load_session(folder)
    folder = write_folder(tmp_path, "u", complete_session())
    (folder / "events.jsonl").write_bytes(b'{"t": 0.0, "type": "\xff\xfe"}\n')
    with pytest.raises(SessionLoadError, match=r"u/events\.jsonl"):
        load_session(folder)


def test_load_sessions_goes_past_broken_folders(tmp_path):
    write_folder(tmp_path, "a", complete_session(), meta={"scenario": "default"})
    broken = write_folder(tmp_path, "b", complete_session())
    (broken / "events.jsonl").write_text('{"t": 0.0, "type": "x"}\n{bad\n{"t": 2.0, "type": "y"}\n')
    write_folder(
        tmp_path, "c", complete_session(), meta={"scenario": "slow-report", "assessment_mode": "blocking"}
    )
    with pytest.warns(RuntimeWarning, match=r"skipped: .*b/events\.jsonl: line 2"):
        loaded = load_sessions(str(tmp_path / "*"))
    assert loaded.names == ["a", "c"]
    assert [p.path.name for p in loaded.errors] == ["b"] and "line 2" in loaded.errors[0].error
    assert list(loaded.events["session"].cat.categories) == ["a", "c"]
    assert len(loaded.events) == 2 * len(complete_session())
    assert list(loaded.summary()["session"]) == ["a", "c"]
    # the same session, loaded alone or out of a stack, gives the same frames
    alone = load_session(tmp_path / "c")
    pd.testing.assert_frame_equal(loaded["c"].turns, alone.turns, check_categorical=False)
    # filter by session.json fields
    slow = loaded.select(scenario="slow-report")
    assert slow.names == ["c"] and set(slow.events["session"].unique()) == {"c"}
    assert loaded.select(assessment_mode=["overlap", "after-ack"]).names == ["a"]
    assert len(loaded.select(scenario="nope")) == 0 and loaded.select(scenario="nope").summary().empty
    with pytest.raises(KeyError, match="no session 'zzz'"):
        loaded["zzz"]


def test_paths_parent_folders_and_missing(tmp_path):
    write_folder(tmp_path / "sessions", "a", complete_session())
    write_folder(tmp_path / "sessions", "b", complete_session())
    (tmp_path / "sessions" / "notes.txt").write_text("not a session")
    assert load_sessions(tmp_path / "sessions").names == ["a", "b"]  # a parent folder
    assert load_sessions([tmp_path / "sessions" / "b" / "events.jsonl"]).names == ["b"]
    with pytest.warns(RuntimeWarning, match="matched no session folder"):
        assert load_sessions(str(tmp_path / "nothing-*")).names == []
    with pytest.warns(RuntimeWarning, match="not a session folder"):
        loaded = load_sessions([tmp_path / "sessions" / "a", tmp_path / "gone"])
    assert loaded.names == ["a"] and len(loaded.errors) == 1


def test_reader_threads_give_the_same_result(tmp_path):
    for i in range(5):
        write_folder(tmp_path, f"s{i}", complete_session(), meta={"scenario": f"sc{i % 2}"})
    write_folder(tmp_path, "s5-crashed", complete_session(), tail='{"t": 30.0, "wa')
    (write_folder(tmp_path, "s6-broken", complete_session()) / "report.json").write_text("{")
    with pytest.warns(RuntimeWarning) as caught:
        one = load_sessions(tmp_path, workers=1, cache=False)
    with pytest.warns(RuntimeWarning) as caught_in_threads:
        two = load_sessions(tmp_path, workers=2, cache=False)
    messages = sorted(str(w.message) for w in caught)
    assert messages == sorted(str(w.message) for w in caught_in_threads)  # every warning, once
    assert any("s5-crashed/events.jsonl: last line" in m for m in messages)
    assert any("s6-broken/report.json: not valid JSON" in m for m in messages)
    assert one.names == two.names == ["s0", "s1", "s2", "s3", "s4", "s5-crashed"]
    assert [p.path.name for p in two.errors] == ["s6-broken"]
    pd.testing.assert_frame_equal(one.events, two.events)
    pd.testing.assert_frame_equal(one.summary(), two.summary())
