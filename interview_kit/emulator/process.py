"""The emulator served by a process of its own, for clients whose own stall figures must be theirs.

In a thread (`EmulatorThread`) the emulator shares the client's interpreter lock: while it synthesizes a
response's speech the client's loop cannot run. Measured in a JupyterLab kernel with the browser's audio
(`tests/test_browser_microphone.py`), that made a 100-160 ms loop stall at the start of every
assessment, longer than an empty loop in another process ever stalled over the same seconds; with the
emulator in a process of its own the kernel's longest stall was below that floor. The hosted service
is never in the client's process either.

`EmulatorProcess` runs ``python -m interview_kit emulator --until-stdin-closes`` with the scenario's
name or file and its speed, and keeps its stdin: the emulator stops when `stop()` closes it, and also
when this process dies without a word (a restarted kernel leaves no emulator behind).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import sys
import tempfile
import threading
from types import TracebackType
from typing import IO

from interview_kit.scenario import Scenario

log = logging.getLogger(__name__)

STDERR_TAIL = 400  # characters of the emulator's error output quoted when it did not start


class EmulatorProcess:
    """`Emulator` for one scenario, served by a child process; `base_url` once `start()` returned."""

    def __init__(self, scenario: Scenario, *, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
        self.scenario = scenario
        self.host = host
        self.timeout = timeout
        self.base_url: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def command(self) -> list[str]:
        """The child's command line: the scenario as the user named it (its file, or a shipped name)."""
        name = str(self.scenario.path) if self.scenario.path is not None else self.scenario.name
        return [sys.executable, "-m", "interview_kit", "emulator", "--host", self.host, "--port", "0",
                "--scenario", name, "--speed", repr(self.scenario.speed), "--until-stdin-closes"]

    def start(self) -> EmulatorProcess:
        """Start the child and return once it listens; RuntimeError (saying why) when it did not."""
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._proc = proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=self._stderr, text=True, encoding="utf-8")
        first_line: queue.Queue[str] = queue.Queue()  # (its stdout has nothing after the URL line)
        assert proc.stdout is not None
        threading.Thread(target=lambda: first_line.put(proc.stdout.readline()),  # type: ignore[union-attr]
                         name="emulator-url", daemon=True).start()
        try:
            url: str | None = first_line.get(timeout=self.timeout).strip()
        except queue.Empty:
            url = None  # still starting (or hung)
        if url is None or not url.startswith("http"):
            if url is not None:  # its stdout ended: it is exiting
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(self.timeout)
            why = (self._error_output() if proc.poll() is not None
                   else f"it did not listen within {self.timeout:g} s")
            self.stop()
            raise RuntimeError(f"the emulator process did not start: {why}")
        self.base_url = url
        log.info("emulator process %d serving %s", proc.pid, url)
        return self

    def stop(self) -> None:
        """Close its stdin (it stops and exits), then terminate or kill it if it does not; bounded."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(self.timeout / 3)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(self.timeout / 3)
                except subprocess.TimeoutExpired:
                    log.warning("emulator process %d did not stop; killed", proc.pid)
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _error_output(self) -> str:
        """The end of what the child wrote to stderr (its own one-line error, or a traceback's end)."""
        if self._stderr is None:
            return "no output"
        self._stderr.seek(0)
        text = self._stderr.read().strip()
        return text[-STDERR_TAIL:] if text else "no output"

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
