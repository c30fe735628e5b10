"""The emulator in a process of its own (`EmulatorProcess`): it serves the scenario it was given at its
speed, stops when asked or when its parent dies, and says why when it cannot start. (The panel, which
serves its interviews from one by default, runs one in tests/test_widgets.py.)"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interview_kit.emulator.process import EmulatorProcess
from interview_kit.launch import demo_scenario

ROOT = Path(__file__).resolve().parents[1]
EXIT_S = 15.0  # bound on the child exiting once it should


def chat(base_url: str) -> dict:
    """One chat completion from the emulator's stand-in model."""
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}).encode()
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": "Bearer sk-test"})
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def test_it_serves_the_scenario_at_its_speed_and_stops_when_asked() -> None:
    scenario = demo_scenario("default", 7.5)
    emu = EmulatorProcess(scenario).start()
    proc = emu._proc
    try:
        assert emu.base_url is not None and emu.base_url.startswith("http://127.0.0.1:")
        assert chat(emu.base_url)["object"] == "chat.completion"
        command = emu.command()
        assert command[command.index("--scenario") + 1] == str(scenario.path)  # the file it was loaded from
        assert command[command.index("--speed") + 1] == "7.5"
    finally:
        emu.stop()
    assert proc is not None and proc.poll() is not None  # gone, not orphaned
    with pytest.raises(OSError):
        chat(emu.base_url)


def test_a_scenario_that_cannot_load_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "broken"\n[interviewer]\nquestions = "not a list"\n', encoding="utf-8")
    scenario = dataclasses.replace(demo_scenario("default"), path=broken)
    emu = EmulatorProcess(scenario, timeout=20)
    with pytest.raises(RuntimeError, match=r"did not start: interview-kit emulator: .*broken\.toml"):
        emu.start()
    assert emu._proc is None and emu._stderr is None


def test_it_ends_when_the_process_that_started_it_dies() -> None:
    """A kernel restarted (or killed) mid-interview leaves no emulator behind: the child's stdin closes."""
    parent = subprocess.run(
        [sys.executable, "-c",
         "import os, sys\n"
         "from interview_kit.emulator.process import EmulatorProcess\n"
         "from interview_kit.launch import demo_scenario\n"
         "emu = EmulatorProcess(demo_scenario('default')).start()\n"
         "print(emu._proc.pid, flush=True)\n"
         "os._exit(0)  # no stop(), no clean-up\n"],
        capture_output=True, text=True, timeout=60, cwd=ROOT)
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + EXIT_S
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting for its (dead) parent's reaper."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ")[-1][:1] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
