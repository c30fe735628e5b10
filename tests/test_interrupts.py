"""Ctrl-C at any moment of `interview-kit demo`: one line, exit 130, no traceback, and a folder that is
complete whenever one was made (an outcome in session.json, a whole last line in events.jsonl).

Real subprocesses (a signal's delivery is the point), a one-question scenario at speed 20: few and short.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from session_helpers import TINY_SCENARIO

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")

REPO = Path(__file__).resolve().parents[1]
WAIT = 120.0  # seconds any one step may take on a loaded machine

TINY = TINY_SCENARIO


class Demo:
    """`python -m interview_kit demo` in a child process whose output is read line by line as it comes."""

    def __init__(self, tmp_path: Path, *python_flags: str) -> None:
        scenario = tmp_path / "tiny.toml"
        scenario.write_text(TINY)
        self.out = tmp_path / "out"
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.proc = subprocess.Popen(
            [sys.executable, *python_flags, "-m", "interview_kit", "demo", "--scenario", str(scenario),
             "--speed", "20", "--out", str(self.out)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            # a shell that started the tests in the background ignores SIGINT, and children inherit that
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        for name in ("stdout", "stderr"):
            threading.Thread(target=self._read, args=(name,), daemon=True).start()

    def _read(self, name: str) -> None:
        for line in getattr(self.proc, name):
            self.lines.put((name, line))

    def wait_for(self, stream: str, found: Callable[[str], bool]) -> None:
        """Until a line of `stream` matches (the child may also end first: then the test sees its exit)."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                name, line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    return
                continue
            self.seen[name].append(line)
            if name == stream and found(line):
                return
        raise AssertionError(f"no matching {stream} line in {WAIT:g} s: {self.seen}")

    def interrupt(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=WAIT)
        time.sleep(0.1)  # the readers drain the pipes
        while not self.lines.empty():
            name, line = self.lines.get()
            self.seen[name].append(line)
        return code, "".join(self.seen["stderr"])

    def assert_folder_complete(self) -> None:
        for folder in self.out.glob("*"):
            session = json.loads((folder / "session.json").read_text())
            assert session["outcome"] is not None, session
            types = [json.loads(line)["type"] for line in (folder / "events.jsonl").read_bytes().splitlines()]
            assert "session.ended" in types  # every line whole (a late line may follow: appended after close)
            for name in ("transcript.json", "report.json"):
                json.loads((folder / name).read_text())


def assert_quiet_exit(code: int, stderr: str) -> None:
    assert code == 130, stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted" in stderr


def test_ctrl_c_while_the_command_line_starts(tmp_path: Path) -> None:
    """Ctrl-C as soon as the command line's own module is imported: while the parser is built (it
    imports the subcommand's module) or just after. ``-X importtime`` says when that is."""
    demo = Demo(tmp_path, "-X", "importtime")
    demo.wait_for("stderr", lambda line: line.rstrip().endswith("| interview_kit.cli"))
    demo.interrupt()
    code, stderr = demo.finish()
    assert_quiet_exit(code, stderr)
    demo.assert_folder_complete()


def test_ctrl_c_in_the_interview_again_in_the_wind_down_and_while_exiting(tmp_path: Path) -> None:
    demo = Demo(tmp_path)
    demo.wait_for("stdout", lambda line: "interviewer:" in line)  # the interview is under way
    demo.interrupt()
    demo.wait_for("stderr", lambda line: line.startswith("interrupted"))  # the wind-down has begun
    demo.interrupt()
    # once the command has its exit code (the folder printed), a late Ctrl-C does not turn the exit
    # into a death by signal
    demo.wait_for("stdout", lambda line: line.strip().startswith(str(demo.out)))
    demo.interrupt()
    code, stderr = demo.finish()
    assert_quiet_exit(code, stderr)
    assert len(list(demo.out.glob("*"))) == 1
    demo.assert_folder_complete()
    folder = next(demo.out.glob("*"))
    assert json.loads((folder / "session.json").read_text())["outcome"] == "stopped"
    assert demo.seen["stdout"][-1].strip() == str(folder)  # the folder is the last line, as always
