"""What the real-browser tests share: Debian's chromium driven by Playwright, a JupyterLab server on a
free loopback port, notebook 01 prepared for a test, and the candidate's voice as a WAV for Chromium's
fake microphone.

Playwright's own browser download cannot work here (no network but the package registries), so the
tests launch the system's chromium (`apt-get install chromium`) through ``executable_path``. Where
either is missing the tests skip and say which.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_live_interview.ipynb"
SERVER_START_S = 90.0  # bound on JupyterLab answering its API
UI_S = 60_000  # ms: bound on JupyterLab showing something (a cell, a widget)
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The system's Chromium (``IK_CHROMIUM`` overrides), or None."""
    explicit = os.environ.get("IK_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_browser() -> str:
    """The chromium to launch; skips the test, saying what to install, when it cannot run here."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("real-browser test: Playwright for Python is not installed (`pip install playwright`)")
    path = chromium_path()
    if path is None:
        pytest.skip("real-browser test: no chromium found (`apt-get install chromium`, or set IK_CHROMIUM)")
    return path


class Shots:
    """Numbered screenshots of each step, in `folder`/screens (to look at when a test fails)."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.n = page, folder / "screens", 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> Path:
        """The page as it is, scrolled to the panel (its cell's outputs) when there is one."""
        self.n += 1
        path = self.folder / f"{self.n:02d}-{step}.png"
        outputs = self.page.locator(".jp-Cell-outputArea", has=self.page.locator(".widget-button"))
        if outputs.count():
            outputs.first.scroll_into_view_if_needed()
        self.page.screenshot(path=str(path))
        return path


@contextlib.contextmanager
def chromium_page(args: list[str] | None = None) -> Iterator[tuple[Any, list[str]]]:
    """A page of headless chromium (extra command-line `args`), and the console errors it logs."""
    chromium = require_browser()
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage", *(args or [])])
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        try:
            yield page, errors
        finally:
            context.close()
            browser.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    """A running JupyterLab: where it is, its token, its root folder."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """Stop every kernel (as closing JupyterLab and coming back another day would)."""
        for kernel in self.api("GET", "kernels"):
            self.api("DELETE", f"kernels/{kernel['id']}")


@contextlib.contextmanager
def jupyterlab(root: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 and a free port, serving `root`, with its settings and workspaces kept in
    `root` too (nothing of the user's is read or changed); stopped (its process group) on exit."""
    port, token = free_port(), "ik-browser-test"
    home = root / ".jupyter-home"
    env = {**os.environ,
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    settings = home / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
    log = root / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--port-retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--allow-root"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({process.returncode}): {log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                lab.api("GET", "status")
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer within {SERVER_START_S:.0f} s: "
                                   f"{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield lab
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def prepare_notebook(folder: Path, *, replace: dict[str, str] | None = None, **parameters: Any) -> Path:
    """Notebook 01, as committed, with its `parameters` cell overridden (the papermill convention: the
    values are appended to the cell, so the rest of the notebook is the one users run); `replace`
    changes code in the other cells (each old text must be there)."""
    import nbformat  # (its import takes seconds: only where a browser test needs it)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n# the test's values\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
    for old, new in (replace or {}).items():
        cells = [c for c in nb.cells if c.cell_type == "code" and old in c.source]
        assert cells, f"notebook 01 has no {old!r} any more"
        for c in cells:
            c.source = c.source.replace(old, new)
    path = folder / NOTEBOOK.name
    nbformat.write(nb, path)
    return path


def candidate_voice_wav(path: Path, *, lead_s: float, scenario: str = "default") -> float:
    """The scenario's candidate, as the microphone hears it in an interview (the synthetic voice, each
    answer after its question has been heard), written as a 48 kHz mono WAV for Chromium's fake
    microphone, after `lead_s` of silence (the time from the click that opens the microphone to the
    interview's start). The timing comes from running the interview in memory on a virtual clock, so
    it is the default scenario's own. Returns the WAV's length in seconds."""
    import asyncio

    from interview_kit.assessment import HeuristicAssessor
    from interview_kit.audio import ScriptedVoiceInput
    from interview_kit.config import SessionConfig
    from interview_kit.emulator import serve_in_memory
    from interview_kit.scenario import load_scenario
    from interview_kit.session import InterviewSession
    from interview_kit.transport import InMemoryTransport
    from interview_kit.virtual_clock import run_virtual

    class RecordedVoice(ScriptedVoiceInput):
        def __init__(self) -> None:
            super().__init__(1.0)
            self.track = bytearray()

        def _read(self, nbytes: int) -> bytes:
            chunk = super()._read(nbytes)
            self.track += chunk
            return chunk

    loaded = load_scenario(scenario)
    voice = RecordedVoice()

    async def interview() -> None:
        config = SessionConfig(api_key="sk-test-wav", out_dir=path.parent / "wav-session",
                               record_audio=False).with_overrides(loaded.client)
        session = InterviewSession(config, transport=InMemoryTransport(serve=serve_in_memory(loaded)),
                                   assessor=HeuristicAssessor(), candidate=loaded, input=voice)
        await asyncio.wait_for(session.run(), 900)

    run_virtual(interview())
    pcm = np.frombuffer(bytes(voice.track), dtype="<i2").astype(np.float32)
    voiced = np.flatnonzero(np.abs(pcm) > 0)
    pcm = pcm[: (voiced[-1] + 24_000) if voiced.size else 0]  # up to a second after the last answer
    lead = np.zeros(int(lead_s * 24_000), dtype=np.float32)
    pcm = np.concatenate([lead, pcm])
    up = np.interp(np.arange(len(pcm) * 2) / 2, np.arange(len(pcm)), pcm)  # 24 kHz -> 48 kHz
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(48_000)
        out.writeframes(np.clip(up, -32768, 32767).astype("<i2").tobytes())
    return len(up) / 48_000


def events(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]


def the_session(sessions: Path) -> Path:
    """The one session folder under `sessions` (the newest if several)."""
    folders = sorted(p for p in sessions.iterdir() if (p / "events.jsonl").exists())
    assert folders, f"no session folder in {sessions}"
    return folders[-1]


def button(page: Any, name: str) -> Any:
    """The widget button labelled `name` (ipywidgets buttons: an icon, then the words)."""
    return page.locator("button.jupyter-button", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))


def open_panel(page: Any, lab: Lab, shots: Shots) -> None:
    """Open notebook 01 and run its cells down to the panel (as a user would: Shift+Enter)."""
    page.goto(lab.notebook_url("01_live_interview.ipynb"))
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=UI_S)
    page.get_by_text("| Idle").first.wait_for(timeout=UI_S)  # the kernel is up
    shots("notebook-opened")
    cells = page.locator(".jp-Notebook .jp-Cell")
    texts = cells.evaluate_all("cells => cells.map(c => c.textContent)")
    panel_cell = next(i for i, text in enumerate(texts) if "InterviewPanel(" in text)
    cells.first.click()
    page.keyboard.press("Escape")
    for _ in range(panel_cell + 1):  # every cell down to the panel's, not the notebook's `start()`
        page.keyboard.press("Shift+Enter")
    button(page, "Start").wait_for(timeout=UI_S)
    shots("panel-rendered")


def wait_for_text(page: Any, text: str, timeout_ms: int) -> None:
    page.get_by_text(text, exact=False).first.wait_for(timeout=timeout_ms)


@dataclass
class Floor:
    """What `machine_floor` saw: its summary and each stall as [wall time, ms, cpu ms]."""

    summary: dict[str, Any]
    stalls: list[list[float]]

    def between(self, start_wall: float, end_wall: float) -> list[list[float]]:
        return [s for s in self.stalls if start_wall <= s[0] <= end_wall]


FLOOR_STOP_S = 10.0  # bound on the floor's process answering once its stdin closes


@contextlib.contextmanager
def machine_floor() -> Iterator[Floor]:
    """The machine's own loop stalls while the block runs: `bench/loop_floor.py` (an empty loop under
    the session's `LoopLagMonitor`, 5 ms threshold) in a process of its own. Filled in on exit."""
    floor = Floor({}, [])
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "loop_floor.py"), "--until-stdin-closes",
                             "--list"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield floor
    finally:
        try:
            out, _ = proc.communicate(input="", timeout=FLOOR_STOP_S)
            result = json.loads(out)
            floor.stalls = result.pop("list")
            floor.summary = result
        except (subprocess.TimeoutExpired, ValueError, KeyError):
            proc.kill()
            proc.wait()
