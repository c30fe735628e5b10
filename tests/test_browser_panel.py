"""The panel in a real browser: JupyterLab on a free loopback port, notebook 01 opened in Debian's
chromium (driven by Playwright), the panel rendered as widgets and used with the mouse.

1. Start: the interview reaches `complete` on the emulator, the transcript's last line is in sight, the
   browser's console has no errors; then Start again and Stop mid-interview: the phase chain ends on
   `stopped`; then save, shut the kernel down and reopen: the static copy is there.
2. The browser microphone end to end: Chromium's fake microphone plays the scenario's answers (the
   synthetic voice, timed like the default scenario) into `BrowserAudio`, the emulator's VAD hears
   them, and the interview completes with the answers in transcript.json. The kernel's longest
   event-loop stall and the audio latencies are printed (and kept in the test's folder).

Screenshots of each step are saved in the test's temporary folder (``screens/``), to look at when one
fails. Slow by nature (a browser, a server, a kernel, a real-time interview): run by ``scripts/test.py``
as their own step after the unit suite, and skipped with the reason where chromium or Playwright is
missing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    UI_S,
    Shots,
    button,
    chromium_page,
    jupyterlab,
    open_panel,
    prepare_notebook,
    the_session,
    wait_for_text,
)

pytestmark = pytest.mark.timeout(600)

FAST_INTERVIEW_MS = 240_000  # bound on an interview at speed 10 ending


@pytest.fixture
def browser_context() -> Iterator[tuple[Any, list[str]]]:
    """A headless chromium page and the console errors it logs (skips where chromium is missing)."""
    with chromium_page() as opened:
        yield opened


def status_text(page: Any) -> str:
    return page.locator(".jp-OutputArea").filter(has=button(page, "Start")).inner_text()


def last_line_in_sight(page: Any) -> dict[str, Any]:
    """Where the transcript's last line is against its scroll box (page pixels)."""
    return page.evaluate("""() => {
        const box = document.querySelector('.ik-transcript');
        const inner = box.firstElementChild;
        const walker = document.createTreeWalker(inner, NodeFilter.SHOW_TEXT);
        let last = null;
        while (walker.nextNode()) if (walker.currentNode.textContent.trim()) last = walker.currentNode;
        const range = document.createRange();
        range.selectNodeContents(last);
        const line = range.getBoundingClientRect(), b = box.getBoundingClientRect();
        return {text: last.textContent, top: line.top, bottom: line.bottom, boxTop: b.top,
                boxBottom: b.bottom, overflows: box.scrollHeight > box.clientHeight};
    }""")


def test_panel_start_complete_stop_save_and_reopen(tmp_path: Path, browser_context: Any) -> None:
    page, errors = browser_context
    shots = Shots(page, tmp_path)
    sessions = tmp_path / "sessions"
    prepare_notebook(tmp_path, OUT_DIR=str(sessions), SPEED=10.0)
    with jupyterlab(tmp_path) as lab:
        open_panel(page, lab, shots)
        button(page, "Start").click()
        wait_for_text(page, "Interview complete.", FAST_INTERVIEW_MS)
        shots("interview-complete")
        panel = status_text(page)
        assert "complete" in panel
        where = last_line_in_sight(page)
        assert where["overflows"], "the transcript should be longer than its box in this test"
        assert where["boxTop"] <= where["top"] and where["bottom"] <= where["boxBottom"] + 1, where
        goodbye = [t for t in json.loads((the_session(sessions) / "transcript.json").read_text())["turns"]
                   if t.get("role") == "interviewer"][-1]["text"]
        assert where["text"].strip() == goodbye.strip()
        assert not errors, errors

        # Start again, then Stop while interviewing
        button(page, "Start").click()
        # the new interview's own lines: an answer, and not the last one's goodbye (Start cleared it)
        page.wait_for_function("""goodbye => {
            const box = document.querySelector('.ik-transcript');
            return box && box.textContent.includes('Candidate:') && !box.textContent.includes(goodbye);
        }""", arg=goodbye.strip(), timeout=FAST_INTERVIEW_MS)
        shots("interviewing")
        button(page, "Stop").click()
        wait_for_text(page, "Interview stopped", UI_S)
        shots("interview-stopped")
        chain = page.locator(".jp-OutputArea").get_by_text("Phase:", exact=False).first.inner_html()
        assert ">stopped<" in chain and ">interviewing<" not in chain
        assert not errors, errors

        # save, shut the kernel down, reopen: the widgets are gone, the static copy is not
        wait_for_text(page, "Saved copy of the interview panel", UI_S)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Escape")
        page.keyboard.press("Control+s")
        saved = tmp_path / "01_live_interview.ipynb"
        deadline = time.monotonic() + 30
        while "Saved copy of the interview panel" not in saved.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, "the notebook was not saved with the static copy"
            time.sleep(0.3)
        lab.shut_down_kernels()
        page.reload()
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=UI_S)
        wait_for_text(page, "Saved copy of the interview panel", UI_S)
        shots("reopened")
        copy = page.locator(".jp-OutputArea-output").filter(has_text="Saved copy of the interview panel")
        assert "Interview stopped" in copy.inner_text()
        assert page.locator(".jp-OutputArea-output img").count() >= 1  # the timeline, as an image


