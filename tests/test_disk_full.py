"""A full disk: noticed at the first failed write, said once in words, passed to the session; whole
lines only in events.jsonl; the outcome still reaches session.json (the folder's reserve); no write
raises, no traceback, ever.

A real tmpfs when the tests run as root (a real ENOSPC, real short writes); the same paths with an
injected ENOSPC everywhere else.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from session_helpers import TINY_SCENARIO
from test_eventlog import FillingDisk

from interview_kit import folder as folder_module
from interview_kit.assessment import HeuristicAssessor, load_prompt
from interview_kit.folder import EVENTS_FILE, REPORT_FILE, RESERVE_FILE, SESSION_FILE, SessionFolder
from interview_kit.records import AssessmentMode
from interview_kit.report_runner import ReportRunner

REPO = Path(__file__).resolve().parents[1]
NO_SPACE = "No space left on device while writing events.jsonl"
LINE = {"text": "x" * 250}  # about 300 bytes a line


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 200 KB tmpfs (the issue's reproduction), unmounted afterwards."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux; the injected-ENOSPC tests cover the same code")
    where = tmp_path / "full"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"could not mount a tmpfs (a container without CAP_SYS_ADMIN?): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: SessionFolder, told: list[str], limit: int = 5000) -> int:
    """Record lines until the folder says the disk is full; how many were recorded."""
    for n in range(limit):
        folder.log.record("local", "tick", data={"n": n, **LINE})
        if n % 32 == 31:
            folder.log.flush()
        if told:
            return n + 1
    raise AssertionError(f"the disk never filled up in {limit} lines")


def assert_whole_and_ended(path: Path) -> list[dict]:
    lines = [json.loads(line) for line in (path / EVENTS_FILE).read_bytes().splitlines()]  # each one whole
    assert (path / EVENTS_FILE).read_bytes().endswith(b"\n")
    assert lines[-1]["type"] == "session.ended"
    return lines


def end_like_a_session(folder: SessionFolder) -> None:
    """What the session's ending does: transcript, last line, session.json with the outcome, close."""
    assert folder.write("transcript.json", {"turns": [{"role": "candidate", "text": "words " * 200}]})
    folder.log.record("local", "session.ended", data={"outcome": "failed"})
    assert folder.write_session({"outcome": "failed"}, ended=True)
    folder.close()


def test_a_real_full_disk(small_tmpfs: Path, caplog: pytest.LogCaptureFixture) -> None:
    told: list[str] = []
    folder = SessionFolder(small_tmpfs, on_write_error=told.append)
    assert (folder.path / RESERVE_FILE).exists()
    assert folder.write_session({"outcome": None}, ended=False)
    fill(folder, told)
    for n in range(100):  # the interview goes on for a while: nothing raises, nothing more is said
        folder.log.record("local", "tick", data={"n": n, **LINE})
    assert folder.write(REPORT_FILE, {"error": "a report saved into the reserve", "pad": "y" * 2000})
    end_like_a_session(folder)
    assert told == [NO_SPACE]
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].getMessage() == f"{NO_SPACE}; the interview is ending"
    assert json.loads((folder.path / SESSION_FILE).read_text())["outcome"] == "failed"
    lines = assert_whole_and_ended(folder.path)
    assert folder.log.lines_lost > 0 and len(lines) == folder.log.lines_written
    assert not (folder.path / RESERVE_FILE).exists()


def test_the_demo_on_a_full_disk_ends_with_one_line(small_tmpfs: Path, tmp_path: Path) -> None:
    """The issue's "done when": ``interview-kit demo --out <200 KB tmpfs>`` ends with one clear line, exit
    1 and no traceback, its folder holding the outcome (needs the session's on_write_error wiring)."""
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY)
    done = subprocess.run(
        [sys.executable, "-m", "interview_kit", "demo", "--scenario", str(scenario), "--speed", "20",
         "--out", str(small_tmpfs)], capture_output=True, text=True, timeout=180, cwd=REPO)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("No space left on device") == 1, done.stderr
    assert f"{NO_SPACE}; the interview is ending" in done.stderr
    assert done.returncode == 1, (done.stdout[-1500:], done.stderr)
    [path] = small_tmpfs.glob("*")
    assert json.loads((path / SESSION_FILE).read_text())["outcome"] == "failed"
    assert_whole_and_ended(path)
    assert done.stdout.strip().splitlines()[-1] == str(path)


TINY = TINY_SCENARIO


# --- the same, with an injected ENOSPC (any machine) ------------------------------------------------


def test_an_injected_full_disk_in_the_event_log(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    told: list[str] = []
    folder = SessionFolder(tmp_path, on_write_error=told.append)
    disk = folder.log._file = FillingDisk(folder.log._file, room=20_000)
    fill(folder, told)
    assert not (folder.path / RESERVE_FILE).exists()  # given back at once, for the small files
    disk.room = 5_000  # ... which is what the reserve frees on a real disk
    end_like_a_session(folder)
    assert told == [NO_SPACE]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"{NO_SPACE}; the interview is ending"]
    assert_whole_and_ended(folder.path)


def test_a_json_file_that_cannot_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """report.json fails first: said once, returned as False (never raised), and the event log stops
    writing so that what space is left goes to the small files."""
    told: list[str] = []
    folder = SessionFolder(tmp_path, on_write_error=told.append)
    real_write_json = folder_module.write_json
    fail = [True]

    def full_once(path: Path, obj: object, *, secrets: object = ()) -> None:
        if fail.pop() if fail else False:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_json(path, obj, secrets=secrets)

    monkeypatch.setattr(folder_module, "write_json", full_once)
    folder.log.record("local", "before")
    folder.log.flush()
    assert folder.write(REPORT_FILE, {"error": None}) is False
    assert told == ["No space left on device while writing report.json"]
    folder.log.record("local", "while full")
    folder.log.flush()
    events = (folder.path / EVENTS_FILE).read_bytes().splitlines()
    assert [json.loads(line)["type"] for line in events] == ["before"]
    assert folder.write(REPORT_FILE, {"error": None})  # space again: written, nothing more said
    end_like_a_session(folder)
    types = [line["type"] for line in assert_whole_and_ended(folder.path)]
    assert types == ["before", "while full", "session.ended"]  # the last lines, tried at close
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1


def test_a_hook_that_raises_does_not_reach_the_writer(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def closed_loop(message: str) -> None:
        raise RuntimeError("Event loop is closed")

    folder = SessionFolder(tmp_path, on_write_error=closed_loop)
    folder.log._file = FillingDisk(folder.log._file, room=0)
    for n in range(100):
        folder.log.record("local", "tick", data={"n": n})
    folder.close()
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 2 and "Event loop is closed" in messages[1]


def test_a_report_that_cannot_be_saved_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    def full(report: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    runner = ReportRunner(HeuristicAssessor(), load_prompt("default"), mode=AssessmentMode.OVERLAP,
                          language="en", on_ready=lambda summary: None, on_failed=lambda error: None,
                          on_note=lambda kind, data: None, save=full)
    runner.fail("the interview ended before the assessment")
    assert runner.report is not None and runner.report.error
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert messages == ["could not save the report: OSError: [Errno 28] No space left on device"]


def test_no_reserve_when_the_disk_is_full_already(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_room(fd: int, offset: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_room, raising=False)
    folder = SessionFolder(tmp_path / uuid.uuid4().hex)
    assert not (folder.path / RESERVE_FILE).exists()  # nothing half-made is left behind
    folder.close()
