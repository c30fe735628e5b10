"""The fast paths of loading: the columnar reader gives the reference reader's columns, and the per-folder
Parquet cache is used only while it describes ``events.jsonl`` as it is, and never stops a load."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import barge_in_session, complete_session, ev, write_folder

from interview_kit.analysis import SessionLoadError, load_session, load_sessions
from interview_kit.analysis import load as load_module
from interview_kit.analysis.event_cache import CACHE_DIR, cache_path, read_cache
from interview_kit.analysis.event_reader import read_events_fast
from interview_kit.analysis.session_folder import FileEvents, file_events, parse_events_file

SAMPLES = sorted(p for p in (Path(__file__).parents[1] / "data" / "sessions").glob("*/events.jsonl"))


def assert_same_events(fast: FileEvents, ref: FileEvents) -> None:
    assert fast.count == ref.count
    for name, values in ref.numbers.items():
        np.testing.assert_array_equal(fast.numbers[name], values, err_msg=name)
        assert fast.numbers[name].dtype == values.dtype, name
    for name, categories in ref.categories.items():
        assert fast.categories[name] == categories, name
        np.testing.assert_array_equal(fast.codes[name], ref.codes[name], err_msg=name)
        assert fast.codes[name].dtype == ref.codes[name].dtype, name
    assert fast.data == ref.data


@pytest.mark.parametrize("stream_data", [False, True])
@pytest.mark.parametrize("path", SAMPLES, ids=[p.parent.name for p in SAMPLES])
def test_fast_reader_gives_the_reference_columns_on_recorded_samples(
    path: Path, stream_data: bool, tmp_path: Path
) -> None:
    copy = tmp_path / "events.jsonl"  # a copy: a sample being re-recorded must not change between reads
    try:
        copy.write_bytes(path.read_bytes())
    except FileNotFoundError:
        pytest.skip(f"{path} was removed (the samples are being recorded again)")
    path = copy
    fast = read_events_fast(path, stream_data)
    assert fast is not None and fast.notes == []
    assert_same_events(fast.events, file_events(path, parse_events_file(path), stream_data))
    assert fast.with_data == [i for i, d in enumerate(fast.events.data) if d is not None]


def reference_load(folder: Path, monkeypatch: pytest.MonkeyPatch, **kwargs) -> object:
    """`load_session` with the fast reader switched off: the reference reader alone, no cache."""
    with monkeypatch.context() as m:
        m.setattr(load_module, "read_events_fast", lambda path, stream_data: None)
        return load_session(folder, cache=False, **kwargs)


def loaded_or_error(load) -> tuple[object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = load()
        except SessionLoadError as exc:
            result = f"error: {exc}"
    return result, [str(w.message) for w in caught]


ODD_TAILS = {
    "numeric id": json.dumps({**ev(30.0, "in", "response.done"), "response_id": 7}) + "\n",
    "blank lines": "\n\n" + json.dumps(ev(30.0, "local", "x")) + "\n\n",
    "two objects on a line": json.dumps(ev(30.0, "local", "x")) + " " + json.dumps(ev(31.0, "local", "y"))
    + "\n",
    "crlf": json.dumps(ev(30.0, "local", "x")) + "\r\n",
    "NaN wall": '{"t": 30.0, "wall": NaN, "type": "x"}\n',
    "overflowing wall": '{"t": 30.0, "wall": 1' + "0" * 400 + ', "type": "x"}\n',
    "huge bytes": '{"t": 30.0, "type": "x", "bytes": 1' + "0" * 30 + "}\n",
    "fractional bytes": '{"t": 30.0, "type": "x", "bytes": 1.5}\n',
    "bool t": '{"t": true, "type": "x"}\n',
    "data not an object": '{"t": 30.0, "type": "x", "data": [1, 2]}\n',
    "stream line with a big int": '{"t": 30.0, "type": "input_audio_buffer.append", "data": {"n": 1'
    + "0" * 30
    + "}}\n",
    "bad UTF-8 in a stream line": '{"t": 30.0, "type": "response.output_audio.delta", "data": {"d": "'
    + "\udcff"
    + '"}}\n',
    "truncated last line": '{"t": 30.0, "wall": 1764000030.0, "dir": "lo',
    "whole last line without newline": json.dumps(ev(30.0, "local", "x")),
    "bad line then more": "{oops}\n" + json.dumps(ev(31.0, "local", "x")) + "\n",
    "a line that is not an object": "[1, 2]\n",
}


@pytest.mark.parametrize("tail", list(ODD_TAILS), ids=list(ODD_TAILS))
def test_odd_files_load_as_the_reference_reader_loads_them(tmp_path, monkeypatch, tail) -> None:
    """Whatever the fast reader declines or takes, the frame, the warnings and the errors are the
    reference reader's: with and without the stream lines' data, written to the cache and read back."""
    folder = write_folder(tmp_path, "s", complete_session())
    with (folder / "events.jsonl").open("ab") as f:
        f.write(ODD_TAILS[tail].encode("utf-8", "surrogateescape"))
    loads = {  # the second stream_data=False load reads the cache the first one wrote (if it could)
        "whole": (True, lambda: load_session(folder)),
        "first": (False, lambda: load_session(folder, stream_data=False)),
        "cached": (False, lambda: load_session(folder, stream_data=False)),
        "many": (False, lambda: load_sessions([folder], workers=1, include_unusable=True)),
    }
    for name, (stream_data, load) in loads.items():
        expected, expected_warnings = loaded_or_error(
            lambda sd=stream_data: reference_load(folder, monkeypatch, stream_data=sd)
        )
        got, got_warnings = loaded_or_error(load)
        if name != "many":  # load_sessions words a skipped folder its own way
            assert got_warnings == expected_warnings, name
        if isinstance(expected, str):
            assert got == expected or (name == "many" and not len(got.names)), name
        else:
            pd.testing.assert_frame_equal(got.events, expected.events, obj=name)


def test_second_load_reads_the_cache_and_gives_the_same_frames(tmp_path, monkeypatch) -> None:
    write_folder(tmp_path, "a", complete_session())
    write_folder(tmp_path, "b", barge_in_session())
    first = load_sessions(tmp_path, workers=2, include_unusable=True)
    assert cache_path(tmp_path / "a").is_file() and cache_path(tmp_path / "b").is_file()
    reads: list[Path] = []
    real = load_module.read_events_fast
    monkeypatch.setattr(load_module, "read_events_fast", lambda p, sd: reads.append(p) or real(p, sd))
    second = load_sessions(tmp_path, workers=2, include_unusable=True)
    assert reads == []  # no JSON parsed
    pd.testing.assert_frame_equal(first.events, second.events)
    pd.testing.assert_frame_equal(first.turns, second.turns)
    pd.testing.assert_frame_equal(first.summary(), second.summary())
    # a load that keeps the stream lines' data reads the file (the cache does not hold it)
    whole = load_session(tmp_path / "a")
    assert reads == [tmp_path / "a" / "events.jsonl"]
    appends = whole.events[whole.events["type"] == "input_audio_buffer.append"]
    assert appends["data"].map(lambda d: isinstance(d, dict)).all()
    assert first.events.loc[first.events["type"] == "input_audio_buffer.append", "data"].isna().all()


def test_cache_is_invalidated_by_size_and_by_mtime(tmp_path) -> None:
    folder = write_folder(tmp_path, "s", complete_session())
    events = folder / "events.jsonl"
    n = len(load_session(folder, stream_data=False).events)
    with events.open("a") as f:  # a live session appends: size changes
        f.write(json.dumps(ev(40.0, "local", "late.line")) + "\n")
    again = load_session(folder, stream_data=False)
    assert len(again.events) == n + 1 and again.events["type"].iloc[-1] == "late.line"
    stat = events.stat()
    assert read_cache(folder, stat.st_size, stat.st_mtime_ns) is not None  # rewritten for the new file
    # an edit of the same size: only the mtime tells
    text = events.read_text()
    events.write_text(text.replace('"late.line"', '"edit.line"'))
    os.utime(events, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert events.stat().st_size == stat.st_size
    assert load_session(folder, stream_data=False).events["type"].iloc[-1] == "edit.line"


@pytest.mark.parametrize("damage", ["torn", "garbage", "empty"])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path, damage) -> None:
    folder = write_folder(tmp_path, "s", complete_session())
    good = load_session(folder, stream_data=False).events
    cache = cache_path(folder)
    blob = cache.read_bytes()
    broken = {"torn": blob[: len(blob) // 2], "garbage": os.urandom(len(blob)), "empty": b""}[damage]
    cache.write_bytes(broken)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # quietly
        again = load_session(folder, stream_data=False).events
    pd.testing.assert_frame_equal(again, good)
    assert cache.read_bytes() == blob  # rewritten whole


def test_a_folder_that_cannot_hold_a_cache_still_loads(tmp_path) -> None:
    folder = write_folder(tmp_path, "s", complete_session())
    (folder / CACHE_DIR).write_text("a file where the cache folder would go")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_sessions([folder], workers=1)
    assert len(loaded.events) == len(complete_session())
    assert sorted(p.name for p in folder.iterdir()) == [
        CACHE_DIR, "events.jsonl", "report.json", "session.json", "transcript.json"
    ]


def test_cache_false_neither_reads_nor_writes(tmp_path) -> None:
    folder = write_folder(tmp_path, "s", complete_session())
    load_sessions([folder], workers=1, cache=False)
    load_session(folder, stream_data=False, cache=False)
    assert not (folder / CACHE_DIR).exists()


def test_a_cached_crash_still_warns_and_names_where_the_folder_is_now(tmp_path) -> None:
    lines = complete_session()
    write_folder(tmp_path / "before", "crashed", lines, tail='{"t": 30.0, "wa')
    with pytest.warns(RuntimeWarning, match=r"before/crashed/events\.jsonl: last line \d+ is truncated"):
        first = load_session(tmp_path / "before" / "crashed", stream_data=False)
    (tmp_path / "before").rename(tmp_path / "after")  # a rename keeps the mtime: the cache still holds
    moved = tmp_path / "after" / "crashed"
    stat = (moved / "events.jsonl").stat()
    assert read_cache(moved, stat.st_size, stat.st_mtime_ns) is not None
    with pytest.warns(RuntimeWarning, match=r"after/crashed/events\.jsonl: last line \d+ is truncated") as w:
        second = load_session(moved, stream_data=False)
    assert len(w) == 1 and len(second.events) == len(first.events) == len(lines)


def test_a_fractional_byte_count_is_not_a_size(tmp_path) -> None:
    """One odd value in one folder must not stop a load of many (it used to raise in the stacking)."""
    write_folder(tmp_path, "a", complete_session())
    write_folder(tmp_path, "b", [ev(0.0, "local", "x", phase="p"), {**ev(1.0, "in", "y"), "bytes": 1.5}])
    loaded = load_sessions(tmp_path, workers=1, include_unusable=True)
    sizes = loaded["b"].events["bytes"]
    assert str(sizes.dtype) == "Int64" and sizes.isna().all()
    assert loaded["a"].events["bytes"].notna().any()
